"""Replies in a JSON schema (structured output): whether one is a whole answer worth keeping.

A request with an :attr:`~docanalyze.models.base.ModelRequest.output_schema` is answered in JSON
that follows it. A reply that stopped early (cut, refused) may not; one that ended and still does
not follow it is no answer either: the run store keeps neither as a result (a cut reply is kept
with its stop reason, so that a resumed run asks again for more, as the stage does).

Structured outputs "don't guarantee the capitalization of string enum and const values"
(https://platform.claude.com/docs/en/build-with-claude/structured-outputs): a value that is an
``enum`` or ``const`` string of its schema but for its case is that value
(:func:`canonical_enums`), before the reply is checked, kept or used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from docanalyze.models.base import ModelReply, ModelRequest

__all__ = ["canonical_enums", "parsed_json", "ref_target", "schema_problems", "storable"]


def parsed_json(text: str) -> Any | None:
    """The JSON value of ``text``, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def ref_target(root: Mapping[str, Any], ref: str) -> Any | None:
    """What the local ``$ref`` ``ref`` (a JSON pointer after ``#``, such as
    ``#/$defs/Address``) points to in ``root``; None when it is no local pointer (an external
    ``$ref``, an anchor) or points nowhere."""
    if not ref.startswith("#") or ref[1:2] not in ("", "/"):
        return None
    target: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or part not in target:
            return None
        target = target[part]
    return target


def schema_problems(schema: Mapping[str, Any], value: Any, limit: int = 3) -> list[str]:
    """Up to ``limit`` messages of how ``value`` breaks ``schema`` (none: it follows it), each
    naming where (a JSON pointer such as ``/records/2/amount``); string ``format`` s are
    checked too (a date that is no date breaks the schema)."""
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
    if value is None:
        return False
    value = canonical_enums(request.output_schema, value)
    return not schema_problems(request.output_schema, value, limit=1)


def canonical_enums(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` (JSON in ``schema``) with every string that matches one ``enum`` or ``const``
    string of its place in the schema case-insensitively written as the schema writes it
    (``"Cash payment"`` for ``"Cash Payment"``), in objects and arrays at any depth (local
    ``$ref``, ``anyOf``, ``oneOf`` and ``allOf`` followed); everything else as it is."""
    return _Canonical(schema).value(schema, value)


class _Canonical:
    """Walks a JSON value beside its schema (see :func:`canonical_enums`)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def value(self, node: Any, value: Any) -> Any:
        nodes = self._alternatives(node)
        if isinstance(value, str):
            return self._string(nodes, value)
        if isinstance(value, dict):
            properties: dict[str, Any] = {}
            for each in nodes:
                for name, child in (each.get("properties") or {}).items():
                    properties.setdefault(name, []).append(child)
            return {
                name: self.value({"anyOf": properties[name]}, item) if name in properties else item
                for name, item in value.items()
            }
        if isinstance(value, list):
            items = [each["items"] for each in nodes if isinstance(each.get("items"), Mapping)]
            return [self.value({"anyOf": items}, item) for item in value]
        return value

    def _alternatives(self, node: Any, depth: int = 0) -> list[Mapping[str, Any]]:
        """``node`` and its branches (``anyOf``, ``oneOf``, ``allOf``), ``$ref`` s followed."""
        if not isinstance(node, Mapping) or depth > 32:
            return []
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self._alternatives(ref_target(self.root, ref), depth + 1)
        found = [node]
        for keyword in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(keyword) or ():
                found += self._alternatives(branch, depth + 1)
        return found

    @staticmethod
    def _string(nodes: list[Mapping[str, Any]], value: str) -> str:
        written: list[str] = []
        for node in nodes:
            enum = node.get("enum")
            written += [
                item for item in (enum if isinstance(enum, list) else ()) if isinstance(item, str)
            ]
            if isinstance(node.get("const"), str):
                written.append(node["const"])
        if value in written:
            return value
        matches = {item for item in written if item.casefold() == value.casefold()}
        return matches.pop() if len(matches) == 1 else value


@lru_cache(maxsize=32)
def _validator(schema_json: str) -> Any:
    from jsonschema import validators  # loaded with the first schema checked

    schema = json.loads(schema_json)
    validator_class = validators.validator_for(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
