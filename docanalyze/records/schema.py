"""The user's record schema: one JSON Schema object (a file, a dict or a pydantic model), checked
before any request, and the schemas sent to Claude's structured outputs.

:meth:`RecordSchema.of` loads the schema and refuses, in one line naming the file (or model),
the keyword and its JSON pointer, what cannot work: a file that is missing or not JSON, a schema
that is not one object record, a field named like a column docanalyze adds (``pages``,
``quote``, ``citation``, ``document``: :mod:`docanalyze.records.record`), and every keyword
Claude's structured outputs do not support (the documented rules, with their sources:
:mod:`docanalyze.records.schema_rules`).

The chunk request asks for ``{"records": [ITEM, ...]}``, where ITEM is the record schema with two
fields docanalyze adds for checking: ``pages`` and ``quote`` (:meth:`RecordSchema.request_schema`).
Replies are validated against the user's own schema (:meth:`RecordSchema.validate`), constraints
and all, with ``jsonschema``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from docanalyze.errors import ConfigError, SchemaError
from docanalyze.models.structured import ref_target
from docanalyze.records.record import ADDED_COLUMNS, DOCUMENT_COLUMN
from docanalyze.records.schema_rules import check_limits, check_rules, for_request, pointer

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "PAGES_FIELD",
    "QUOTE_FIELD",
    "RecordSchema",
    "SchemaField",
    "SchemaSource",
    "check_key",
]

PAGES_FIELD = {
    "type": "array",
    "items": {"type": "integer"},
    "minItems": 1,
    "description": 'The number of the page (from its "[Page N]" marker) the record is on; '
    "two when it runs across a page break.",
}
"""The ``pages`` field docanalyze adds to each record of a chunk's reply."""
QUOTE_FIELD = {
    "type": "string",
    "description": "The passage of the document the record is taken from, verbatim: copied "
    "exactly as it is written on the page, without the [Page N] marker.",
}
"""The ``quote`` field docanalyze adds to each record of a chunk's reply."""
_RESERVED = (*ADDED_COLUMNS, DOCUMENT_COLUMN)
_DEFINITIONS = ("$defs", "definitions")


SchemaSource: TypeAlias = "str | Path | Mapping[str, Any] | type"
"""A record schema as given: a JSON Schema file's path, the schema itself, or a pydantic model."""


@dataclass(frozen=True)
class SchemaField:
    """A top-level field of a record schema: its ``type`` as text (``"string | null"``,
    ``"array of string"``), its description, and whether the schema requires it."""

    name: str
    type: str
    description: str | None
    required: bool


@dataclass(frozen=True)
class RecordSchema:
    """The JSON Schema of one record, as the user gave it, checked (build it with :meth:`of`).

    ``origin`` names it in messages (the file, or ``pydantic model Obligation``); ``model`` is the
    pydantic model class it came from, if it did.
    """

    schema: Mapping[str, Any]
    origin: str
    model: type | None = None

    @classmethod
    def of(cls, schema: SchemaSource) -> RecordSchema:
        """The record schema of ``schema``: a JSON Schema file's path, a dict, or a pydantic
        ``BaseModel`` subclass; raises :class:`~docanalyze.errors.SchemaError` when it cannot
        be used (see the module docstring)."""
        model = None
        if isinstance(schema, type):
            if not (hasattr(schema, "model_json_schema") and hasattr(schema, "model_validate")):
                raise SchemaError(f"{schema.__name__} is not a pydantic model (a BaseModel class)")
            model, origin = schema, f"pydantic model {schema.__name__}"
            loaded: Any = schema.model_json_schema()
        elif isinstance(schema, Mapping):
            origin, loaded = "record schema", copy.deepcopy(dict(schema))
        else:
            origin, loaded = str(schema), _read(Path(schema))
        record = cls(loaded, origin, model)
        record.__dict__["_validator"] = _checked(loaded, origin)
        check_rules(loaded, origin)
        check_limits(record.request_schema(), origin)
        return record

    @property
    def fields(self) -> tuple[SchemaField, ...]:
        """The top-level fields, in schema order."""
        required = set(self.schema.get("required", ()))
        return tuple(
            SchemaField(
                name,
                _type_text(node, self.schema),
                _description(node, self.schema),
                name in required,
            )
            for name, node in self.schema["properties"].items()
        )

    @property
    def field_names(self) -> tuple[str, ...]:
        """The names of the top-level fields, in schema order."""
        return tuple(self.schema["properties"])

    @property
    def title(self) -> str:
        """The schema's ``title``, else the file's stem or the model's name."""
        title = self.schema.get("title")
        if isinstance(title, str) and title.strip():
            return title.strip()
        return self.model.__name__ if self.model is not None else Path(self.origin).stem

    @cached_property
    def _validator(self) -> Validator:
        return _checked(self.schema, self.origin)

    def record_schema(self) -> dict[str, Any]:
        """The record schema as sent to Claude's structured outputs (for one merged record)."""
        sent: dict[str, Any] = for_request(self.schema)
        return sent

    def request_schema(self) -> dict[str, Any]:
        """The schema a chunk's request asks for: ``{"records": [ITEM, ...]}``, where ITEM is
        :meth:`record_schema` with :data:`PAGES_FIELD` and :data:`QUOTE_FIELD` added (and
        required), its definitions moved to the top."""
        item = for_request(self.schema, ref_prefix=pointer("properties", "records", "items"))
        definitions = {name: item.pop(name) for name in _DEFINITIONS if name in item}
        item["properties"] = {**item["properties"], "pages": PAGES_FIELD, "quote": QUOTE_FIELD}
        item["required"] = [*item.get("required", ()), "pages", "quote"]
        return {
            "type": "object",
            "properties": {"records": {"type": "array", "items": item}},
            "required": ["records"],
            "additionalProperties": False,
            **definitions,
        }

    def validate(self, record: Mapping[str, Any]) -> list[str]:
        """What is wrong with ``record`` (the user's fields) against the user's schema, one
        line each (``/amount: 'ten' is not of type 'integer'``); empty when it is valid. A
        pydantic model's own validation runs too."""
        errors = sorted(
            self._validator.iter_errors(dict(record)), key=lambda error: list(error.path)
        )
        found = [f"{pointer(*error.path) or '/'}: {error.message}" for error in errors]
        if not found and self.model is not None:
            try:
                self.model.model_validate(dict(record))  # type: ignore[attr-defined]
            except ValueError as error:  # pydantic's ValidationError
                details: list[dict[str, Any]] = getattr(error, "errors", list)()
                found = [f"{pointer(*item['loc']) or '/'}: {item['msg']}" for item in details]
                found = found or [str(error).splitlines()[0]]
        return found

    def instance(self, fields: Mapping[str, Any]) -> Any:
        """The record as the pydantic model (``model_validate``) when the schema is one, else a
        dict of ``fields``."""
        if self.model is None:
            return dict(fields)
        return self.model.model_validate(dict(fields))  # type: ignore[attr-defined]

    def describe(self) -> str:
        """The fields for a prompt, one line each: ``- name (type, required): description``."""
        lines = []
        for item in self.fields:
            need = "required" if item.required else "optional"
            about = f": {item.description}" if item.description else ""
            lines.append(f"- {item.name} ({item.type}, {need}){about}")
        return "\n".join(lines)


