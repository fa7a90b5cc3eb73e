"""A single-document extraction never loses paid work and never reports an unchecked or
unfinished result: cut and off-schema replies are asked again, a chunk that fails or is refused
leaves the result incomplete with every other record kept, and the next run asks only for it.

Every test runs ``docanalyze.extract`` against the fake Messages API through the real SDK.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import docanalyze
from docanalyze.events import RequestReasked, StageStarted, StepFinished
from docanalyze.models.base import ModelRequest
from docanalyze.models.structured import canonical_enums
from docanalyze.records.extraction import MAX_INVALID_REASKS
from docanalyze.records.result import ExtractResult
from docanalyze.run.context import CostStop, RunContext
from docanalyze.store import RunStore
from fakeserver import (
    FailMatching,
    FakeMessagesAPI,
    RecordedRequest,
    RecordErrors,
    StructuredResponder,
)
from fakeserver.errors import ApiError
from fakeserver.replies import ScriptedReply
from tests.planted_records import OBLIGATION_SCHEMA
from tests.test_resume import stored_calls

MakeFakeApi = Callable[..., FakeMessagesAPI]
FILLER = "The inspectors walked the site and recorded the condition of every pump and valve. "
PAGES = 6
RECORD = re.compile(r"REC-\d{4}")
OPTIONS: dict[str, Any] = {"chunk_size": 1500, "chunk_overlap": 0}


def fields_of(number: int) -> dict[str, str]:
    return {
        "id": f"OB-{number:03d}",
        "party": ("Acme Corp", "Northwind Logistics")[number % 2],
        "action": f"deliver report {number}",
        "deadline": f"2027-01-{number:02d}",
    }


def sentence(number: int, fields: dict[str, str] | None = None) -> str:
    pairs = "; ".join(f"{name}: {value}" for name, value in (fields or fields_of(number)).items())
    return f"Record REC-{number:04d} {pairs}."


def write_document(path: Path, pages: int = PAGES) -> dict[str, int]:
    """``pages`` pages (one chunk each with :data:`OPTIONS`), two records on each, one in each
    half; returns every record's id and its page."""
    texts, truth = [], {}
    for page in range(1, pages + 1):
        first, second = 2 * page - 1, 2 * page
        truth |= {f"OB-{first:03d}": page, f"OB-{second:03d}": page}
        parts = [FILLER * 4, sentence(first), " ", FILLER * 4, sentence(second), " ", FILLER * 4]
        texts.append("".join(parts).strip())
    path.write_text("\f".join(texts), encoding="utf-8")
    return truth


class Scripted:
    """The fake model (a :class:`StructuredResponder`), except for the requests whose prompt
    holds a scripted marker: those get the marker's scripted replies, in order, while any are
    left. Every prompt is kept in :attr:`prompts`."""

    def __init__(self, errors: RecordErrors | None = None) -> None:
        self.model = StructuredResponder(errors)
        self.scripts: dict[str, list[ScriptedReply]] = {}
        self.prompts: list[str] = []
        self.lock = threading.Lock()

    def on(self, marker: str, *replies: ScriptedReply) -> None:
        self.scripts.setdefault(marker, []).extend(replies)

    def __call__(self, request: RecordedRequest) -> str | ScriptedReply:
        with self.lock:
            self.prompts.append(request.prompt)
            for marker, replies in self.scripts.items():
                if marker in request.prompt and replies:
                    return replies.pop(0)
        return self.model(request)

    def asked(self, marker: str) -> list[str]:
        return [prompt for prompt in self.prompts if marker in prompt]


