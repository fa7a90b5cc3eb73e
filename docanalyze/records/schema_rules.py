"""What Claude's structured outputs accept in a JSON Schema, checked before any request.

The rules, from the structured-outputs page ([SO]
https://platform.claude.com/docs/en/build-with-claude/structured-outputs, "JSON Schema
limitations" and "Schema complexity limits") and the Python SDK's ``transform_schema`` ([SDK]
https://github.com/anthropics/anthropic-sdk-python/blob/main/src/anthropic/lib/_parse/_transform.py):

- Supported [SO]: the basic types; ``enum`` of strings, numbers, booleans or nulls only;
  ``const``; ``anyOf`` and ``allOf`` ("``allOf`` with ``$ref`` not supported"); ``$ref`` and
  ``$defs``/``definitions`` ("external ``$ref`` not supported"); ``default``; ``required`` and
  ``additionalProperties`` ("must be set to ``false`` for objects"); the string formats of
  :data:`SUPPORTED_FORMATS`; ``minItems`` of 0 or 1 only; ``pattern`` without a backreference,
  lookahead, lookbehind or word boundary ("Regex limitations"); ``description`` and
  ``title`` (which the SDK keeps).
- Not supported [SO]: recursive schemas; complex types within enums; external ``$ref``;
  "Numerical constraints (such as ``minimum``, ``maximum``, ``multipleOf``)" (so also
  ``exclusiveMinimum`` and ``exclusiveMaximum``); "String constraints (``minLength``,
  ``maxLength``)"; "Array constraints beyond ``minItems`` of 0 or 1"; ``additionalProperties``
  other than ``false``. "If you use an unsupported feature, you'll receive a 400 error": so any
  other keyword that constrains a value (``uniqueItems``, ``not``, ``if``, ``patternProperties``,
  ...), being on neither list, is refused here too, rather than silently dropped as the SDK
  does.
- Sent differently [SDK]: an object without ``additionalProperties`` gets ``false`` (the SDK's
  step "Add ``additionalProperties: false`` to all objects", and [SO]'s rule that it must be
  false); ``oneOf`` is sent as ``anyOf``; :data:`ANNOTATIONS`, which constrain nothing, are left
  out (the SDK removes every keyword it does not know).
- Limits [SO]: at most :data:`MAX_OPTIONAL` optional fields (not in ``required``) and
  :data:`MAX_UNIONS` fields using ``anyOf`` or a list of types, across the schema.

[SO] does not say every property must be required, so fields stay optional as the user wrote them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from docanalyze.errors import SchemaError
from docanalyze.models.structured import ref_target

__all__ = [
    "ANNOTATIONS",
    "MAX_OPTIONAL",
    "MAX_UNIONS",
    "SUPPORTED_FORMATS",
    "check_limits",
    "check_rules",
    "field_path",
    "for_request",
    "pointer",
]

SUPPORTED_FORMATS = (
    *("date-time", "time", "date", "duration", "email"),
    *("hostname", "uri", "ipv4", "ipv6", "uuid"),
)
"""The string formats [SO] lists as supported."""
SUPPORTED = frozenset(
    {"type", "properties", "required", "items", "enum", "const", "anyOf", "allOf", "oneOf"}
    | {"$ref", "$defs", "definitions", "default", "additionalProperties", "format", "minItems"}
    | {"pattern", "description", "title"}
)
ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "examples", "deprecated", "readOnly", "writeOnly"}
    | {"discriminator"}  # pydantic's, beside a oneOf
)
"""Keywords that describe but constrain nothing: left out of the request."""
MAX_OPTIONAL = 24
"""[SO]: "Total optional parameters across all strict tool schemas and JSON output schemas"."""
MAX_UNIONS = 16
"""[SO]: "Total parameters that use ``anyOf`` or type arrays"."""
_DEFINITIONS = ("$defs", "definitions")
_HINT = "remove it (or describe the limit in the field's description)"


def pointer(*parts: str | int) -> str:
    """The JSON pointer of ``parts`` (``""`` for the root)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def field_path(at: str) -> str:
    """The fields a JSON pointer is in, e.g. ``address.city`` for
    ``/properties/address/properties/city`` (``Address.city`` under ``/$defs/Address``)."""
    parts = [part.replace("~1", "/").replace("~0", "~") for part in at.split("/")[1:]]
    if len(parts) == 2 and parts[0] in _DEFINITIONS:
        return ""  # a definition itself, not a field
    names, position = [], 0
    while position < len(parts) - 1:
        if parts[position] in ("properties", *_DEFINITIONS):
            names.append(parts[position + 1])
            position += 2
        else:
            position += 1
    return ".".join(names)


