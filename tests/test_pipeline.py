"""The map and hierarchical reduce, through in-process fake models."""

from __future__ import annotations

import re

import pytest

import docanalyze
from docanalyze.document import Document, Page
from docanalyze.errors import BudgetError
from docanalyze.events import Notice, StageStarted
from docanalyze.models.base import ModelRequest
from tests.fakes import RecordingModel

FACT_WITH_DETAIL = re.compile(r"(FACT-\d+)((?: detail)*)")


def long_document(pages: int = 40) -> Document:
    filler = "The committee reviewed the quarterly figures and noted steady progress. " * 20
    return Document(
        "long.txt",
        tuple(
            Page(n, f"{filler}\nFACT-{n:04d} was recorded on page {n}.\n{filler}")
            for n in range(1, pages + 1)
        ),
    )


def halving_responder(request: ModelRequest) -> str:
    """Every fact of the material, with detail that halves at each merge: content shrinks, facts stay."""
    material = "\n".join(request.material)
    if request.stage == "final":
        return " ".join(dict.fromkeys(re.findall(r"FACT-\d+", material)))
    if request.stage == "map":
        return "\n".join(f"- {fact}{' detail' * 60}" for fact in re.findall(r"FACT-\d+", material))
    lines = []
    for fact, detail in FACT_WITH_DETAIL.findall(material):
        lines.append(f"- {fact}{' detail' * (detail.count('detail') // 2)}")
    return "\n".join(lines)


def small_window_pipeline(model: RecordingModel, **options: object) -> docanalyze.Pipeline:
    settings: dict[str, object] = {"chunk_size": 3000, "chunk_overlap": 100, "max_tokens": 500}
    settings.update(options)
    return docanalyze.Pipeline(client=model, **settings)


def test_every_fact_reaches_the_report_through_several_reduce_levels() -> None:
    model = RecordingModel(context_window=3000, responder=halving_responder)
    report = small_window_pipeline(model).analyze(long_document())

    assert report.reduce_levels >= 2
    assert set(re.findall(r"FACT-\d+", report.text)) == {f"FACT-{n:04d}" for n in range(1, 41)}
    assert {request.stage for request in model.requests} == {"map", "reduce", "final"}
    assert report.usage.requests == len(model.requests)
    assert not report.truncated


def test_no_request_exceeds_the_window() -> None:
    model = RecordingModel(context_window=3000, responder=halving_responder)
    small_window_pipeline(model).analyze(long_document())
    limit = model.context_window
    for request in model.requests:
        assert model.estimate_tokens(request.prompt) + request.max_tokens <= limit


def test_chunks_know_their_pages_and_each_prompt_marks_them() -> None:
    model = RecordingModel(context_window=3000, responder=halving_responder)
    report = small_window_pipeline(model).analyze(long_document())

    pages_seen = set()
    for chunk in report.chunks:
        assert 1 <= chunk.first_page <= chunk.last_page <= 40
        pages_seen.update(range(chunk.first_page, chunk.last_page + 1))
    assert pages_seen == set(range(1, 41))
    map_requests = [r for r in model.requests if r.stage == "map"]
    for request in map_requests:
        markers = [
            int(n) for n in re.findall(r"^\[Page (\d+)\]$", request.material[0], re.MULTILINE)
        ]
        assert markers, "every map prompt names its pages"
        for fact in re.findall(r"FACT-(\d+)", request.material[0]):
            assert int(fact) in markers


def test_reduce_steps_of_a_level_run_concurrently() -> None:
    model = RecordingModel(context_window=3000, responder=halving_responder, delay=0.01)
    levels: list[int] = []
    pipeline = small_window_pipeline(
        model,
        on_event=lambda e: (
            levels.append(e.steps) if isinstance(e, StageStarted) and e.stage == "reduce" else None
        ),
    )
    pipeline.analyze(long_document())
    assert levels and max(levels) > 1
    assert model.max_in_flight["reduce"] > 1


def test_a_truncated_extraction_is_asked_again_not_dropped() -> None:
    def wordy(request: ModelRequest) -> str:
        """Extractions four times as long as their input: too long for one reply."""
        if request.stage == "map":
            facts = re.findall(r"FACT-\d+", request.material[0])
            return " ".join(facts) + " padding" * (len(request.material[0]) // 2)
        return " ".join(re.findall(r"FACT-\d+", "\n".join(request.material)))

    model = RecordingModel(context_window=8000, responder=wordy)
    report = small_window_pipeline(model).analyze(long_document(6))
    map_requests = [r for r in model.requests if r.stage == "map"]
    assert len(map_requests) > len(report.chunks), "truncated map replies were asked again"
    assert set(re.findall(r"FACT-\d+", report.text)) == {f"FACT-{n:04d}" for n in range(1, 7)}


def test_a_truncated_final_report_is_flagged() -> None:
    def long_final(request: ModelRequest) -> str:
        return "word " * 5000 if request.stage == "final" else "point"

    notices: list[str] = []
    model = RecordingModel(responder=long_final)
    report = docanalyze.Pipeline(
        client=model,
        max_tokens=300,
        on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None,
    ).analyze(long_document(3))
    assert report.truncated
    assert "incomplete" in report.text
    assert any("--max-tokens 300" in notice for notice in notices)
    assert report.to_dict()["truncated"] is True


def test_a_reduce_that_does_not_shrink_stops_with_the_budget_named() -> None:
    def bloating(request: ModelRequest) -> str:
        if request.stage == "map":
            return "x " * 400
        return "\n".join(request.material)

    model = RecordingModel(context_window=3000, responder=bloating)
    with pytest.raises(BudgetError, match="did not shrink|reduce budget"):
        small_window_pipeline(model).analyze(long_document())


def test_document_text_is_a_value_never_a_template() -> None:
    model = RecordingModel()
    document = Document(
        "t.txt", (Page(1, "Revenue {{ 7*7 }} and {% for x in y %}loop{% endfor %} stay."),)
    )
    docanalyze.Pipeline(client=model).analyze(document)
    map_prompt = model.requests[0].prompt
    assert "{{ 7*7 }}" in map_prompt and "{% for x in y %}" in map_prompt
    assert "49" not in map_prompt


def test_window_too_small_for_the_report_budget_names_it() -> None:
    model = RecordingModel(context_window=3000)
    with pytest.raises(BudgetError, match="--max-tokens 4096"):
        docanalyze.Pipeline(client=model).analyze(long_document(2))


def test_offline_report_without_a_key_says_so() -> None:
    notices: list[str] = []
    report = docanalyze.analyze(
        long_document(4),
        on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None,
    )
    assert report.backend == "extractive" and report.offline
    assert "offline" in report.text.lower()
    assert any("ANTHROPIC_API_KEY is not set" in notice for notice in notices)
    assert report.chunks and all(chunk.text for chunk in report.chunks)
