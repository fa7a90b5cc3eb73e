"""The documented rules of structured outputs (JSON outputs): a request that breaks one gets a 400.

Sources: https://platform.claude.com/docs/en/build-with-claude/structured-outputs ("JSON Schema
limitations", "Schema complexity limits", "Feature compatibility") and the Messages API
reference https://platform.claude.com/docs/en/api/messages (``output_config: {effort,
format}``, ``format: {schema, type: "json_schema"}``). The deprecated top-level
``output_format`` is still accepted
(https://platform.claude.com/docs/en/about-claude/models/migration-guide) and checked the same.

- ``format.type`` must be ``"json_schema"`` and ``format.schema`` an object.
- Not supported, each a 400 naming the keyword and where it is: recursive schemas (a ``$ref``
  that leads back to itself), external ``$ref`` (not ``#...``), ``allOf`` with ``$ref``,
  complex types (objects, arrays) within ``enum``, numerical constraints (``minimum``,
  ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf``), string constraints
  (``minLength``, ``maxLength``), array constraints beyond ``minItems`` of 0 or 1
  (``maxItems``, ``minItems`` of 2 or more), ``additionalProperties`` other than ``false`` on an
  object ("must be set to false for objects": missing counts), a string ``format`` outside the
  supported list, and a ``pattern`` with what the regex subset excludes (backreferences,
  lookahead/lookbehind, ``\\b``/``\\B``).
- Complexity limits across the JSON output schema and the ``strict: true`` tools: at most 20
  strict tools, 24 optional parameters (properties not in their object's ``required``) and 16
  parameters with union types (``anyOf`` or a type array).
- Incompatible: citations enabled on a document ("Returns 400 error if citations enabled with
  output_config.format") and message prefilling (a last message from the assistant).

What the fake server does not check: keywords the docs list neither as supported nor as
unsupported (``oneOf``, ``not``, ``uniqueItems``, ``minProperties``, ...), the grammar-size and
compilation-time limits (no figure published), and which models support the feature.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from fakeserver.citable import citable_sources
from fakeserver.errors import ApiError

__all__ = [
    "MAX_OPTIONAL_PARAMETERS",
    "MAX_STRICT_TOOLS",
    "MAX_UNION_PARAMETERS",
    "STRING_FORMATS",
    "UNSUPPORTED_KEYWORDS",
    "check_structured_request",
    "output_format",
]

STRING_FORMATS = ("date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4",
                  "ipv6", "uuid")  # fmt: skip
"""The string ``format`` values structured outputs support."""
UNSUPPORTED_KEYWORDS = {
    "minimum": "numerical constraints",
    "maximum": "numerical constraints",
    "exclusiveMinimum": "numerical constraints",
    "exclusiveMaximum": "numerical constraints",
    "multipleOf": "numerical constraints",
    "minLength": "string constraints",
    "maxLength": "string constraints",
    "maxItems": "array constraints beyond minItems of 0 or 1",
}
"""Keywords rejected wherever they appear, with the docs' name for what they are."""
MAX_STRICT_TOOLS = 20
MAX_OPTIONAL_PARAMETERS = 24
MAX_UNION_PARAMETERS = 16
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "$def")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMAS = ("items", "not", "additionalProperties")
_REGEX_EXCLUDED = (
    (re.compile(r"\\[1-9]|\\k<"), "backreferences"),
    (re.compile(r"\(\?<?[=!]"), "lookahead/lookbehind"),
    (re.compile(r"\\[bB]"), "word boundaries (\\b, \\B)"),
)


def output_format(body: Mapping[str, Any]) -> tuple[str, Any] | None:
    """Where the request's output format is (``output_config.format``, or the deprecated
    ``output_format``) and what it is; None without one."""
    output_config = body.get("output_config")
    if isinstance(output_config, Mapping) and output_config.get("format") is not None:
        return "output_config.format", output_config["format"]
    if body.get("output_format") is not None:
        return "output_format", body["output_format"]
    return None


def check_structured_request(body: Mapping[str, Any]) -> None:
    """Raise the 400 the API gives a request that breaks a rule of structured outputs."""
    schemas: list[tuple[str, Mapping[str, Any]]] = []
    found = output_format(body)
    if found is not None:
        where, fmt = found
        schemas.append((f"{where}.schema", _format_schema(fmt, where)))
        _check_compatible(body, where)
    strict_tools = list(_strict_tools(body))
    if len(strict_tools) > MAX_STRICT_TOOLS:
        raise ApiError(
            400, f"tools: {len(strict_tools)} strict tools > {MAX_STRICT_TOOLS}, the most a "
            "request may have; mark only the critical tools strict",
        )  # fmt: skip
    schemas.extend(strict_tools)
    for path, schema in schemas:
        _SchemaCheck(schema).check(schema, path)
    _check_complexity(schemas)


def _format_schema(fmt: object, where: str) -> Mapping[str, Any]:
    if not isinstance(fmt, Mapping):
        raise ApiError(400, f"{where}: Input should be an object {{'type': 'json_schema', ...}}")
    if fmt.get("type") != "json_schema":
        raise ApiError(400, f"{where}.type: Input should be 'json_schema', got {fmt.get('type')!r}")
    schema = fmt.get("schema")
    if schema is None:
        raise ApiError(400, f"{where}.schema: Field required")
    if not isinstance(schema, Mapping):
        raise ApiError(400, f"{where}.schema: Input should be a valid dictionary (a JSON schema)")
    return schema