def _fail(origin: str, keyword: str, at: str, problem: str) -> SchemaError:
    field = field_path(at)
    where = f"{at} (field {field})" if field else at or "the top level"
    return SchemaError(f"{origin}: {keyword} at {where} {problem}")


def _nodes(node: Any, at: str = "") -> Iterator[tuple[Mapping[str, Any], str]]:
    """Each subschema of ``node`` (itself first) with its pointer, without following ``$ref``."""
    if not isinstance(node, Mapping):
        return
    yield node, at
    for keyword, value in node.items():
        if keyword in ("properties", *_DEFINITIONS) and isinstance(value, Mapping):
            for name, child in value.items():
                yield from _nodes(child, at + pointer(keyword, name))
        elif keyword in ("items", "additionalProperties"):
            yield from _nodes(value, at + pointer(keyword))
        elif keyword in ("anyOf", "allOf", "oneOf") and isinstance(value, list):
            for position, child in enumerate(value):
                yield from _nodes(child, at + pointer(keyword, position))


def _check_node(node: Mapping[str, Any], at: str, origin: str) -> None:
    unsupported = "is not supported by Claude's structured outputs"
    for keyword, value in node.items():
        name = f'"{keyword}"'
        if keyword not in SUPPORTED | ANNOTATIONS:
            raise _fail(origin, name, at, f"{unsupported}; {_HINT}")
        if keyword == "minItems" and value not in (0, 1):
            raise _fail(origin, f"{name}: {value}", at, f"{unsupported} (only 0 or 1); {_HINT}")
        if keyword == "format" and value not in SUPPORTED_FORMATS:
            known = ", ".join(SUPPORTED_FORMATS)
            raise _fail(origin, f'{name}: "{value}"', at, f"{unsupported}; use one of {known}")
        if keyword == "additionalProperties" and value is not False:
            problem = (
                "must be false for Claude's structured outputs; name every field in properties"
            )
            raise _fail(origin, name, at, problem)
        if keyword == "enum" and any(isinstance(item, (list, dict)) for item in value):
            problem = "holds an array or object; Claude's structured outputs allow only strings, "
            raise _fail(origin, name, at, problem + "numbers, booleans and null in it")
        if keyword == "allOf" and any(
            isinstance(item, Mapping) and "$ref" in item for item in value
        ):
            raise _fail(origin, f'{name} with "$ref"', at, f"{unsupported}; use the $ref alone")
        if keyword == "items" and not isinstance(value, Mapping):
            raise _fail(origin, name, at, f"{unsupported} unless it is one schema")
        if keyword == "pattern" and isinstance(value, str):
            for excluded, what in _REGEX_EXCLUDED:
                if excluded.search(value.replace("\\\\", "")):  # an escaped backslash
                    problem = f"uses {what}, which Claude's structured outputs do not support"
                    raise _fail(origin, f"{name}: {json.dumps(value)}", at, problem)
        if keyword == "$ref" and not str(value).startswith("#"):
            problem = f'is external, which {unsupported.removeprefix("is ")}; put it in "$defs"'
            raise _fail(origin, f'{name}: "{value}"', at, problem)


_REGEX_EXCLUDED = (
    (re.compile(r"\\[1-9]|\\k<"), "a backreference"),
    (re.compile(r"\(\?<?[=!]"), "a lookahead or lookbehind"),
    (re.compile(r"\\[bB]"), "a word boundary (\\b, \\B)"),
)
"""What a ``pattern`` may not use ([SO], "Regex limitations": backreferences, lookahead and
lookbehind assertions, word boundaries)."""


