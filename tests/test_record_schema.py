"""Record schemas checked before any request against Claude's structured-output rules, and the
schemas sent for a chunk and for one record."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from docanalyze.errors import ConfigError, SchemaError
from docanalyze.models.structured import ref_target
from docanalyze.records.schema import RecordSchema, check_key
from docanalyze.records.schema_rules import MAX_OPTIONAL
from tests.conftest import PROJECT_ROOT

OBLIGATION: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Obligation",
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "The obligation's id, e.g. OB-7."},
        "party": {"type": "string", "description": "Who must act."},
        "amount": {"type": ["integer", "null"]},
        "deadline": {"type": "string", "format": "date"},
        "kind": {"$ref": "#/$defs/Kind"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "address": {"$ref": "#/$defs/Address"},
    },
    "required": ["id", "party", "deadline"],
    "$defs": {
        "Kind": {"enum": ["deliver", "pay", "notify"]},
        "Address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["city"],
        },
    },
}
VALID = {"id": "OB-7", "party": "Acme Corp", "deadline": "2027-03-01", "kind": "deliver"}


def with_property(name: str, node: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(OBLIGATION)
    schema["properties"][name] = node
    return schema


def refused(schema: Any) -> str:
    with pytest.raises(SchemaError) as caught:
        RecordSchema.of(schema)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("node", "keyword"),
    [
        ({"type": "integer", "minimum": 0}, '"minimum"'),
        ({"type": "integer", "maximum": 10}, '"maximum"'),
        ({"type": "number", "exclusiveMinimum": 0}, '"exclusiveMinimum"'),
        ({"type": "number", "exclusiveMaximum": 1}, '"exclusiveMaximum"'),
        ({"type": "integer", "multipleOf": 5}, '"multipleOf"'),
        ({"type": "string", "minLength": 1}, '"minLength"'),
        ({"type": "string", "maxLength": 9}, '"maxLength"'),
        ({"type": "array", "items": {"type": "string"}, "maxItems": 3}, '"maxItems"'),
        ({"type": "array", "items": {"type": "string"}, "minItems": 2}, '"minItems": 2'),
        ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, '"uniqueItems"'),
        ({"type": "string", "format": "iri"}, '"format": "iri"'),
        ({"type": "object", "additionalProperties": True}, '"additionalProperties"'),
        ({"type": "object", "additionalProperties": {"type": "string"}}, '"additionalProperties"'),
        ({"enum": ["a", {"b": 1}]}, '"enum"'),
        ({"allOf": [{"$ref": "#/$defs/Kind"}]}, '"allOf" with "$ref"'),
        ({"$ref": "https://example.com/kind.json"}, '"$ref": "https://example.com/kind.json"'),
        ({"not": {"type": "string"}}, '"not"'),
        ({"type": "string", "pattern": "^(?=OB)OB-\\d+$"}, '"pattern": "^(?=OB)OB-\\\\d+$"'),
        ({"type": "string", "pattern": "(a)\\1"}, '"pattern": "(a)\\\\1"'),
        ({"type": "string", "pattern": "\\bOB"}, '"pattern": "\\\\bOB"'),
    ],
)
def test_each_unsupported_keyword_is_refused_naming_it_and_where(
    node: dict[str, Any], keyword: str
) -> None:
    message = refused(with_property("extra", node))
    assert message.startswith(f"record schema: {keyword} at /properties/extra (field extra) ")
    assert "Claude's structured outputs" in message


def test_a_keyword_deep_inside_definitions_and_items_is_found_by_its_path() -> None:
    schema = copy.deepcopy(OBLIGATION)
    schema["$defs"]["Address"]["properties"]["zip"]["maxLength"] = 5
    assert '"maxLength" at /$defs/Address/properties/zip (field Address.zip)' in refused(schema)
    schema = with_property("codes", {"type": "array", "items": {"type": "string", "minLength": 2}})
    assert '"minLength" at /properties/codes/items (field codes)' in refused(schema)


def test_a_recursive_schema_is_refused() -> None:
    schema = copy.deepcopy(OBLIGATION)
    schema["$defs"]["Address"]["properties"]["parent"] = {"$ref": "#/$defs/Address"}
    message = refused(schema)
    assert '"$ref": "#/$defs/Address" at /$defs/Address/properties/parent' in message
    assert "recursive" in message
    schema = with_property("again", {"$ref": "#"})
    assert "recursive" in refused(schema)


def test_a_ref_that_points_nowhere_is_refused() -> None:
    assert "points nowhere" in refused(with_property("x", {"$ref": "#/$defs/Missing"}))
    assert "points nowhere" in refused(with_property("x", {"$ref": "#Address"}))  # an anchor


def test_ref_target_follows_local_json_pointers_only() -> None:
    root = {"$defs": {"a/b": {"type": "string"}, "c~d": {"enum": ["X"]}}, "properties": {}}
    assert ref_target(root, "#") is root
    assert ref_target(root, "#/$defs/a~1b") == {"type": "string"}
    assert ref_target(root, "#/$defs/c~0d") == {"enum": ["X"]}
    for nowhere in ("#/$defs/missing", "#/properties/x/type", "#a", "other.json#/$defs/a~1b"):
        assert ref_target(root, nowhere) is None, nowhere


def test_a_pydantic_constraint_is_refused_naming_the_model_and_the_field() -> None:
    class Payment(BaseModel):
        payer: str
        amount: int = Field(ge=0)

    message = refused(Payment)
    assert message.startswith('pydantic model Payment: "minimum" at /properties/amount')
    assert "(field amount)" in message


def test_too_many_optional_fields_are_refused() -> None:
    schema = copy.deepcopy(OBLIGATION)
    schema["properties"].update({f"note{n}": {"type": "string"} for n in range(MAX_OPTIONAL)})
    message = refused(schema)
    assert f"more than the {MAX_OPTIONAL}" in message
    assert "the first at /properties/" in message and "records" not in message  # the user's


def test_a_keyword_on_a_definition_itself_names_no_field() -> None:
    schema = with_property("code", {"$ref": "#/$defs/Code"})
    schema["$defs"] = {**schema.get("$defs", {}), "Code": {"type": "string", "pattern": "(?=A)"}}
    message = refused(schema)
    assert (
        '"pattern": "(?=A)" at /$defs/Code uses a lookahead' in message and "field" not in message
    )


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "type": "object",\n  "properties": {,}\n}', encoding="utf-8")
    assert refused(broken) == (
        f"{broken} is not JSON: Expecting property name enclosed in double quotes"
        " at line 3, column 18"
    )
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    assert "must be a JSON object" in refused(listed)


def test_a_schema_of_an_array_asks_for_the_schema_of_one_record() -> None:
    message = refused({"type": "array", "items": OBLIGATION})
    assert "give the schema of one record" in message
    assert "one record" in refused({"type": "string"})


@pytest.mark.parametrize("name", ["pages", "quote", "citation", "document"])
def test_a_field_named_like_an_added_column_is_refused(name: str) -> None:
    message = refused(with_property(name, {"type": "string"}))
    assert f'field "{name}" at /properties/{name}' in message
    assert "rename it" in message


def test_an_invalid_json_schema_is_refused() -> None:
    assert "not a valid JSON Schema" in refused(with_property("x", {"type": "strnig"}))


def test_a_good_schema_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "contract.schema.json"
    path.write_text(json.dumps({**OBLIGATION, "title": ""}), encoding="utf-8")
    schema = RecordSchema.of(path)
    assert schema.origin == str(path)
    assert schema.title == "contract.schema"
    assert schema.field_names == ("id", "party", "amount", "deadline", "kind", "tags", "address")


def test_the_request_schema_accepts_a_reply_and_refuses_what_is_not_one() -> None:
    request = RecordSchema.of(OBLIGATION).request_schema()
    jsonschema.Draft202012Validator.check_schema(request)
    record = {**VALID, "address": {"city": "Paris"}, "pages": [3], "quote": "Acme Corp shall"}
    reply = {"records": [record, {**record, "id": "OB-8", "pages": [4, 5]}]}
    jsonschema.validate(reply, request)
    for wrong in (
        {"records": [{**record, "unasked": 1}]},
        {"records": [{key: value for key, value in record.items() if key != "quote"}]},
        {"records": [{**record, "address": {"city": "Paris", "street": "Rue"}}]},
        {"records": [record], "note": "extra"},
        {"records": [{**record, "kind": "sue"}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, request)


def test_every_object_sent_forbids_other_properties() -> None:
    request = RecordSchema.of(OBLIGATION).request_schema()
    item = request["properties"]["records"]["items"]
    assert item["required"] == ["id", "party", "deadline", "pages", "quote"]
    assert list(item["properties"])[-2:] == ["pages", "quote"]
    assert request["additionalProperties"] is item["additionalProperties"] is False
    assert request["$defs"]["Address"]["additionalProperties"] is False
    assert "$schema" not in item and "$defs" not in item
    assert "pages" not in RecordSchema.of(OBLIGATION).record_schema()["properties"]


def test_one_of_is_sent_as_any_of_and_local_refs_still_resolve() -> None:
    schema = with_property("either", {"oneOf": [{"type": "string"}, {"$ref": "#/properties/id"}]})
    request = RecordSchema.of(schema).request_schema()
    either = request["properties"]["records"]["items"]["properties"]["either"]
    assert either == {
        "anyOf": [{"type": "string"}, {"$ref": "#/properties/records/items/properties/id"}]
    }
    reply = {"records": [{**VALID, "either": "x", "pages": [1], "quote": "q"}]}
    jsonschema.validate(reply, request)


def test_validate_names_each_wrong_field() -> None:
    schema = RecordSchema.of(OBLIGATION)
    assert schema.validate(VALID) == []
    errors = schema.validate({**VALID, "amount": "ten", "deadline": "tomorrow", "party": None})
    assert errors == [
        "/amount: 'ten' is not of type 'integer', 'null'",
        "/deadline: 'tomorrow' is not a 'date'",
        "/party: None is not of type 'string'",
    ]
    assert schema.validate({"id": "OB-1", "deadline": "2027-01-01"}) == [
        "/: 'party' is a required property"
    ]


class Obligation(BaseModel):
    """An obligation of a contract."""

    id: str = Field(description="The obligation's id.")
    party: str
    amount: int | None = None


def test_a_pydantic_model_gives_instances() -> None:
    schema = RecordSchema.of(Obligation)
    assert schema.origin == "pydantic model Obligation"
    assert schema.title == "Obligation"
    value = schema.instance({"id": "OB-7", "party": "Acme", "amount": 3})
    assert isinstance(value, Obligation)
    assert value.amount == 3
    assert schema.validate({"id": "OB-7", "party": 5}) == ["/party: 5 is not of type 'string'"]
    assert RecordSchema.of(OBLIGATION).instance(VALID) == VALID


def test_a_class_that_is_not_a_model_is_refused() -> None:
    assert "is not a pydantic model" in refused(Path)


def test_describe_lists_the_fields_for_a_prompt() -> None:
    schema = RecordSchema.of(OBLIGATION)
    assert schema.describe().splitlines() == [
        "- id (string, required): The obligation's id, e.g. OB-7.",
        "- party (string, required): Who must act.",
        "- amount (integer | null, optional)",
        "- deadline (date string, required)",
        '- kind (one of "deliver", "pay", "notify", optional)',
        "- tags (array of string, optional)",
        "- address (object with city, zip, optional)",
    ]
    assert schema.fields[0].required and not schema.fields[2].required


def test_check_key_names_an_unknown_field() -> None:
    schema = RecordSchema.of(OBLIGATION)
    check_key(schema, ["id", "party"])
    with pytest.raises(ConfigError, match="--key ident: record schema has no such field"):
        check_key(schema, ["ident"])


def test_loading_a_schema_imports_neither_pydantic_nor_jsonschema_early() -> None:
    code = (
        "import sys, docanalyze.records.schema, docanalyze.records.merge; "
        "print(sorted(m for m in ('pydantic', 'jsonschema') if m in sys.modules))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )
    assert ran.stdout.strip() == "[]"


def test_a_pattern_within_the_regex_subset_is_taken() -> None:
    schema = with_property("id", {"type": "string", "pattern": "^OB-\\d{1,3}$|a\\\\b"})
    assert RecordSchema.of(schema).request_schema()
