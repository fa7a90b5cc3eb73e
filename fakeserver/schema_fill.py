"""How the fake model fills a JSON schema from planted records (the answer to a structured request).

A top-level object's properties that are arrays of objects get one item per record, in order;
its other properties are filled from the first record. An object is filled property by
property: a property takes the value of the record's pair with a matching name
(:func:`~fakeserver.planted_records.field_key`), coerced to its type (string, integer, number,
boolean, an enum's matching value, an array of one such value; a nested object is filled from
the same record). Three names are filled from the record itself: ``quote`` (a string) is the
whole sentence, verbatim; ``pages`` (an array of integers) is ``[page]`` and ``page`` (an
integer) the page. A property with no value is left out, unless it is required or may be
null: then it is null if the schema allows it, else ``""``, ``0``, ``false``, ``[]``, the first
enum value or the ``const``. Local ``$ref`` s (``#/$defs/...``, ``#/definitions/...``),
``anyOf``/``oneOf`` branches and ``allOf`` parts are followed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fakeserver.planted_records import PlantedRecord, field_key

__all__ = ["fill_answer"]


class _Missing:
    """No value for a property (distinct from a null value)."""


MISSING = _Missing()
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
_EMPTY = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": []}


def fill_answer(schema: Mapping[str, Any], records: Sequence[PlantedRecord]) -> Any:
    """The JSON value that answers ``schema`` from ``records`` (see the module docstring)."""
    filler = _Filler(schema)
    top = filler.resolve(schema)
    first = records[0] if records else None
    if "object" not in _types(top):
        value = filler.value("", schema, first)
        return filler.empty(schema) if value is MISSING else value
    return filler.object(top, first, every_record=records)


class _Filler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: Any) -> Mapping[str, Any]:
        """``schema`` with its local ``$ref`` followed and its ``allOf`` parts merged."""
        seen: set[str] = set()
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {}
            seen.add(ref)
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            schema = target
        if not isinstance(schema, Mapping):
            return {}
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                resolved = self.resolve(part)
                merged["properties"] = {**merged.get("properties", {}),
                                        **resolved.get("properties", {})}  # fmt: skip
                merged["required"] = [*merged.get("required", []), *resolved.get("required", [])]
                merged.update({k: v for k, v in resolved.items()
                               if k not in ("properties", "required")})  # fmt: skip
            return merged
        return schema

    def branches(self, schema: Any) -> list[Mapping[str, Any]]:
        """The alternatives of ``schema`` (its ``anyOf``/``oneOf`` branches, or itself)."""
        resolved = self.resolve(schema)
        options = resolved.get("anyOf") or resolved.get("oneOf")
        if isinstance(options, list):
            return [b for option in options for b in self.branches(option)]
        return [resolved]

    def nullable(self, schema: Any) -> bool:
        """Whether null is a valid value of ``schema``."""
        for branch in self.branches(schema):
            if "null" in _types(branch) or None in branch.get("enum", [0]):
                return True
            if "const" in branch and branch["const"] is None:
                return True
        return False

    def object(
        self,
        schema: Mapping[str, Any],
        record: PlantedRecord | None,
        every_record: Sequence[PlantedRecord] | None = None,
    ) -> dict[str, Any]:
        """``schema`` (an object) filled from ``record``; with ``every_record``, its arrays of
        objects hold one item per record."""
        required = set(schema.get("required", []))
        filled: dict[str, Any] = {}
        for name, prop in (schema.get("properties") or {}).items():
            items = self._object_items(prop)
            if every_record is not None and items is not None:
                filled[name] = [self.object(items, each) for each in every_record]
                continue
            value = self.value(name, prop, record)
            if value is MISSING and (name in required or self.nullable(prop)):
                value = self.empty(prop)
            if value is not MISSING:
                filled[name] = value
        return filled

    def _object_items(self, prop: Any) -> Mapping[str, Any] | None:
        resolved = self.resolve(prop)
        if "array" not in _types(resolved):
            return None
        items = self.resolve(resolved.get("items"))
        return items if "object" in _types(items) else None

    def value(self, name: str, prop: Any, record: PlantedRecord | None) -> Any:
        """The value of property ``name`` (schema ``prop``) for ``record``, or MISSING."""
        if record is None:
            return MISSING
        key = field_key(name)
        branches = self.branches(prop)
        kinds = {kind for branch in branches for kind in _types(branch)}
        if key == "quote" and "string" in kinds:
            return record.sentence
        if key == "pages" and "array" in kinds:
            return [record.page] if record.page is not None else []
        if key == "page" and kinds & {"integer", "number"} and record.page is not None:
            return record.page
        for branch in branches:
            if "object" in _types(branch):
                return self.object(branch, record)
        raw = record.value(name)
        return MISSING if raw is None else self.coerce(raw, prop)

    def coerce(self, raw: str, prop: Any) -> Any:
        """``raw`` as a value of ``prop``, or MISSING when it cannot be one (the word ``null``
        is null where the schema allows it)."""
        if raw.strip().lower() == "null" and self.nullable(prop):
            return None
        for branch in self.branches(prop):
            value = self._coerce_one(raw, branch)
            if value is not MISSING:
                return value
        return MISSING

    def _coerce_one(self, raw: str, schema: Mapping[str, Any]) -> Any:
        if "const" in schema:
            return schema["const"] if str(schema["const"]).lower() == raw.lower() else MISSING
        if isinstance(schema.get("enum"), list):
            matches = [v for v in schema["enum"] if str(v).lower() == raw.strip().lower()]
            return matches[0] if matches else MISSING
        for kind in _types(schema) or ["string"]:
            value = self._as_type(raw, kind, schema)
            if value is not MISSING:
                return value
        return MISSING

    def _as_type(self, raw: str, kind: str, schema: Mapping[str, Any]) -> Any:
        text = raw.strip()
        if kind == "string":
            pattern = schema.get("pattern")
            return raw if not isinstance(pattern, str) or re.search(pattern, raw) else MISSING
        if kind in ("integer", "number"):
            try:
                number = float(text.replace(",", ""))
            except ValueError:
                return MISSING
            if kind == "number":
                return int(number) if number.is_integer() and "." not in text else number
            return int(number) if number.is_integer() else MISSING
        if kind == "boolean":
            lowered = text.lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else MISSING
        if kind == "array":
            item = self.coerce(raw, self.resolve(schema.get("items", {})))
            return MISSING if item is MISSING else [item]
        return MISSING

    def empty(self, prop: Any) -> Any:
        """The value of ``prop`` when there is none: null if allowed, else its empty value."""
        if self.nullable(prop):
            return None
        schema = self.branches(prop)[0]
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        kind = next(iter(_types(schema)), "string")
        if kind == "object":
            return self.object(schema, None)
        if kind == "array" and schema.get("minItems", 0) >= 1:
            return [self.empty(schema.get("items", {}))]
        return _EMPTY.get(kind, "")


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    if "properties" in schema:
        return ["object"]
    return []
