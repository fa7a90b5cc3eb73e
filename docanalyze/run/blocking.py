"""Blocking forms of the asynchronous entry points: the same arguments, run to the end."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["to_the_end"]

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def to_the_end(
    function: Callable[_Params, Coroutine[Any, Any, _Result]],
) -> Callable[_Params, _Result]:
    """``function``, run to the end in a new event loop before it returns."""

    @functools.wraps(function)
    def run(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        return asyncio.run(function(*args, **kwargs))

    return run
