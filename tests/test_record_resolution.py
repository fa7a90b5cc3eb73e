"""Resolving records worded differently: the model's record is used only when every value is
one of the records' it stands for, and records too large to merge are kept apart, never lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakeserver import FakeMessagesAPI, ScriptedReply
from tests.test_extract_robust import (
    FILLER,
    Scripted,
    extract,
    fields_of,
    sentence,
)

RESOLVE = "describe the same thing"


def two_wordings(path: Path, action: str = "deliver the audit report") -> None:
    """OB-001 on page 1 and page 2, worded differently; OB-002 once."""
    first = fields_of(1)
    second = {**first, "action": action}
    pages = [
        FILLER * 3 + sentence(1, first) + " " + FILLER * 3,
        FILLER * 3 + sentence(2) + " " + FILLER + sentence(3, second) + " " + FILLER * 2,
    ]
    path.write_text("\f".join(pages), encoding="utf-8")


def invented(number: int, **changes: Any) -> ScriptedReply:
    return ScriptedReply(json.dumps({**fields_of(number), **changes}))


def test_a_resolved_record_with_a_value_no_record_has_is_asked_again_then_kept_apart(
    tmp_path: Path, serve: Any
) -> None:
    path = tmp_path / "two.txt"
    two_wordings(path)
    model = Scripted()
    model.on(RESOLVE, *(invented(1, action="pay 900 EUR") for _ in range(3)))
    serve(responder=model)
    result = extract(path, key=["id"])
    rows = [record for record in result.records if record.fields["id"] == "OB-001"]
    assert len(rows) == 2 and not any(record.resolved for record in rows)
    assert {record.fields["action"] for record in rows} == {
        fields_of(1)["action"],
        "deliver the audit report",
    }
    asked = model.asked(RESOLVE)
    assert len(asked) == 3  # asked, then asked again twice with what was wrong
    assert "'pay 900 EUR' is not the value of any of the records" in asked[1]
    assert result.counts.unresolved == 1
    assert any("kept apart" in notice for notice in result.notices)


def test_a_resolved_record_that_takes_its_values_from_the_records_is_used(
    tmp_path: Path, serve: Any
) -> None:
    path = tmp_path / "two.txt"
    two_wordings(path)
    model = Scripted()
    model.on(RESOLVE, invented(1, action="deliver the audit report"))
    serve(responder=model)
    result = extract(path, key=["id"])
    (row,) = [record for record in result.records if record.fields["id"] == "OB-001"]
    assert row.resolved and row.fields["action"] == "deliver the audit report"
    assert row.pages == (1, 2) and row.status == "verified"


def test_two_records_too_large_to_merge_are_kept_apart_with_their_paid_records(
    tmp_path: Path, serve: Any
) -> None:
    """A resolve prompt that cannot fit the window even for two records (here: a resolve.j2 of
    the user's that is long): both kept as they are, with a notice, and the run complete."""
    path = tmp_path / "two.txt"
    two_wordings(path)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "resolve.j2").write_text(
        "{{ 'Read every record with care. ' * 2000 }}{% for r in records %}{{ r.fields }}"
        "{% endfor %}",
        encoding="utf-8",
    )
    api: FakeMessagesAPI = serve()
    result = extract(path, key=["id"], prompts_dir=prompts, context_window=8000, max_tokens=500)
    assert result.complete
    assert sorted(record.fields["id"] for record in result.records) == [
        "OB-001",
        "OB-001",
        "OB-002",
    ]
    assert result.counts.unresolved == 1
    assert any("do not fit one request" in notice for notice in result.notices)
    assert not [request for request in api.requests if "Read every record" in request.prompt]


def test_a_resolved_value_is_written_as_its_record_writes_it(tmp_path: Path, serve: Any) -> None:
    path = tmp_path / "two.txt"
    two_wordings(path)
    model = Scripted()
    model.on(RESOLVE, invented(1, id="ob-001", action="DELIVER THE AUDIT REPORT."))
    serve(responder=model)
    result = extract(path, key=["id"])
    (row,) = [record for record in result.records if record.fields["id"] == "OB-001"]
    assert row.resolved and row.fields["action"] == "deliver the audit report"


def test_three_wordings_too_large_for_one_request_take_no_request_for_a_lone_record(
    tmp_path: Path, serve: Any
) -> None:
    """Halves of one record and of two: the lone record is not sent, and the two results are
    resolved together (two requests of two records each), one row in the end."""
    path = tmp_path / "three.txt"
    wordings = ("deliver report 1", "hand in report 1", "submit report 1")
    pages = [
        FILLER * 3 + sentence(1, {**fields_of(1), "action": action}) + " " + FILLER * 3
        for action in wordings
    ]
    path.write_text("\f".join(pages), encoding="utf-8")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "resolve.j2").write_text(
        "Merge these. {% for r in records %}RECORD {{ r.fields }} {{ 'pad ' * 1200 }}{% endfor %}",
        encoding="utf-8",
    )
    model = Scripted()
    model.on("Merge these", *(invented(1, action=wordings[1]) for _ in range(4)))
    serve(responder=model)
    result = extract(path, key=["id"], prompts_dir=prompts, context_window=8000, max_tokens=500)
    assert [prompt.count("RECORD ") for prompt in model.asked("Merge these")] == [2, 2]
    (row,) = result.records
    assert row.resolved and row.fields["action"] == wordings[1] and row.pages == (1, 2, 3)