def check_key(schema: RecordSchema, key: Sequence[str]) -> None:
    """Raise a :class:`~docanalyze.errors.ConfigError` when a ``key`` field is not a field of
    ``schema``."""
    for name in key:
        if name not in schema.field_names:
            known = ", ".join(schema.field_names)
            raise ConfigError(
                f"--key {name}: {schema.origin} has no such field (its fields: {known})"
            )


def _read(path: Path) -> Any:
    """The JSON of the schema file ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(f"{path}: no such file; give the path of a JSON Schema file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaError(f"{path}: cannot be read as UTF-8 text ({error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaError(
            f"{path} is not JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None


def _checked(schema: Any, origin: str) -> Validator:
    """The validator of ``schema``, once it is a valid JSON Schema of one object record."""
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        raise SchemaError(f"{origin}: must be a JSON object (the JSON Schema of one record)")
    validator_class = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except exceptions.SchemaError as error:
        at = pointer(*error.path) or "the top level"
        raise SchemaError(f"{origin}: not a valid JSON Schema at {at}: {error.message}") from None
    if schema.get("type") == "array":
        raise SchemaError(
            f'{origin}: describes an array; give the schema of one record (its "items")'
        )
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        raise SchemaError(
            f'{origin}: must describe one record, "type": "object" with its fields in "properties"'
        )
    for name in schema["properties"]:
        if name in _RESERVED:
            raise SchemaError(
                f'{origin}: field "{name}" at {pointer("properties", name)} is a column docanalyze '
                f"adds ({', '.join(_RESERVED)}); rename it"
            )
    validator: Validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return validator


def _target(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node``, or what its local ``$ref`` points to."""
    ref = node.get("$ref")
    target = ref_target(root, ref) if isinstance(ref, str) else None
    if not isinstance(target, Mapping):
        return node
    return {**target, **{key: value for key, value in node.items() if key != "$ref"}}


def _type_text(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """A field's type as text, e.g. ``date string | null``, ``array of string``."""
    node = _target(node, root)
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(value) for value in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    for union in ("anyOf", "oneOf"):
        if union in node:
            return " | ".join(_type_text(option, root) for option in node[union])
    types = node.get("type", "any")
    if isinstance(types, list):
        return " | ".join(_type_text({**node, "type": one}, root) for one in types)
    if types == "array":
        items = node.get("items")
        return f"array of {_type_text(items, root)}" if isinstance(items, Mapping) else "array"
    if types == "object" and node.get("properties"):
        return f"object with {', '.join(node['properties'])}"
    return f"{node['format']} {types}" if "format" in node else str(types)


def _description(node: Mapping[str, Any], root: Mapping[str, Any]) -> str | None:
    description = _target(node, root).get("description")
    return " ".join(description.split()) if isinstance(description, str) else None