@pytest.fixture
def document(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    path = tmp_path / "obligations.txt"
    return path, write_document(path)


def extract(path: Path, **options: Any) -> ExtractResult:
    return docanalyze.extract(path, OBLIGATION_SCHEMA, **{**OPTIONS, **options})


def messages(api: FakeMessagesAPI) -> list[RecordedRequest]:
    """The message requests the server answered (directly or in a batch)."""
    return [r for r in api.requests if r.path.startswith("/v1/messages") and r.body.get("messages")]


def ids(result: ExtractResult) -> list[str]:
    return [record.fields["id"] for record in result.records]


def record_json(number: int, **changes: Any) -> dict[str, Any]:
    return {**fields_of(number), "pages": [1], "quote": sentence(number), **changes}


def cut(*records: dict[str, Any]) -> ScriptedReply:
    """A reply cut at max_tokens (its JSON whole or not)."""
    text = json.dumps({"records": list(records)})
    return ScriptedReply(text, stop_reason="max_tokens")


def reply(*records: dict[str, Any]) -> ScriptedReply:
    return ScriptedReply(json.dumps({"records": list(records)}))


def stored_texts() -> str:
    """Every reply text in the run store."""
    with RunStore() as store:
        path = store.path
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT * FROM calls").fetchall()
    return "\n".join(str(row) for row in rows)


def assert_every_record(result: ExtractResult, truth: dict[str, int], **but: int) -> None:
    expected = {name: page for name, page in truth.items() if name not in but}
    assert {record.fields["id"]: record.pages[0] for record in result.records} == expected
    assert len(result.records) == len(expected)
    assert all(record.status == "verified" for record in result.records)
    for row in result.rows():
        fields = {name: row[name] for name in OBLIGATION_SCHEMA["properties"]}
        jsonschema.validate(fields, OBLIGATION_SCHEMA)


# --- 1. cut replies ----------------------------------------------------------------------------


def test_a_cut_reply_is_asked_again_with_more_room_then_in_halves_and_never_used(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    script = Scripted()
    bogus = record_json(5, id="OB-CUT", action="never used")
    script.on("REC-0005", cut(bogus), cut(bogus))  # page 3: cut, then cut with twice the room
    api = serve(responder=script)
    events: list[object] = []
    result = extract(path, on_event=events.append)

    assert result.complete and result.exit_code == 0
    assert_every_record(result, truth)
    assert "OB-CUT" not in ids(result)
    asked = [r for r in messages(api) if "REC-0005" in r.prompt or "REC-0006" in r.prompt]
    assert [r.body["max_tokens"] for r in asked] == [2048, 4096, 4096, 4096]
    assert "REC-0005" in asked[0].prompt and "REC-0006" in asked[0].prompt
    halves = [RECORD.findall(r.prompt) for r in asked[2:]]
    assert sorted(halves) == [["REC-0005"], ["REC-0006"]]  # in two halves, each asked once
    reasks = [event for event in events if isinstance(event, RequestReasked)]
    assert [event.reason for event in reasks] == ["max_tokens", "max_tokens"]


def test_a_small_max_tokens_cuts_every_reply_and_no_record_is_lost(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    api = serve()
    result = extract(path, map_max_tokens=70)
    assert result.complete
    assert_every_record(result, truth)
    assert any(r.body["max_tokens"] == 140 for r in messages(api))
    assert len(messages(api)) > PAGES * 2


# --- 2. replies off the schema -----------------------------------------------------------------


def test_a_reply_off_the_schema_is_asked_again_with_what_was_wrong_then_the_chunk_fails(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    script = Scripted()
    not_json = ScriptedReply('{"records": [{"id": "OB-007", ')
    wrong_type = reply(record_json(7, deadline=20270107))
    script.on("REC-0007", not_json, wrong_type, not_json)
    api = serve(responder=script)
    events: list[object] = []
    result = extract(path, on_event=events.append)

    asked = script.asked("REC-0007")
    assert len(asked) == MAX_INVALID_REASKS + 1
    assert len(set(asked)) == len(asked)  # each re-ask says what was wrong: another request
    assert "not JSON" in asked[1] and "/records/0/deadline" in asked[2]
    assert not result.complete and result.exit_code == 3
    assert result.missing_chunks == [3]  # page 4, the fourth chunk
    assert_every_record(result, truth, **{"OB-007": 4, "OB-008": 4})
    assert result.failures and "did not follow the schema" in result.failures[0]["error"]
    assert "did not follow the schema" in (result.stopped or "")
    reasons = [event.reason for event in events if isinstance(event, RequestReasked)]
    assert reasons == ["off-schema"] * MAX_INVALID_REASKS
    assert "20270107" not in stored_texts()  # the off-schema replies are not stored

    before = len(messages(api))
    again = extract(path)
    assert again.complete and again.missing_chunks == []
    assert_every_record(again, truth)
    resumed = messages(api)[before:]
    assert len(resumed) == 1 and "REC-0007" in resumed[0].prompt


def test_a_record_breaking_a_format_of_the_schema_is_not_stored_so_the_next_run_asks_again(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    schema = json.loads(json.dumps(OBLIGATION_SCHEMA))
    schema["properties"]["deadline"] = {"type": "string", "format": "date"}
    script = Scripted()
    script.on("REC-0003", *[reply(record_json(3, deadline="soon"))] * (MAX_INVALID_REASKS + 1))
    api = serve(responder=script)
    first = docanalyze.extract(path, schema, **OPTIONS)
    assert not first.complete and first.missing_chunks == [1]
    assert "soon" not in stored_texts()

    before = len(messages(api))
    again = docanalyze.extract(path, schema, **OPTIONS)
    assert again.complete
    assert_every_record(again, truth)
    assert [RECORD.findall(r.prompt) for r in messages(api)[before:]] == [["REC-0003", "REC-0004"]]


# --- 3. enum values in another capitalization --------------------------------------------------

ENUM_SCHEMA: dict[str, Any] = {
    "title": "Task",
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string", "enum": ["Safety Report", "Pump Seals"]},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["High Priority", "Low"]}},
        "scope": {
            "anyOf": [{"type": "string", "enum": ["Site Wide", "One Depot"]}, {"type": "null"}]
        },
    },
    "required": ["id", "kind", "tags", "scope"],
    "additionalProperties": False,
}


def enum_fields(number: int) -> dict[str, str]:
    kind, scope = ("safety report", "site wide") if number % 2 else ("pump seals", "one depot")
    return {"id": f"OB-{number:03d}", "kind": kind, "tags": "high priority", "scope": scope}


def test_enum_values_in_another_capitalization_are_the_schemas_without_asking_again(
    serve: Callable[..., FakeMessagesAPI], tmp_path: Path
) -> None:
    path = tmp_path / "tasks.txt"
    pages = [f"{FILLER * 4}{sentence(n, enum_fields(n))} {FILLER * 4}" for n in range(1, 5)]
    path.write_text("\f".join(pages), encoding="utf-8")
    api = serve(record_errors=RecordErrors(enum_case_every=1))
    events: list[object] = []
    result = docanalyze.extract(path, ENUM_SCHEMA, on_event=events.append, **OPTIONS)

    recased = {error.written for error in api.record_errors_made if error.kind == "enum_case"}
    assert {"Safety report", "Pump seals", "High priority", "Site wide", "One depot"} <= recased
    assert result.complete and len(messages(api)) == result.chunk_count == 4
    assert not [event for event in events if isinstance(event, RequestReasked)]
    assert [(r.fields["kind"], r.fields["tags"], r.fields["scope"]) for r in result.records] == [
        ("Safety Report", ["High Priority"], "Site Wide"),
        ("Pump Seals", ["High Priority"], "One Depot"),
    ] * 2
    for record in result.records:
        jsonschema.validate(dict(record.fields), ENUM_SCHEMA)
    again = docanalyze.extract(path, ENUM_SCHEMA, **OPTIONS)  # the replies were kept
    assert len(messages(api)) == 4 and again.rows() == result.rows()


# --- 4. wrong pages and invented records -------------------------------------------------------


@pytest.mark.parametrize("unsupported", ["mark", "drop"])
def test_every_wrong_page_is_corrected_and_every_invented_record_unsupported(
    serve: Callable[..., FakeMessagesAPI],
    document: tuple[Path, dict[str, int]],
    unsupported: str,
) -> None:
    path, truth = document
    api = serve(record_errors=RecordErrors(wrong_page_every=3, invent_every=2, seed=4))
    result = extract(path, unsupported=unsupported)
    made = api.record_errors_made
    wrong_pages = {e.marker: e for e in made if e.kind == "wrong_page"}
    invented = {e.marker for e in made if e.kind == "invented"}
    assert len(wrong_pages) >= 2 and len(invented) >= 2

    by_marker = {RECORD.findall(r.quote)[0]: r for r in result.records}
    for marker, error in wrong_pages.items():
        record = by_marker[marker]
        assert record.status == "corrected" and record.pages == (error.truth,), record
        assert error.written != error.truth
    planted = [r for marker, r in by_marker.items() if marker not in invented]
    assert {r.fields["id"]: r.pages[0] for r in planted} == truth
    right = [r for m, r in by_marker.items() if m not in wrong_pages and m not in invented]
    assert all(r.status == "verified" for r in right)
    shown = [r for r in result.records if r.status == "unsupported"]
    if unsupported == "mark":
        assert {RECORD.findall(r.quote)[0] for r in shown} == invented
        assert all("INVENTED" in r.fields["id"] for r in shown)
    else:
        assert shown == [] and result.counts.unsupported_dropped == len(invented)
    assert result.complete


# --- 5. a refused chunk ------------------------------------------------------------------------


def refusal() -> ScriptedReply:
    details = {"type": "refusal", "category": "cyber", "explanation": "REFUSED-HERE"}
    return ScriptedReply("", stop_reason="refusal", stop_details=details)


def test_a_refused_chunk_leaves_the_result_incomplete_and_is_asked_again_next_run(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    script = Scripted()
    script.on("REC-0009", refusal())
    api = serve(responder=script)
    result = extract(path)

    assert not result.complete and result.exit_code == 3
    assert result.missing_chunks == [4] and len(result.refusals) == 1
    assert result.refusals[0]["first_page"] == 5
    assert_every_record(result, truth, **{"OB-009": 5, "OB-010": 5})
    assert "refus" in (result.stopped or "")
    assert "refusal" not in stored_texts() and "REFUSED-HERE" not in stored_texts()

    before = len(messages(api))
    again = extract(path)
    assert again.complete
    assert_every_record(again, truth)
    assert [RECORD.findall(r.prompt) for r in messages(api)[before:]] == [["REC-0009", "REC-0010"]]


# --- 6. --max-cost -----------------------------------------------------------------------------


def test_a_run_stopped_by_max_cost_keeps_its_records_and_the_next_run_pays_only_the_rest(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    api = serve()
    events: list[object] = []
    stopped = extract(path, max_cost=0.03, on_event=events.append)

    assert not stopped.complete and stopped.exit_code == 3
    assert "--max-cost" in (stopped.stopped or "")
    assert "The records of the other chunks are kept" in (stopped.stopped or "")
    assert "No final report" not in (stopped.stopped or "")
    paid = len(messages(api))
    assert 0 < paid < PAGES and len(stopped.missing_chunks) == PAGES - paid
    answered_pages = {
        page for page in range(1, PAGES + 1) if page - 1 not in stopped.missing_chunks
    }
    assert_every_record(
        stopped, truth, **{name: page for name, page in truth.items() if page not in answered_pages}
    )
    finished = [event for event in events if isinstance(event, StepFinished)]
    assert len(finished) == paid

    done = extract(path, max_cost=1.0)
    assert done.complete
    assert_every_record(done, truth)
    assert len(messages(api)) == PAGES  # the paid chunks came from the store
    assert done.cache_hits == paid


# --- a chunk asked in halves -------------------------------------------------------------------


def test_a_half_that_fails_keeps_the_other_halfs_records_and_only_it_is_asked_again(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    script = Scripted()
    script.on("REC-0003", cut(), cut())  # page 2: asked in halves
    script.on("REC-0004", *[ScriptedReply("not json")] * (MAX_INVALID_REASKS + 1))
    api = serve(responder=script)
    result = extract(path)
    assert not result.complete and result.missing_chunks == [1]
    assert_every_record(result, truth, **{"OB-004": 2})  # OB-003, its half answered, is here

    before = len(messages(api))
    again = extract(path)
    assert again.complete
    assert_every_record(again, truth)
    assert [RECORD.findall(r.prompt) for r in messages(api)[before:]] == [["REC-0004"]]


def test_a_cost_stop_in_one_half_keeps_the_records_of_the_other(
    serve: Callable[..., FakeMessagesAPI],
    document: tuple[Path, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, truth = document
    script = Scripted()
    script.on("REC-0003", cut(), cut())  # page 2: asked in halves
    serve(responder=script)
    reserve = RunContext._reserve

    async def stop_at_the_second_half(ctx: RunContext, request: ModelRequest) -> float:
        if "REC-0004" in request.prompt and "REC-0003" not in request.prompt:
            raise CostStop
        return await reserve(ctx, request)

    monkeypatch.setattr(RunContext, "_reserve", stop_at_the_second_half)
    result = extract(path, max_cost=10.0)
    assert not result.complete and result.missing_chunks == [1]
    assert "--max-cost" in (result.stopped or "")
    assert_every_record(result, truth, **{"OB-004": 2})


def test_canonical_enums_follows_refs_unions_arrays_and_leaves_the_ambiguous_alone() -> None:
    schema = {
        "$defs": {"Kind": {"type": "string", "enum": ["Cash Payment", "Delivery"]}},
        "type": "object",
        "properties": {
            "kind": {"$ref": "#/$defs/Kind"},
            "kinds": {"type": "array", "items": {"$ref": "#/$defs/Kind"}},
            "mode": {"anyOf": [{"const": "Fast Lane"}, {"type": "null"}]},
            "either": {"type": "string", "enum": ["ab", "AB"]},
            "free": {"type": "string"},
            "inner": {"type": "object", "properties": {"kind": {"$ref": "#/$defs/Kind"}}},
        },
    }
    value = {
        "kind": "cash payment",
        "kinds": ["DELIVERY", "Cash payment", "other"],
        "mode": "fast lane",
        "either": "Ab",
        "free": "delivery",
        "inner": {"kind": "Cash payment"},
        "extra": "delivery",
    }
    assert canonical_enums(schema, value) == {
        "kind": "Cash Payment",
        "kinds": ["Delivery", "Cash Payment", "other"],
        "mode": "Fast Lane",
        "either": "Ab",  # two enum values match: left as it is (and found off the schema)
        "free": "delivery",
        "inner": {"kind": "Cash Payment"},
        "extra": "delivery",
    }


# --- 7. --batch --------------------------------------------------------------------------------


def test_a_batch_run_gives_the_same_records_at_the_batch_price(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    api = serve()
    direct = extract(path, cache="off")
    direct_requests = messages(api)
    api.clear_requests()
    batched = extract(path, batch=True, batch_poll_seconds=0.02)

    assert batched.complete and batched.batch and not direct.batch
    assert batched.rows() == direct.rows()
    assert_every_record(batched, truth)
    in_batch = [r for r in api.requests if r.custom_id is not None]
    assert len(in_batch) == len(direct_requests) == PAGES
    assert all(r.body["output_config"]["format"]["type"] == "json_schema" for r in in_batch)
    assert [r.body["output_config"] for r in in_batch] == [
        r.body["output_config"] for r in direct_requests
    ]
    assert not [r for r in api.requests if r.path == "/v1/messages"]  # nothing outside it
    assert batched.usage.input_tokens == direct.usage.input_tokens
    assert batched.cost == pytest.approx(direct.cost / 2)


def test_a_batch_run_asks_a_cut_reply_again_and_resumes_a_refused_chunk(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    script = Scripted()
    script.on("REC-0005", cut(record_json(5, id="OB-CUT")))
    script.on("REC-0009", refusal())
    api = serve(responder=script)
    result = extract(path, batch=True, batch_poll_seconds=0.02)
    assert not result.complete and result.missing_chunks == [4]
    assert_every_record(result, truth, **{"OB-009": 5, "OB-010": 5})
    assert [r.body["max_tokens"] for r in messages(api) if "REC-0005" in r.prompt] == [2048, 4096]

    before = len(messages(api))
    again = extract(path, batch=True, batch_poll_seconds=0.02)
    assert again.complete
    assert_every_record(again, truth)
    assert [RECORD.findall(r.prompt) for r in messages(api)[before:]] == [["REC-0009", "REC-0010"]]


# --- 8. resume after a crash -------------------------------------------------------------------

PAID_BEFORE_THE_KILL = 5


class Gated:
    """The fake model answering ``answer_first`` requests, then holding the rest until
    :attr:`release` (they then fail: the client was killed); :attr:`answered` lists the
    markers of every answered request."""

    def __init__(self, answer_first: int) -> None:
        self.model = StructuredResponder()
        self.answer_first = answer_first
        self.answered: list[tuple[str, ...]] = []
        self.hold = True
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> str | ScriptedReply:
        with self.lock:
            holding = self.hold and len(self.answered) >= self.answer_first
            if not holding:
                self.answered.append(tuple(RECORD.findall(request.prompt)))
        if holding:
            self.release.wait(30)
            raise RuntimeError("held until the client was killed")
        return self.model(request)


def test_a_killed_extraction_resumes_without_asking_any_paid_chunk_again(tmp_path: Path) -> None:
    truth = write_document(tmp_path / "doc.txt", pages=16)
    schema = tmp_path / "obligation.json"
    schema.write_text(json.dumps(OBLIGATION_SCHEMA), encoding="utf-8")
    output = tmp_path / "records.jsonl"
    command = [sys.executable, "-m", "docanalyze", "extract", str(tmp_path / "doc.txt")]
    command += ["--schema", str(schema), "--chunk-size", "1500", "--chunk-overlap", "0"]
    command += ["--concurrency", "4", "-o", str(output)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env |= {"DOCANALYZE_HOME": str(tmp_path / "home"), "ANTHROPIC_API_KEY": "test-key"}
    gated = Gated(PAID_BEFORE_THE_KILL)
    with FakeMessagesAPI(responder=gated) as server:
        env["ANTHROPIC_BASE_URL"] = server.base_url
        first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while stored_calls(tmp_path / "home") < PAID_BEFORE_THE_KILL:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the first run never stored its replies"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(15)
        gated.hold = False
        gated.release.set()
        paid_in_first = list(gated.answered)
        second = subprocess.run(
            command, env=env, check=False, capture_output=True, text=True, timeout=120
        )

    assert second.returncode == 0, second.stderr
    assert len(paid_in_first) == PAID_BEFORE_THE_KILL
    assert len(gated.answered) == len(set(gated.answered)) == 16, "a paid chunk was asked twice"
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert {row["id"]: row["pages"] for row in rows} == {k: [v] for k, v in truth.items()}
    assert all(row["citation"] == "verified" for row in rows)


# --- a request that fails for good; 10. the API key never shows --------------------------------

KEY = "sk-ant-api03-" + "Qv7" * 30 + "-ZZZZ"


def everything_stored() -> bytes:
    with RunStore() as store:
        folder = store.path.parent
    return b"".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())


def test_a_chunk_failing_for_good_keeps_the_rest_and_no_key_shows_anywhere(
    make_fake_api: MakeFakeApi,
    document: tuple[Path, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, truth = document
    failing = FailMatching("REC-0011")  # page 6, always 500
    api = make_fake_api(policies=[failing])
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    result = extract(path, max_attempts=2)

    assert failing.failed == 2 and not result.complete and result.missing_chunks == [5]
    assert_every_record(result, truth, **{"OB-011": 6, "OB-012": 6})
    assert "gave up on a map request after 2 attempts" in result.failures[0]["error"]
    shown = json.dumps(result.to_dict()) + repr(result) + (result.stopped or "")
    assert KEY[:16] not in shown and KEY[-12:] not in shown
    stored = everything_stored()
    assert KEY[:16].encode() not in stored and KEY[-12:].encode() not in stored
    assert b"gave up on a map request" in stored  # the run's row holds the failure

    failing.enabled = False
    again = extract(path, max_attempts=2)
    assert again.complete and again.cache_hits == PAGES - 1
    assert_every_record(again, truth)


def test_a_rejected_key_is_an_error_that_does_not_show_it(
    make_fake_api: MakeFakeApi,
    document: tuple[Path, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, _ = document
    api = make_fake_api(api_key="the-right-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    with pytest.raises(docanalyze.DocanalyzeError) as caught:
        extract(path)
    message = str(caught.value) + repr(caught.value)
    assert "401" in message or "key" in message.lower()
    assert KEY[:16] not in message and KEY[-12:] not in message
    stored = everything_stored()
    assert KEY[:16].encode() not in stored and KEY[-12:].encode() not in stored


# --- 11. progress ------------------------------------------------------------------------------


def test_progress_never_finishes_more_steps_than_it_announced(
    serve: Callable[..., FakeMessagesAPI], tmp_path: Path
) -> None:
    path = tmp_path / "obligations.txt"
    truth = write_document(path)
    reworded = sentence(1001, {**fields_of(1), "action": "hand in report 1"})
    path.write_text(f"{path.read_text(encoding='utf-8')}\f{FILLER * 4}{reworded}", "utf-8")
    script = Scripted()
    script.on("REC-0003", cut(), cut())  # page 2 in halves
    script.on("REC-0007", ScriptedReply("not json"))  # page 4 asked again once
    script.on("REC-0009", refusal())  # page 5 refused
    serve(responder=script)
    events: list[object] = []
    result = extract(path, key=["id"], on_event=events.append)

    announced: dict[str, int] = {}
    finished: dict[str, int] = {}
    for event in events:
        if isinstance(event, StageStarted):
            announced[event.stage] = announced.get(event.stage, 0) + event.steps
        elif isinstance(event, StepFinished):
            finished[event.stage] = finished.get(event.stage, 0) + 1
            assert finished[event.stage] <= announced.get(event.stage, 0), event
        elif isinstance(event, RequestReasked):
            assert event.stage in announced, event
    assert announced == {"map": PAGES + 1, "reduce": 1}
    assert finished == {"map": PAGES, "reduce": 1}  # every chunk but the refused one
    reasons = [event.reason for event in events if isinstance(event, RequestReasked)]
    assert sorted(reasons) == ["max_tokens", "max_tokens", "off-schema"]
    assert result.missing_chunks == [4] and result.counts.resolved == 1
    expected = {name: page for name, page in truth.items() if page != 5}
    merged = {record.fields["id"]: record.pages for record in result.records}
    assert merged == {name: (page,) for name, page in expected.items()} | {"OB-001": (1, 7)}


# --- resolving records worded differently ------------------------------------------------------


class FailResolving:
    """A fake-server policy answering 500 to every resolve request holding ``text`` (one whose
    schema is one record, not a list of records)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.failed = 0

    def admit(self, exchange: Any) -> None:
        schema = exchange.body.get("output_config", {}).get("format", {}).get("schema", {})
        if "records" in schema.get("properties", {}) or self.text not in json.dumps(exchange.body):
            return
        self.failed += 1
        raise ApiError(500, "Internal server error", headers={"x-should-retry": "true"})


def test_a_resolve_request_failing_for_good_keeps_the_other_resolutions(
    make_fake_api: MakeFakeApi,
    document: tuple[Path, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, truth = document
    variants = [
        sentence(1000 + n, {**fields_of(n), "action": f"hand in report {n}"}) for n in (1, 2)
    ]
    path.write_text(
        f"{path.read_text(encoding='utf-8')}\f{FILLER * 2}{' '.join(variants)}", "utf-8"
    )
    failing = FailResolving("hand in report 2")
    api = make_fake_api(policies=[failing])
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    result = extract(path, key=["id"], max_attempts=2)

    assert failing.failed == 2
    assert not result.complete and result.exit_code == 3 and result.missing_chunks == []
    assert "failed for good" in (result.stopped or "")
    assert result.counts.resolved == 1 and result.counts.unresolved == 1
    rows = {(r.fields["id"], r.fields["action"], r.pages) for r in result.records}
    assert ("OB-001", "deliver report 1", (1, 7)) in rows  # resolved: one record, both pages
    assert {row for row in rows if row[0] == "OB-002"} == {
        ("OB-002", "deliver report 2", (1,)),
        ("OB-002", "hand in report 2", (7,)),
    }  # kept apart, not lost
    assert len(result.records) == len(truth) + 1


def test_a_span_cut_however_small_fails_its_chunk_and_keeps_the_others(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, truth = document
    script = Scripted()
    script.on("REC-0005", *[cut()] * 40)  # page 3: its REC-0005 half is cut every time
    serve(responder=script)
    result = extract(path)
    assert not result.complete and result.exit_code == 3 and result.missing_chunks == [2]
    assert "cut at max_tokens" in result.failures[0]["error"]
    assert_every_record(result, truth, **{"OB-005": 3})  # OB-006, the other half, is kept


def test_a_resolve_reply_off_the_schema_is_asked_again_at_most_twice_then_kept_apart(
    serve: Callable[..., FakeMessagesAPI], document: tuple[Path, dict[str, int]]
) -> None:
    path, _ = document
    variant = sentence(1002, {**fields_of(2), "action": "hand in report 2"})
    path.write_text(f"{path.read_text(encoding='utf-8')}\f{FILLER * 2}{variant}", "utf-8")
    script = Scripted()
    script.on("Write the one record that stands for all of them", *[reply()] * 10)
    serve(responder=script)
    events: list[object] = []
    result = extract(path, key=["id"], on_event=events.append)

    asked = script.asked("Write the one record that stands for all of them")
    assert len(asked) == MAX_INVALID_REASKS + 1 and len(set(asked)) == len(asked)
    assert result.complete and result.counts.unresolved == 1
    assert sorted(r.fields["action"] for r in result.records if r.fields["id"] == "OB-002") == [
        "deliver report 2",
        "hand in report 2",
    ]
    assert any("kept apart" in notice for notice in result.notices)
