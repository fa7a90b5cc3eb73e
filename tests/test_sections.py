"""The final report in sections: one document, every fact once, in order, streamed in order."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.errors import RefusedRun
from docanalyze.events import Event, ReportText
from docanalyze.models.base import ModelReply, ModelRequest
from docanalyze.text.tokens import estimate_tokens
from fakeserver import FakeMessagesAPI, RecordedRequest
from tests.fakes import FACT, RecordingModel, StreamingModel, citing, is_map

HEADING = re.compile(r"^(#{1,2}) (.+)$", re.MULTILINE)
SECTION = re.compile(r"^## Pages (\d+)(?:–(\d+))?$")


def long_text(pages: int = 60) -> tuple[str, set[str]]:
    filler = "The committee reviewed the accounts, the staffing and the schedule in detail. " * 30
    texts = [f"FACT-{n:04d} was recorded on page {n}. {filler}" for n in range(1, pages + 1)]
    return "\f".join(texts), {f"FACT-{n:04d}" for n in range(1, pages + 1)}


OVERVIEW_QUOTE = "The committee reviewed the accounts, the staffing and the schedule in detail."
DETAIL = "with the committee's review of the accounts, the staffing and the schedule " * 4


def cited_facts(request: ModelRequest) -> str:
    """An echo of the request's material: each fact once, as a bullet quoting and citing its
    page (a map reply tells the fact in detail, as the partial results of a long report do)."""
    if request.stage == "final" and "<section_digest" in request.prompt:
        return f'An overview of {len(request.material)} sections: "{OVERVIEW_QUOTE}" (p. 1).'
    detail = DETAIL if request.stage == "map" else ""
    bullets: dict[str, None] = {}
    for text in request.material:
        for fact in FACT.findall(text):
            page = int(fact[5:])
            quote = f'"{fact} was recorded on page {page}."'
            bullets.setdefault(f"- {fact} was recorded {detail}{quote} (p. {page})", None)
    return "\n".join(bullets) or "nothing"


def check_structure(text: str, facts: set[str]) -> list[tuple[int, int]]:
    """One title, the overview, then sections in page order; every fact in its own section
    only. Returns the sections' page ranges."""
    headings = HEADING.findall(text)
    assert [level for level, _ in headings[:2]] == ["#", "##"]
    assert headings[1][1] == "Overview"
    assert sum(1 for level, _ in headings if level == "#") == 1, "one title"
    assert len({title for _, title in headings}) == len(headings), "no heading twice"
    assert text.startswith("# ")
    ranges = []
    for _, title in headings[2:]:
        match = SECTION.match(f"## {title}")
        assert match, f"an unexpected heading: {title}"
        first = int(match.group(1))
        ranges.append((first, int(match.group(2) or first)))
    assert len(ranges) >= 2
    assert ranges[0][0] == 1 and ranges == sorted(ranges)
    bodies = re.split(r"^## Pages .*$", text, flags=re.MULTILINE)[1:]
    for fact in facts:
        page = int(fact[5:])
        holders = [number for number, body in enumerate(bodies) if fact in body]
        assert len(holders) == 1, f"{fact} is in sections {holders}"
        first, last = ranges[holders[0]]
        assert first <= page <= last, f"{fact} is outside its section's pages"
    return ranges


def test_a_long_report_is_written_in_sections_that_read_as_one_document() -> None:
    text, facts = long_text()
    model = RecordingModel(responder=cited_facts, name="claude-sonnet-5-5")

    report = docanalyze.Pipeline(client=model, chunk_size=3000, max_tokens=4096).analyze(text)

    finals = [request for request in model.requests if request.stage == "final"]
    sections = [request for request in finals if "<section_digest" not in request.prompt]
    assert len(finals) == len(sections) + 1 >= 3, "the sections and one overview"
    check_structure(report.text, facts)
    assert not report.truncated
    # Every partial result went to exactly one section, and --max-tokens is shared.
    material = [text for request in sections for text in request.material]
    reduced = [r for r in model.requests if r.stage == "map"]
    assert len(material) == len(reduced)
    assert sum(request.max_tokens - request.thinking_allowance for request in finals) <= 4096


def test_sections_are_sent_at_once() -> None:
    text, _ = long_text()
    model = RecordingModel(responder=cited_facts, name="claude-sonnet-5-5", delay=0.05)
    docanalyze.Pipeline(client=model, chunk_size=3000).analyze(text)
    finals = sum(1 for request in model.requests if request.stage == "final")
    assert model.max_in_flight["final"] == finals


@pytest.mark.parametrize(
    ("settings", "single"),
    [
        ({"final": "single"}, True),
        ({"question": "Which facts were recorded?"}, True),
        ({"question": "Which facts were recorded?", "final": "sections"}, False),
        ({"max_tokens": 800}, True),
    ],
)
def test_when_the_report_is_one_request(settings: dict[str, object], single: bool) -> None:
    text, facts = long_text()
    model = RecordingModel(responder=cited_facts, name="claude-sonnet-5-5")
    report = docanalyze.Pipeline(client=model, chunk_size=3000, **settings).analyze(text)
    finals = [request for request in model.requests if request.stage == "final"]
    assert (len(finals) == 1) == single
    assert set(FACT.findall(report.text)) == facts


