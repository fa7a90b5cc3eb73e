"""Replies in a JSON schema (structured output): whether one is a whole answer worth keeping.

A request with an :attr:`~docanalyze.models.base.ModelRequest.output_schema` is answered in JSON
that follows it. A reply that stopped early (cut, refused) may not; one that ended and still does
not follow it is no answer either: the run store keeps neither as a result (a cut reply is kept
with its stop reason, so that a resumed run asks again for more, as the stage does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from docanalyze.models.base import ModelReply, ModelRequest

__all__ = ["parsed_json", "schema_problems", "storable"]


def parsed_json(text: str) -> Any | None:
    """The JSON value of ``text``, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def schema_problems(schema: Mapping[str, Any], value: Any, limit: int = 3) -> list[str]:
    """Up to ``limit`` messages of how ``value`` breaks ``schema`` (none: it follows it), each
    naming where (a JSON pointer such as ``/records/2/amount``)."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        where = "/" + "/".join(str(part) for part in error.absolute_path)
        problems.append(f"{where}: {error.message}")
        if len(problems) == limit:
            break
    return problems


def storable(request: ModelRequest | None, reply: ModelReply) -> bool:
    """Whether the run store may keep ``reply`` to ``request`` (None: unknown, as for a batch
    another run sent): never a refusal; a reply in a schema only when it was cut (kept with its
    stop reason) or is JSON that follows it."""
    if reply.refused:
        return False
    if request is None or request.output_schema is None or reply.truncated:
        return True
    value = parsed_json(reply.text)
    return value is not None and not schema_problems(request.output_schema, value, limit=1)


@lru_cache(maxsize=32)
def _validator(schema_json: str) -> Any:
    from jsonschema import validators  # loaded with the first schema checked

    schema = json.loads(schema_json)
    validator_class = validators.validator_for(schema)
    return validator_class(schema)