def _check_refs(root: Mapping[str, Any], origin: str) -> None:
    """Every ``$ref`` points into the schema, and none makes it recursive [SO]: a ``$ref`` whose
    target holds (through more ``$ref``) the ``$ref`` itself."""
    refs: list[tuple[str, str, str]] = []  # where, the ref, its target
    for node, at in _nodes(root):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref_target(root, ref) is None:
                raise _fail(origin, f'"$ref": "{ref}"', at, "points nowhere in the schema")
            refs.append((at, ref, ref[1:]))
    inside = {
        at: [where for where, _, _ in refs if where == target or where.startswith(target + "/")]
        for at, _, target in refs
    }
    ref_at = {at: ref for at, ref, _ in refs}
    done: set[str] = set()

    def visit(at: str, path: tuple[str, ...]) -> None:
        for reached in inside[at]:
            if reached in path:
                problem = "makes the schema recursive, which Claude's structured outputs do not "
                raise _fail(origin, f'"$ref": "{ref_at[at]}"', at, problem + "support")
            if reached not in done:
                visit(reached, (*path, reached))
        done.add(at)

    for at, _, _ in refs:
        visit(at, (at,))


def check_limits(request: Mapping[str, Any], origin: str) -> None:
    """Raise a :class:`SchemaError` when ``request`` (the schema as sent) has more optional or
    union fields than [SO] allows."""
    optional, unions = [], []
    for node, at in _nodes(request):
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            required = set(node.get("required", ()))
            optional += [
                at + pointer("properties", name) for name in properties if name not in required
            ]
            unions += [
                at + pointer("properties", name)
                for name, child in properties.items()
                if isinstance(child, Mapping)
                and ("anyOf" in child or isinstance(child.get("type"), list))
            ]
    optional, unions = [_in_record(at) for at in optional], [_in_record(at) for at in unions]
    if len(optional) > MAX_OPTIONAL:
        raise SchemaError(
            f'{origin}: {len(optional)} optional fields (not in "required"; the first at '
            f"{optional[0]}) are more than the {MAX_OPTIONAL} Claude's structured outputs allow; "
            'list more of them in "required"'
        )
    if len(unions) > MAX_UNIONS:
        raise SchemaError(
            f'{origin}: {len(unions)} fields use "anyOf" or a list of types (the first at '
            f"{unions[0]}), more than the {MAX_UNIONS} Claude's structured outputs allow; "
            "give more of them one type"
        )


def _in_record(at: str) -> str:
    """A pointer into the schema as sent (the records wrapped in a list), as a pointer into the
    user's record schema."""
    sent = "/properties/records/items"
    return at.removeprefix(sent) or "/" if at.startswith(sent) else at


def check_rules(schema: Mapping[str, Any], origin: str) -> None:
    """Raise a :class:`SchemaError` naming the first keyword of ``schema`` Claude's structured
    outputs do not support and where it is (see the module docstring)."""
    for node, at in _nodes(schema):
        _check_node(node, at, origin)
    _check_refs(schema, origin)


def for_request(node: Any, ref_prefix: str = "") -> Any:
    """``node`` as sent: ``additionalProperties: false`` on every object, ``oneOf`` as ``anyOf``,
    no :data:`ANNOTATIONS`, and each local ``$ref`` outside the definitions moved under
    ``ref_prefix`` (where the schema is placed in the request)."""
    if isinstance(node, list):
        return [for_request(item, ref_prefix) for item in node]
    if not isinstance(node, Mapping):
        return node
    sent: dict[str, Any] = {}
    for keyword, value in node.items():
        if keyword in ANNOTATIONS:
            continue
        if keyword == "$ref" and not value.startswith(tuple(f"#/{name}/" for name in _DEFINITIONS)):
            sent[keyword] = "#" + ref_prefix + value[1:]
        elif keyword in ("properties", *_DEFINITIONS):
            sent[keyword] = {name: for_request(child, ref_prefix) for name, child in value.items()}
        elif keyword in ("enum", "const", "default", "required"):
            sent[keyword] = value
        else:
            sent["anyOf" if keyword == "oneOf" else keyword] = for_request(value, ref_prefix)
    types = node.get("type")
    if "properties" in node or types == "object" or isinstance(types, list) and "object" in types:
        sent["additionalProperties"] = False
    return sent
