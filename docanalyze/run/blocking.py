"""Blocking forms of the asynchronous entry points: the same arguments, run to the end.

Every blocking call, from any thread, runs its coroutine on one event loop of the process (a
daemon thread started at the first call and kept for the next), so every analysis of the
process shares the rate limits of its key (:mod:`docanalyze.models.anthropic.shared_limits`
keeps them per event loop). The calling thread waits; Ctrl-C while it waits cancels the run,
gives it a few seconds to save what it has, and raises :class:`KeyboardInterrupt`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from docanalyze.errors import UsageError

__all__ = ["CANCEL_GRACE_SECONDS", "run_to_the_end", "shared_loop", "to_the_end"]

CANCEL_GRACE_SECONDS = 5.0
"""How long an interrupted call waits for its run to end (the run store flushed and closed)."""

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def shared_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop for blocking calls, running in its own daemon thread."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_serve, args=(loop,), name="docanalyze-event-loop", daemon=True
            )
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def run_to_the_end(coroutine: Coroutine[Any, Any, _Result]) -> _Result:
    """Run ``coroutine`` on the shared loop and return its result (or raise its error)."""
    loop = shared_loop()
    if _in_thread_of(loop):
        coroutine.close()
        raise UsageError(
            "A blocking docanalyze call (analyze, analyze_many, analyze_corpus) was made from "
            "inside a running analysis (an event handler, say); it would wait forever. Await "
            "the asynchronous form instead (analyze_async, ...), or make the call from another "
            "thread."
        )
    finished = threading.Event()
    results: list[_Result] = []
    errors: list[BaseException] = []

    async def guarded() -> None:
        try:
            results.append(await coroutine)
        except BaseException as error:  # noqa: BLE001 - asyncio.CancelledError too: raised as is
            errors.append(error)
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), loop)
    try:
        _wait(future)
    except KeyboardInterrupt:
        future.cancel()  # cancels the task on the loop; its cleanup saves what it has
        finished.wait(CANCEL_GRACE_SECONDS)
        raise
    if errors:
        raise errors.pop()
    return results[0]


def _wait(future: concurrent.futures.Future[None]) -> None:
    # Waiting in short slices keeps the thread responsive to Ctrl-C on every platform.
    while not future.done():
        concurrent.futures.wait([future], timeout=0.25)
    future.result()


def _in_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def to_the_end(
    function: Callable[_Params, Coroutine[Any, Any, _Result]],
) -> Callable[_Params, _Result]:
    """``function``, run to the end on the shared event loop before it returns."""

    @functools.wraps(function)
    def run(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        return run_to_the_end(function(*args, **kwargs))

    return run