def _check_compatible(body: Mapping[str, Any], where: str) -> None:
    if any(source.citations_enabled for source in citable_sources(body)):
        raise ApiError(
            400,
            f"Citations are not compatible with {where}: turn citations off on every "
            "document, or ask for plain text",
        )
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if isinstance(last, Mapping) and last.get("role") == "assistant":
            raise ApiError(
                400,
                f"Prefilling the assistant message is not compatible with {where}: the "
                "conversation must end with a user message",
            )


def _strict_tools(body: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    tools = body.get("tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        if isinstance(tool, Mapping) and tool.get("strict") is True:
            schema = tool.get("input_schema")
            yield f"tools.{index}.input_schema", schema if isinstance(schema, Mapping) else {}


class _SchemaCheck:
    """The keyword rules, on one schema whose local ``$ref`` s resolve against ``root``."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def check(self, schema: object, path: str) -> None:
        """Raise a 400 naming the first unsupported feature in ``schema`` (at ``path``)."""
        if not isinstance(schema, Mapping):
            return
        self._check_node(schema, path)
        for key in _SUBSCHEMA_MAPS:
            children = schema.get(key)
            if isinstance(children, Mapping):
                for name, child in children.items():
                    self.check(child, f"{path}.{key}.{name}")
        for key in _SUBSCHEMA_LISTS:
            children = schema.get(key)
            if isinstance(children, list):
                for index, child in enumerate(children):
                    self.check(child, f"{path}.{key}.{index}")
        for key in _SUBSCHEMAS:
            self.check(schema.get(key), f"{path}.{key}")

    def _check_node(self, schema: Mapping[str, Any], path: str) -> None:
        for keyword, what in UNSUPPORTED_KEYWORDS.items():
            if keyword in schema:
                _unsupported(path, f"'{keyword}'", what)
        min_items = schema.get("minItems")
        if min_items is not None and min_items not in (0, 1):
            _unsupported(path, f"'minItems' {min_items!r}", "only 0 or 1")
        if _is_object(schema) and schema.get("additionalProperties") is not False:
            got = schema.get("additionalProperties", "missing")
            _unsupported(path, f"'additionalProperties' {got!r}", "set it to false on objects")
        enum = schema.get("enum")
        if isinstance(enum, list) and any(isinstance(v, (dict, list)) for v in enum):
            _unsupported(path, "'enum' with objects or arrays", "complex types within enums")
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt not in STRING_FORMATS:
            _unsupported(path, f"'format' {fmt!r}", f"supported: {', '.join(STRING_FORMATS)}")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            _check_pattern(pattern, path)
        self._check_ref(schema, path)

    def _check_ref(self, schema: Mapping[str, Any], path: str) -> None:
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and any(_has_ref(part) for part in all_of):
            _unsupported(path, "'allOf' with '$ref'", "use the '$ref' alone")
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return
        if not ref.startswith("#"):
            _unsupported(path, f"'$ref' {ref!r}", "external $ref")
        if self._reaches(ref, ref, set()):
            _unsupported(path, f"'$ref' {ref!r}", "recursive schemas")

    def _reaches(self, ref: str, target: str, seen: set[str]) -> bool:
        """Whether following ``ref`` leads to a ``$ref`` to ``target``."""
        if ref in seen:
            return False
        seen.add(ref)
        for inner in _refs_in(self._resolve(ref)):
            if inner == target or self._reaches(inner, target, seen):
                return True
        return False

    def _resolve(self, ref: str) -> object:
        node: object = self.root
        for part in ref.removeprefix("#").strip("/").split("/") if ref != "#" else []:
            node = node.get(part) if isinstance(node, Mapping) else None
        return node


def _refs_in(node: object) -> Iterator[str]:
    if isinstance(node, Mapping):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


def _check_complexity(schemas: list[tuple[str, Mapping[str, Any]]]) -> None:
    optional = unions = 0
    for _, schema in schemas:
        for parent in _objects_in(schema):
            required = parent.get("required") or []
            for name, prop in (parent.get("properties") or {}).items():
                optional += name not in required
                unions += isinstance(prop, Mapping) and (
                    "anyOf" in prop or isinstance(prop.get("type"), list)
                )
    for count, limit, what in (
        (optional, MAX_OPTIONAL_PARAMETERS, "optional parameters"),
        (unions, MAX_UNION_PARAMETERS, "parameters with union types"),
    ):
        if count > limit:
            raise ApiError(
                400, f"Schemas contain too many {what}: {count} > {limit}, the limit across "
                "the JSON output schema and the strict tools; simplify the schema",
            )  # fmt: skip


def _objects_in(node: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        if isinstance(node.get("properties"), Mapping):
            yield node
        for value in node.values():
            yield from _objects_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects_in(value)


def _is_object(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind is None:
        return "properties" in schema
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def _check_pattern(pattern: str, path: str) -> None:
    unescaped = pattern.replace("\\\\", "")  # an escaped backslash is no escape
    for excluded, what in _REGEX_EXCLUDED:
        if excluded.search(unescaped):
            _unsupported(path, f"'pattern' {pattern!r}", what)


def _has_ref(schema: object) -> bool:
    return isinstance(schema, Mapping) and "$ref" in schema


def _unsupported(path: str, feature: str, why: str) -> None:
    raise ApiError(400, f"{path}: {feature} is not supported by structured outputs ({why})")
