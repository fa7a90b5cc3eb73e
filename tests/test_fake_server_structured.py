"""Structured outputs on the fake Messages API, through the real anthropic SDK over HTTP.

A request with ``output_config.format`` is checked against the documented rules (unsupported
schema features and incompatible features are 400s naming what is wrong) and answered with JSON
that follows the schema, filled from the planted ``REC-nnnn`` records; plain, streamed and batch
answers agree; a cut reply stops at ``max_tokens``; a model told to err makes exactly the
errors it records.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import anthropic
import jsonschema
import pytest

from fakeserver import FakeMessagesAPI, RecordErrors, StructuredResponder
from fakeserver.__main__ import build_parser, record_errors_from
from tests.test_fake_server import sdk_client

MakeFakeApi = Callable[..., FakeMessagesAPI]
MODEL = "claude-sonnet-4-5"
ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "party": {"type": "string"},
        "amount": {"type": ["integer", "null"]},
        "kind": {"type": "string", "enum": ["Cash Payment", "Delivery"]},
        "urgent": {"type": "boolean"},
        "pages": {"type": "array", "items": {"type": "integer"}},
        "quote": {"type": "string"},
    },
    "required": ["id", "party", "amount", "kind", "urgent", "pages", "quote"],
    "additionalProperties": False,
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"records": {"type": "array", "items": ITEM}},
    "required": ["records"],
    "additionalProperties": False,
}
RECORDS = {
    "REC-0001": "Record REC-0001 id: OB-1; party: Acme Corp; amount: 1,200; kind: cash payment; "
    "urgent: yes.",
    "REC-0002": "Record REC-0002 id: OB-2; party: Beta Ltd; kind: Delivery.",
    "REC-0003": "Record REC-0003 id: OB-3; party: Gamma; amount: 7; kind: Delivery; urgent: no.",
}
PAGED_TEXT = (
    f"[Page 1]\nThe parties met in March. {RECORDS['REC-0001']}\nThe roof was replaced.\n\n"
    f"[Page 2]\n{RECORDS['REC-0002']} Asbestos was found.\n[Page 3]\n{RECORDS['REC-0003']}"
)
TRUE_PAGES = {"REC-0001": 1, "REC-0002": 2, "REC-0003": 3}
MARKER = re.compile(r"REC-\d{4}")


def structured(schema: Any = SCHEMA, **output_config: Any) -> dict[str, Any]:
    return {"format": {"type": "json_schema", "schema": schema}, **output_config}


def ask(*content: Any) -> list[Any]:
    return [{"role": "user", "content": [*content, {"type": "text", "text": "Extract."}]}]


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def create(api: FakeMessagesAPI, messages: list[Any], **params: Any) -> Any:
    params = {"model": MODEL, "max_tokens": 2000, "output_config": structured(), **params}
    return sdk_client(api).messages.create(messages=messages, **params)


def marker_of(record: dict[str, Any]) -> str:
    found = MARKER.search(record["quote"])
    assert found is not None, record
    return found.group()


def answer_of(message: Any) -> Any:
    return json.loads(next(block.text for block in message.content if block.type == "text"))


# --- answers ----------------------------------------------------------------------------------


def test_the_answer_follows_the_schema_with_true_pages_quotes_and_typed_values(
    fake_api: FakeMessagesAPI,
) -> None:
    message = create(fake_api, ask(text(PAGED_TEXT)))
    answer = answer_of(message)
    jsonschema.validate(answer, SCHEMA)
    assert message.stop_reason == "end_turn" and len(message.content) == 1
    records = answer["records"]
    assert [marker_of(r) for r in records] == list(RECORDS)
    for record in records:
        marker = marker_of(record)
        assert record["quote"] == RECORDS[marker]  # verbatim, with the marker
        assert record["pages"] == [TRUE_PAGES[marker]]
    first, second, third = records
    assert first | {"quote": ""} == {"id": "OB-1", "party": "Acme Corp", "amount": 1200,
        "kind": "Cash Payment", "urgent": True, "pages": [1], "quote": ""}  # fmt: skip
    assert (second["amount"], second["urgent"]) == (None, False)  # missing: null, else false
    assert (third["amount"], third["urgent"]) == (7, False)


def test_records_are_read_from_documents_and_each_sentence_counts_once_per_page(
    fake_api: FakeMessagesAPI,
) -> None:
    source = {"type": "text", "media_type": "text/plain", "data": PAGED_TEXT}
    document = {"type": "document", "source": source, "title": "Contract"}
    repeated = f"[Page 4]\n{RECORDS['REC-0002']}"
    answer = answer_of(create(fake_api, ask(document, text(PAGED_TEXT), text(repeated))))
    pages = [(marker_of(r), r["pages"]) for r in answer["records"]]
    assert pages == [("REC-0001", [1]), ("REC-0002", [2]), ("REC-0003", [3]), ("REC-0002", [4])]


def test_plain_fields_come_from_the_first_record_and_no_record_gives_an_empty_list(
    fake_api: FakeMessagesAPI,
) -> None:
    flat = {**ITEM, "properties": {**ITEM["properties"], "page": {"type": "integer"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}  # fmt: skip
    answer = answer_of(create(fake_api, ask(text(PAGED_TEXT)), output_config=structured(flat)))
    jsonschema.validate(answer, flat)
    assert (answer["id"], answer["page"], answer["note"]) == ("OB-1", 1, None)
    empty = answer_of(create(fake_api, ask(text("Nothing planted here."))))
    assert empty == {"records": []}


def test_a_pydantic_style_schema_with_defs_refs_and_nullable_unions_is_filled(
    fake_api: FakeMessagesAPI,
) -> None:
    item = copy.deepcopy(ITEM)
    item["properties"]["amount"] = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    item["properties"]["kind"] = {"$ref": "#/$defs/Kind"}
    schema = {**SCHEMA, "properties": {"records": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
              "$defs": {"Item": item, "Kind": ITEM["properties"]["kind"]}}  # fmt: skip
    answer = answer_of(create(fake_api, ask(text(PAGED_TEXT)), output_config=structured(schema)))
    jsonschema.validate(answer, schema)
    assert [r["amount"] for r in answer["records"]] == [1200, None, 7]


def test_effort_beside_format_and_thinking_first_still_give_the_json(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(model_rules=True)
    message = create(api, ask(text(PAGED_TEXT)), model="claude-opus-5",
                     max_tokens=20_000, output_config=structured(effort="low"))  # fmt: skip
    assert [block.type for block in message.content] == ["thinking", "text"]
    jsonschema.validate(answer_of(message), SCHEMA)
    with pytest.raises(anthropic.BadRequestError, match="effort"):
        create(api, ask(text(PAGED_TEXT)), model="claude-opus-5",
               output_config=structured(effort="extreme"))  # fmt: skip


def test_a_request_without_a_format_is_answered_as_before(fake_api: FakeMessagesAPI) -> None:
    reply = sdk_client(fake_api).messages.create(
        model=MODEL, max_tokens=500, messages=[{"role": "user", "content": PAGED_TEXT}]
    )
    assert reply.content[0].text == PAGED_TEXT  # the echo


def test_streamed_and_batch_answers_carry_the_same_json(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(batch_latency=0.0)
    client = sdk_client(api)
    plain = answer_of(create(api, ask(text(PAGED_TEXT))))
    params: dict[str, Any] = {"model": MODEL, "max_tokens": 2000, "messages": ask(text(PAGED_TEXT)),
              "output_config": structured()}  # fmt: skip
    with client.messages.stream(**params) as stream:
        streamed = answer_of(stream.get_final_message())
    batch = client.messages.batches.create(requests=[{"custom_id": "one", "params": params}])
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        pass
    [result] = list(client.messages.batches.results(batch.id))
    assert result.result.type == "succeeded"
    assert streamed == answer_of(result.result.message) == plain


def test_a_reply_cut_at_max_tokens_is_the_start_of_the_json(fake_api: FakeMessagesAPI) -> None:
    whole = create(fake_api, ask(text(PAGED_TEXT))).content[0].text
    message = create(fake_api, ask(text(PAGED_TEXT)), max_tokens=30)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 30
    cut = message.content[0].text
    assert cut.startswith('{"records": [{') and whole.startswith(cut) and cut != whole
    with pytest.raises(json.JSONDecodeError):
        answer_of(message)


def test_a_scripted_refusal_comes_before_the_structured_answer(fake_api: FakeMessagesAPI) -> None:
    fake_api.enqueue("I can't help with that.", stop_reason="refusal")
    refused = create(fake_api, ask(text(PAGED_TEXT)))
    assert refused.stop_reason == "refusal"
    assert refused.content[0].text == "I can't help with that."
    jsonschema.validate(answer_of(create(fake_api, ask(text(PAGED_TEXT)))), SCHEMA)


# --- the documented rules ---------------------------------------------------------------------

WHERE = "output_config.format.schema.properties.records.items"


def item_with(**changes: Any) -> dict[str, Any]:
    item = copy.deepcopy(ITEM)
    for name, extra in changes.items():
        item["properties"][name] = {**item["properties"][name], **extra}
    return {**SCHEMA, "properties": {"records": {"type": "array", "items": item}}}


RECURSIVE: dict[str, Any] = {"type": "object", "additionalProperties": False, "$defs": {"Node": {
    "type": "object", "additionalProperties": False,
    "properties": {"child": {"$ref": "#/$defs/Node"}}}},
    "properties": {"root": {"$ref": "#/$defs/Node"}}}  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        (item_with(amount={"minimum": 0}), f"{WHERE}.properties.amount: 'minimum'"),
        (item_with(amount={"maximum": 9}), f"{WHERE}.properties.amount: 'maximum'"),
        (item_with(amount={"exclusiveMinimum": 0}), "amount: 'exclusiveMinimum'"),
        (item_with(amount={"multipleOf": 5}), "amount: 'multipleOf'"),
        (item_with(party={"minLength": 1}), f"{WHERE}.properties.party: 'minLength'"),
        (item_with(party={"maxLength": 80}), "party: 'maxLength'"),
        (item_with(pages={"maxItems": 3}), f"{WHERE}.properties.pages: 'maxItems'"),
        (item_with(pages={"minItems": 2}), "pages: 'minItems' 2"),
        (item_with(kind={"enum": [{"a": 1}]}), "kind: 'enum' with objects or arrays"),
        (item_with(party={"format": "uri-reference"}), "party: 'format' 'uri-reference'"),
        (item_with(party={"pattern": "^(?=A)"}), "party: 'pattern' '^(?=A)'"),
        (item_with(party={"pattern": r"(a)\1"}), "backreferences"),
        (item_with(party={"pattern": r"\bAcme"}), "word boundaries"),
        ({**SCHEMA, "additionalProperties": True}, "schema: 'additionalProperties' True"),
        (item_with(party={"type": "object"}), "party: 'additionalProperties' 'missing'"),
        (item_with(party={"$ref": "https://example.com/party.json"}), "external $ref"),
        (
            RECURSIVE,
            "properties.root: '$ref' '#/$defs/Node' is not supported by structured outputs (rec",
        ),
        (item_with(party={"allOf": [{"$ref": "#/$defs/P"}]}), "party: 'allOf' with '$ref'"),
    ],
)
def test_an_unsupported_schema_feature_is_a_400_naming_it_and_where(
    fake_api: FakeMessagesAPI, schema: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        create(fake_api, ask(text(PAGED_TEXT)), output_config=structured(schema))
    assert raised.value.status_code == 400
    error: dict[str, Any] = raised.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    message = error["message"]
    assert fragment in message and "not supported by structured outputs" in message
    assert fake_api.requests[-1].status == 400


def many(count: int, prop: dict[str, Any], *, required: bool) -> dict[str, Any]:
    properties = {f"p{i}": prop for i in range(count)}
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "required": list(properties) if required else []}  # fmt: skip


@pytest.mark.parametrize(
    ("output_config", "fragment"),
    [
        ({"format": {"type": "json_object", "schema": SCHEMA}}, "format.type: Input should be"),
        ({"format": {"type": "json_schema"}}, "output_config.format.schema: Field required"),
        (structured(many(25, {"type": "string"}, required=False)), "25 > 24"),
        (structured(many(24, {"type": "string"}, required=False))
         | {"format": {"type": "json_schema", "schema": many(17, {"type": ["string", "null"]},
                                                             required=True)}}, "17 > 16"),
    ],
)  # fmt: skip
def test_a_malformed_or_too_complex_format_is_a_400(
    fake_api: FakeMessagesAPI, output_config: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=re.escape(fragment)):
        create(fake_api, ask(text(PAGED_TEXT)), output_config=output_config)
    create(fake_api, ask(text(PAGED_TEXT)), output_config=structured(many(24, {"type": "string"},
                                                                          required=False)))  # fmt: skip


def test_citations_and_prefill_are_incompatible_with_a_format(fake_api: FakeMessagesAPI) -> None:
    source = {"type": "text", "media_type": "text/plain", "data": PAGED_TEXT}
    cited = {"type": "document", "source": source, "citations": {"enabled": True}}
    with pytest.raises(anthropic.BadRequestError, match="Citations are not compatible"):
        create(fake_api, ask(cited))
    prefilled = [*ask(text(PAGED_TEXT)), {"role": "assistant", "content": '{"records": ['}]
    with pytest.raises(anthropic.BadRequestError, match="Prefilling"):
        create(fake_api, prefilled)
    cited["citations"] = {"enabled": False}
    jsonschema.validate(answer_of(create(fake_api, ask(cited))), SCHEMA)


# --- a model that errs on demand --------------------------------------------------------------


def run_erring_model(api: FakeMessagesAPI, replies: int) -> list[Any]:
    return [answer_of(create(api, ask(text(PAGED_TEXT)))) for _ in range(replies)]


def test_the_erring_model_makes_exactly_the_errors_it_records(make_fake_api: MakeFakeApi) -> None:
    errors = RecordErrors(wrong_page_every=4, invent_every=3, enum_case_every=5, seed=7)
    api = make_fake_api(record_errors=errors)
    answers = run_erring_model(api, 6)  # 18 real records, 6 replies, 18 string enum values
    made = api.record_errors_made
    assert [sum(e.kind == kind for e in made) for kind in ("wrong_page", "invented", "enum_case")] == [
        18 // 4, 6 // 3, (18 + 6 // 3) // 5]  # fmt: skip
    request_ids = [request.request_id for request in api.requests]
    found: list[tuple[str, str, object]] = []
    for request_id, answer in zip(request_ids, answers, strict=True):
        for record in answer["records"]:
            marker = marker_of(record)
            if marker not in RECORDS:
                assert "INVENTED" in record["party"] and record["quote"] not in PAGED_TEXT
                found.append(("invented", request_id, record["quote"]))
                continue
            if record["pages"] != [TRUE_PAGES[marker]]:
                found.append(("wrong_page", request_id, record["pages"][0]))
            if record["kind"] not in ITEM["properties"]["kind"]["enum"]:
                found.append(("enum_case", request_id, record["kind"]))
    for error in made:
        if error.kind == "enum_case" and not error.marker.startswith("REC-0"):
            found.append(("enum_case", error.request_id, error.written))  # on an invented one
    assert sorted(found, key=str) == sorted(
        ((e.kind, e.request_id, e.written) for e in made), key=str
    )


def test_the_erring_model_is_deterministic_for_a_seed(make_fake_api: MakeFakeApi) -> None:
    def answers(seed: int) -> list[Any]:
        errors = RecordErrors(wrong_page_every=3, invent_every=2, seed=seed)
        return run_erring_model(make_fake_api(record_errors=errors), 4)

    assert answers(1) == answers(1)
    assert answers(1) != answers(2)


def test_record_errors_are_an_option_of_the_server_and_its_command_line(
    make_fake_api: MakeFakeApi,
) -> None:
    assert make_fake_api().record_errors_made == []
    with pytest.raises(ValueError, match="not both"):
        FakeMessagesAPI(responder=StructuredResponder(), record_errors=RecordErrors())
    options = build_parser().parse_args(["--record-invent-every", "2", "--record-seed", "3"])
    assert record_errors_from(options) == RecordErrors(invent_every=2, seed=3)
    assert record_errors_from(build_parser().parse_args([])) is None
