"""Grounded reports: every page citation rests on a quote that docanalyze checked against the page
text, from the map's citations through the reduce to the final report (issue 20)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import docanalyze
import docanalyze.run.pipeline
from docanalyze.citations.pages import CITATION, parse_pages
from docanalyze.document import Document, Page
from docanalyze.models.base import CitableText, ModelReply, ReplyBlock, ReplyCitation, Usage
from docanalyze.options import Options
from docanalyze.planning.model import PlannedModel
from docanalyze.prompting.templates import PromptSet
from docanalyze.run.grounding import ground_reply, points_text, written_points
from docanalyze.run.map import map_prompt
from docanalyze.run.prepare import prepare_run
from tests.citing_fakes import INVENTED, NOWHERE, CitingModel, QuotingModel

FILLER = "The inspectors walked the site and recorded the condition of every pump. " * 25
CHINESE_FILLER = "检查人员走遍了现场，记录了每台水泵的状况。" * 40


def english_document(pages: int = 24) -> Document:
    return Document(
        "site.txt",
        tuple(
            Page(n, f"{FILLER}\nFACT-{n:04d} was recorded by the inspectors on page {n}.\n{FILLER}")
            for n in range(1, pages + 1)
        ),
    )


def chinese_document(pages: int = 6) -> Document:
    return Document(
        "现场.txt",
        tuple(
            Page(
                n,
                f"{CHINESE_FILLER}\n检查人员在第{n}页记录了FACT-{n:04d}号水泵的故障。\n{CHINESE_FILLER}",
            )
            for n in range(1, pages + 1)
        ),
    )


SMALL_WINDOW = {
    "chunk_size": 3000,
    "max_tokens": 600,
    "map_max_tokens": 300,
    "reduce_max_tokens": 500,
}


def fact_pages(text: str) -> dict[str, set[int]]:
    """Each fact of a report and the pages its lines cite."""
    found: dict[str, set[int]] = {}
    for line in text.splitlines():
        for fact in re.findall(r"FACT-\d+", line):
            pages = [
                page for match in CITATION.finditer(line) for page in parse_pages(match["pages"])
            ]
            found.setdefault(fact, set()).update(pages)
    return found


def run(model: Any, document: Document, **options: Any) -> docanalyze.Report:
    settings: dict[str, Any] = {"chunk_size": 4000, "chunk_overlap": 0, "final": "single"}
    settings.update(options)
    return docanalyze.Pipeline(client=model, **settings).analyze(document)


def test_a_faultless_citing_model_grounds_every_fact_on_its_page_through_the_reduce() -> None:
    model = CitingModel(context_window=3000)
    report = run(model, english_document(48), thinking="off", **SMALL_WINDOW)

    assert report.reduce_levels >= 1
    found = fact_pages(report.text)
    assert set(found) == {f"FACT-{n:04d}" for n in range(1, 49)}
    assert all(int(fact[5:]) in pages for fact, pages in found.items())
    checked = len(report.citations)
    assert [citation.status for citation in report.citations] == ["verified"] * checked
    for citation in report.citations:  # merged claims carry each of their points' page quotes
        assert citation.quote is not None
        assert all(f"on page {page}." in citation.quote for page in citation.pages)
    assert sum(len(citation.pages) >= 2 for citation in report.citations) >= checked // 2
    assert report.text.rstrip().endswith(
        f"Citations: {checked} verified, 0 corrected to their true page, 0 unsupported."
    )
    maps = [request for request in model.requests if request.stage == "map"]
    assert all(request.citable and request.citable[0].kind == "page" for request in maps)
    assert all("inspectors walked" not in request.prompt for request in maps), "sent once"
    merges = [request for request in model.requests if request.stage != "map"]
    assert all(item.kind == "point" for request in merges for item in request.citable)
    chunk_points = [point for chunk in report.chunks for point in chunk.points]
    assert {point.pages for point in chunk_points if point.quotes} == {(n,) for n in range(1, 49)}
    assert json.loads(report.to_json())["chunks"][0]["points"][0]["quotes"]


def test_an_erring_model_gets_its_wrong_page_corrected_and_its_inventions_marked() -> None:
    model = CitingModel(wrong_page=True, invent=True, quote_nowhere=True)
    report = run(model, english_document(6))

    by_claim = {citation.claim: citation for citation in report.citations}
    first = by_claim["FACT-0001 was recorded by the inspectors on page 1."]
    assert (first.status, first.pages, first.cited_pages) == ("corrected", (1,), (2,))
    assert "- FACT-0001 was recorded by the inspectors on page 1. (p. 1)" in report.text
    assert by_claim[INVENTED].status == "unsupported"
    assert by_claim[NOWHERE].status == "unsupported"
    assert f"- {INVENTED} ⚠ unsupported" in report.text
    assert f"{NOWHERE} (p. 1) ⚠ unsupported" in report.text
    assert report.text.rstrip().endswith(
        "Citations: 5 verified, 1 corrected to their true page, 2 unsupported (marked ⚠)."
    )
    rows = json.loads(report.to_json())["citations"]
    assert [row["status"] for row in rows].count("verified") == 5
    assert {"claim": INVENTED, "pages": [], "quote": None, "status": "unsupported"} in rows


def test_unsupported_drop_leaves_the_inventions_out() -> None:
    model = CitingModel(invent=True, quote_nowhere=True)
    report = run(model, english_document(6), unsupported="drop")

    assert "FACT-9001" not in report.text and "FACT-9002" not in report.text
    assert "⚠" not in report.text.replace("(dropped)", "")
    assert report.text.rstrip().endswith(
        "Citations: 6 verified, 0 corrected to their true page, 2 unsupported (dropped)."
    )
    assert [citation.status for citation in report.citations].count("unsupported") == 2


def test_a_sectioned_report_checks_every_section_and_the_overview() -> None:
    model = CitingModel(wrong_page=True)
    report = run(model, english_document(), final="sections", max_tokens=2000)

    assert report.text.count("\n## Pages") >= 2
    statuses = [citation.status for citation in report.citations]
    assert statuses.count("unsupported") == 0 and statuses.count("corrected") >= 2
    assert fact_pages(report.text) == {f"FACT-{n:04d}": {n} for n in range(1, 25)}
    finals = [request for request in model.requests if request.stage == "final"]
    assert len(finals) >= 3 and all(request.citable for request in finals)
    assert report.text.count("Citations:") == 1


def test_a_chinese_report_is_checked_the_same_with_fullwidth_citations() -> None:
    model = CitingModel(wrong_page=True, invent=True)
    report = run(model, chinese_document())

    by_claim = {citation.claim: citation for citation in report.citations}
    first = by_claim["检查人员在第1页记录了FACT-0001号水泵的故障。"]
    assert (first.status, first.pages) == ("corrected", (1,))
    assert "检查人员在第1页记录了FACT-0001号水泵的故障。 （p. 1）" in report.text
    assert fact_pages(report.text) == {
        **{f"FACT-{n:04d}": {n} for n in range(1, 7)},
        "FACT-9001": set(),
    }
    statuses = [citation.status for citation in report.citations]
    assert statuses == ["corrected"] + ["verified"] * 5 + ["unsupported"]


def test_a_model_without_citations_quotes_and_is_checked_the_same() -> None:
    model = QuotingModel(wrong_page=True, quote_nowhere=True)
    report = run(model, english_document(6))

    assert all(not request.citable for request in model.requests)
    map_prompt_text = next(r.prompt for r in model.requests if r.stage == "map")
    assert "quoted verbatim in double quotes" in map_prompt_text
    assert "inspectors walked" in map_prompt_text
    statuses = [citation.status for citation in report.citations]
    assert statuses == ["corrected", "unsupported"] + ["verified"] * 5
    assert '"FACT-0001 was recorded by the inspectors on page 1." (p. 1)' in report.text
    assert "⚠ unsupported" in report.text
    points = [point for chunk in report.chunks for point in chunk.points]
    assert points[0].quotes == ("FACT-0001 was recorded by the inspectors on page 1.",)


def test_a_user_map_template_that_still_writes_the_text_is_told_it_pays_twice(
    tmp_path: Any,
) -> None:
    (tmp_path / "map.j2").write_text("Extract the key points.\n\n{{ text }}\n", encoding="utf-8")
    notices: list[str] = []
    pipeline = docanalyze.Pipeline(
        client=CitingModel(),
        prompts_dir=tmp_path,
        chunk_size=4000,
        on_event=lambda event: notices.append(getattr(event, "message", "")),
    )
    pipeline.analyze(english_document(4))
    twice = [notice for notice in notices if "pays for its text twice" in notice]
    assert len(twice) == 1


def test_every_input_estimate_counts_the_citable_text() -> None:
    document = english_document(3)
    options = Options(chunk_size=100_000)
    prepared = prepare_run(document, options, PromptSet.load(), PlannedModel.for_options(options))
    renderer, chunk = prepared.renderer, prepared.chunks[0]
    rendered = map_prompt(renderer, chunk, chunk.start, chunk.end)
    request = renderer.stage_request("map", rendered.prompt, 1000, (), rendered.citable)
    text_tokens = renderer.limits.estimate_tokens(document.text)

    assert [item.title for item in request.citable] == ["Page 1", "Page 2", "Page 3"]
    assert renderer.limits.estimate_tokens(request.prompt) < text_tokens
    assert renderer.input_estimate(request) > text_tokens
    assert rendered.tokens >= renderer.input_estimate(request) - 1


def test_a_resumed_run_answered_from_the_store_is_checked_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = CitingModel(name="claude-sonnet-5-5", wrong_page=True, invent=True)

    def create_model(options: Options, events: object) -> tuple[CitingModel, list[str]]:
        return model, []

    monkeypatch.setattr(docanalyze.run.pipeline, "_create_model", create_model)
    settings = {"chunk_size": 4000, "chunk_overlap": 0, "final": "single"}
    first = docanalyze.Pipeline(**settings).analyze(english_document(6))
    asked = len(model.requests)
    again = docanalyze.Pipeline(**settings).analyze(english_document(6))

    assert len(model.requests) == asked, "every reply came from the store"
    assert again.cache_hits == asked
    assert again.text == first.text
    assert [c.status for c in again.citations] == [c.status for c in first.citations]
    assert [c.status for c in first.citations].count("verified") == 5


def test_a_combined_report_checks_each_citation_against_the_document_it_names() -> None:
    first = english_document(3)
    second = Document(
        "other.txt",
        tuple(Page(p.number, p.text.replace("FACT-000", "FACT-010")) for p in first.pages),
    )
    model = CitingModel(invent=True)
    pipeline = docanalyze.Pipeline(client=model, chunk_size=4000, chunk_overlap=0, final="single")
    report = pipeline.analyze_many(
        [Document("site.txt", first.pages), second], combine=True
    ).reports[0]

    assert "FACT-0102 was recorded by the inspectors on page 2. (other.txt, p. 2)" in report.text
    assert "FACT-0002 was recorded by the inspectors on page 2. (site.txt, p. 2)" in report.text
    statuses = [citation.status for citation in report.citations]
    assert statuses == ["verified"] * 6 + ["unsupported"]


def test_a_bullet_of_several_sentences_stays_one_point_under_the_citation_that_ends_it() -> None:
    page = "The main risk is a slowdown. Its impact is not stated."
    citable = (CitableText(page, "Page 7", (7,), "page"),)
    bullet = "- Risk: a slowdown. | Impact: not stated (p. 7)\n- Other: none. (p. 7)"
    reply = ModelReply(
        text=bullet,
        stop_reason="end_turn",
        model="claude-sonnet-5-5",
        usage=Usage(),
        duration=0.0,
        blocks=(ReplyBlock(bullet, (ReplyCitation(0, page),)),),
    )
    grounded = ground_reply(reply, citable)
    assert points_text(grounded.points) == bullet
    assert [point.quotes for point in grounded.points] == [(page,), (page,)]
    assert [(point.claim, point.pages) for point in written_points(bullet)] == [
        ("Risk: a slowdown | Impact: not stated", (7,)),
        ("Other: none", (7,)),
    ]