def test_a_short_document_is_one_request_and_the_offline_report_too() -> None:
    model = RecordingModel(responder=cited_facts, name="claude-sonnet-5-5")
    docanalyze.Pipeline(client=model).analyze("FACT-0001 is short.\fFACT-0002 too.")
    assert sum(1 for request in model.requests if request.stage == "final") == 1
    text, _ = long_text()
    offline = docanalyze.analyze(text, backend="extractive", chunk_size=3000, final="sections")
    assert offline.text.count("\n# ") + offline.text.startswith("# ") == 1


@pytest.mark.parametrize(
    ("long_sections", "told"),
    [
        ((2,), "section 2 of the report was cut at its share of --max-tokens"),
        ((1, 2), "section 1, section 2 of the report were cut at their share of --max-tokens"),
    ],
)
def test_a_section_cut_at_its_budget_marks_the_report_incomplete(
    long_sections: tuple[int, ...], told: str
) -> None:
    text, _ = long_text()
    notices: list[str] = []

    def long_second_section(request: ModelRequest) -> str:
        reply = cited_facts(request)
        asked = (f"This is section {n} of" in request.prompt for n in long_sections)
        if request.stage == "final" and any(asked):
            return reply + "\n" + "A long digression on the schedule. " * 2000
        return reply

    model = RecordingModel(responder=long_second_section, name="claude-sonnet-5-5")
    pipeline = docanalyze.Pipeline(
        client=model, chunk_size=3000, on_event=lambda e: notices.append(str(e))
    )
    report = pipeline.analyze(text)
    assert report.truncated
    assert "This report is incomplete" in report.text
    assert any(told in notice for notice in notices), notices


def test_a_refused_section_stops_the_run_with_its_pages() -> None:
    text, _ = long_text()

    class RefusesSectionTwo(RecordingModel):
        async def complete(self, request: ModelRequest) -> ModelReply:
            reply = await super().complete(request)
            if request.stage == "final" and "This is section 2 of" in request.prompt:
                return ModelReply("", "refusal", self.name, reply.usage)
            return reply

    model = RefusesSectionTwo(responder=cited_facts, name="claude-sonnet-5-5")
    with pytest.raises(RefusedRun) as caught:
        docanalyze.Pipeline(client=model, chunk_size=3000).analyze(text)
    [part] = caught.value.report.refusals
    assert part["stage"] == "final" and part["first_page"] > 1


def test_a_streamed_sectioned_report_comes_out_in_order_and_adds_up() -> None:
    text, facts = long_text()
    events: list[Event] = []
    model = StreamingModel(responder=cited_facts, name="claude-sonnet-5-5", delay=0.01)
    pipeline = docanalyze.Pipeline(
        client=model, chunk_size=3000, stream=True, on_event=events.append
    )
    report = pipeline.analyze(text)
    pieces = [event for event in events if isinstance(event, ReportText)]
    assert not any(piece.restart for piece in pieces)
    assert "".join(piece.text for piece in pieces) == report.text
    check_structure(report.text, facts)
    # The first piece (title and overview) streamed live, in more than one delta.
    overview_end = report.text.index("## Pages")
    streamed = 0
    for count, piece in enumerate(pieces, 1):
        streamed += len(piece.text)
        if streamed >= overview_end:
            assert count > 1
            break


def test_the_cli_writes_sections_through_the_fake_server(
    make_fake_api: Callable[..., FakeMessagesAPI], tmp_path: Path
) -> None:
    text, facts = long_text()
    (tmp_path / "long.txt").write_text(text, encoding="utf-8")

    def cited(request: RecordedRequest) -> str:
        if "You are writing the overview" in request.prompt:
            return "An overview of the sections, from FACT-0001 on (p. 1)."
        detail = DETAIL if is_map(request) else ""
        pages = dict.fromkeys(re.findall(r"FACT-(\d+)", request.prompt))
        bullets = (f"- FACT-{n} was recorded {detail}(p. {int(n)})" for n in pages)
        return "\n".join(bullets) or "nothing"

    server = make_fake_api(responder=citing(cited), model_rules=True)
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}
    result = CliRunner().invoke(
        cli,
        ["report", str(tmp_path / "long.txt"), "--chunk-size", "3000", "--format", "json"],
        env=env,
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    check_structure(report["report"], facts)
    assert {citation["status"] for citation in report["citations"]} == {"verified"}
    assert report["usage_by_stage"]["final"]["requests"] >= 3
    assert estimate_tokens(report["report"]) > 0


def test_plan_and_dry_run_show_the_sectioned_final(tmp_path: Path) -> None:
    text, _ = long_text(400)
    sectioned = docanalyze.plan_run(text, backend="anthropic")
    single = docanalyze.plan_run(text, backend="anthropic", final="single")
    [final] = [stage for stage in sectioned.stages if stage.stage == "final"]
    [one] = [stage for stage in single.stages if stage.stage == "final"]
    assert len(final.requests) >= 3 and final.label == f"final: {len(final.requests) - 1} sections"
    assert len(one.requests) == 1
    assert final.seconds < one.seconds, "sections written at once finish sooner"
    text_budgets = [r.output_tokens - r.thinking_tokens for r in final.requests]
    assert sum(text_budgets) <= 4096

    titles = [p.title for p in docanalyze.preview_prompts(text, backend="anthropic").previews]
    assert titles[2:] == ["final: the overview", "final: section 1 of 2"]
    single_titles = docanalyze.preview_prompts(text, backend="anthropic", final="single").previews
    assert [p.title for p in single_titles][2:] == ["final report"]
