"""The map and hierarchical reduce, through in-process fake models."""

from __future__ import annotations

import re
from typing import Any

import pytest

import docanalyze
import docanalyze.run.pipeline
from docanalyze.cost import PriceTable
from docanalyze.document import Document, Page
from docanalyze.errors import BudgetError, ConfigError, CostLimitReached
from docanalyze.events import Notice, ReportText, StageStarted
from docanalyze.models.anthropic.catalog import PRICES_CHECKED
from docanalyze.models.base import ModelRequest, Usage
from tests.fakes import RecordingModel, StreamingModel

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
    """Every fact of the material, with detail halving at each merge: content shrinks, facts stay."""
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
    asked: set[str] = set()

    def wordy(request: ModelRequest) -> str:
        """The first extraction of a text is too long for one reply; asked again, it fits."""
        if request.stage == "map":
            facts = " ".join(re.findall(r"FACT-\d+", request.material[0]))
            if request.material[0] in asked:
                return facts
            asked.add(request.material[0])
            return facts + " padding" * request.max_tokens
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
    assert report.usage.requests == 0 and report.usage.estimated


# --- usage, cost, --max-cost, models of each part, streaming -------------------------------------

EXPENSIVE = PriceTable.from_catalog().with_prices({"fake-model": {"input": 1000, "output": 1000}})
"""USD 1 per thousand tokens: a few requests cost dollars, so budgets are easy to reason about."""


def test_usage_by_stage_and_by_model_adds_up_to_the_total() -> None:
    model = RecordingModel(context_window=3000, responder=halving_responder, cache_read_tokens=7)
    report = small_window_pipeline(model, prices=EXPENSIVE).analyze(long_document())

    assert set(report.usage_by_stage) == {"map", "reduce", "final"}
    assert sum(report.usage_by_stage.values(), Usage()) == report.usage
    assert sum(report.usage_by_model.values(), Usage()) == report.usage
    assert report.usage == sum((reply.usage for reply in model.replies), Usage())
    assert report.usage.cache_read_input_tokens == 7 * len(model.requests)
    assert report.cost == pytest.approx(EXPENSIVE.cost("fake-model", report.usage))
    assert report.cost_by_model == {"fake-model": report.cost}
    data = report.to_dict()
    assert data["complete"] is True and data["missing_chunks"] == []
    assert data["usage"]["estimated"] is False
    assert data["cost"]["total"] == pytest.approx(report.cost)
    assert data["cost"]["prices_checked"] == PRICES_CHECKED
    assert data["usage_by_stage"]["map"]["requests"] == report.usage_by_stage["map"].requests


def test_an_unknown_price_is_said_once_and_the_cost_is_none() -> None:
    notices: list[str] = []
    report = docanalyze.Pipeline(
        client=RecordingModel(),
        on_event=lambda e: notices.append(e.message) if isinstance(e, Notice) else None,
    ).analyze(long_document(3))
    assert report.cost is None and report.cost_by_model == {"fake-model": None}
    unknown = [notice for notice in notices if "price of model fake-model unknown" in notice]
    assert len(unknown) == 1 and "DOCANALYZE_PRICES" in unknown[0]


def test_each_part_names_the_model_that_wrote_it() -> None:
    def fallback_for_reduce(request: ModelRequest) -> str:
        return "claude-haiku-4-5" if request.stage == "reduce" else "claude-sonnet-5-5"

    model = RecordingModel(
        context_window=3000, responder=halving_responder, reply_model=fallback_for_reduce
    )
    report = small_window_pipeline(model).analyze(long_document())

    assert report.reduce_levels >= 2
    assert report.stage_models["map"] == ["claude-sonnet-5-5"]
    assert report.stage_models["final"] == ["claude-sonnet-5-5"]
    reduce_parts = [part for part in report.stage_models if part.startswith("reduce-")]
    assert reduce_parts == [f"reduce-{n}" for n in range(1, report.reduce_levels + 1)]
    assert all(report.stage_models[part] == ["claude-haiku-4-5"] for part in reduce_parts)
    assert all(chunk.model == "claude-sonnet-5-5" for chunk in report.chunks)
    assert report.model == "claude-haiku-4-5, claude-sonnet-5-5"
    assert report.usage_by_model["claude-haiku-4-5"] == report.usage_by_stage["reduce"]
    haiku, sonnet = (
        report.cost_by_model["claude-haiku-4-5"],
        report.cost_by_model["claude-sonnet-5-5"],
    )
    assert haiku is not None and sonnet is not None and report.cost == pytest.approx(haiku + sonnet)
    assert report.to_dict()["stage_models"]["final"] == ["claude-sonnet-5-5"]


def test_max_cost_stops_before_exceeding_it_and_keeps_what_was_paid_for() -> None:
    events: list[object] = []
    sent_at_stop: list[int] = []
    model = RecordingModel(context_window=3000, responder=halving_responder, delay=0.02)

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, Notice) and "stopping before exceeding" in event.message:
            sent_at_stop.append(len(model.requests))

    pipeline = small_window_pipeline(model, prices=EXPENSIVE, max_cost=10.0, on_event=on_event)
    with pytest.raises(CostLimitReached) as stopped:
        pipeline.analyze(long_document())

    spent = sum(EXPENSIVE.cost("fake-model", reply.usage) or 0.0 for reply in model.replies)
    assert 0 < spent <= 10.0
    assert sent_at_stop == [len(model.requests)], "no request was sent after the stop"
    assert len(model.replies) == len(model.requests), "requests in flight finished and count"
    partial = stopped.value.report
    assert partial.complete is False and partial.usage.requests == len(model.requests)
    assert partial.cost == pytest.approx(spent)
    assert "INCOMPLETE" in partial.text.splitlines()[0]
    assert len(partial.chunks) == len(model.replies) >= 2
    for chunk in partial.chunks:
        assert f"## Chunk {chunk.index + 1} (page {chunk.first_page})" in partial.text
        assert chunk.text and chunk.text in partial.text
    assert partial.missing_chunks and "## Missing chunks" in partial.text
    assert all(index not in partial.missing_chunks for index in (c.index for c in partial.chunks))
    message = str(stopped.value)
    assert "\n" not in message and "raise --max-cost" in message and "$10.00" in message
    assert partial.to_dict()["complete"] is False


def test_a_stop_at_the_final_step_keeps_every_extraction() -> None:
    model = RecordingModel()
    pipeline = docanalyze.Pipeline(client=model, prices=EXPENSIVE, map_max_tokens=256, max_cost=5.3)
    with pytest.raises(CostLimitReached, match="2 of 2 chunks extracted") as stopped:
        pipeline.analyze(long_document(4))
    assert [request.stage for request in model.requests] == ["map", "map"]
    partial = stopped.value.report
    assert "All 2 chunks were extracted" in partial.text and not partial.missing_chunks
    assert set(re.findall(r"FACT-\d+", partial.text)) == {f"FACT-{n:04d}" for n in range(1, 5)}


def test_a_run_within_budget_is_unaffected() -> None:
    free = RecordingModel(context_window=3000, responder=halving_responder)
    capped = RecordingModel(context_window=3000, responder=halving_responder)
    plain = small_window_pipeline(free, prices=EXPENSIVE).analyze(long_document())
    within = small_window_pipeline(capped, prices=EXPENSIVE, max_cost=10_000.0).analyze(
        long_document()
    )
    assert within.text == plain.text and within.complete
    assert len(capped.requests) == len(free.requests)


def test_max_cost_with_an_unknown_price_is_an_error_up_front() -> None:
    model = RecordingModel()
    with pytest.raises(ConfigError, match="price of model fake-model unknown"):
        docanalyze.Pipeline(client=model, max_cost=1.0).analyze(long_document(2))
    assert model.requests == []
    with pytest.raises(ConfigError, match="price of model mystery-fallback unknown"):
        docanalyze.Pipeline(
            client=model, prices=EXPENSIVE, max_cost=1.0, fallback_model="mystery-fallback"
        ).analyze(long_document(2))


def test_retries_and_rate_limits_are_counted_from_events(monkeypatch: pytest.MonkeyPatch) -> None:
    model = RecordingModel(retries_before_first_reply=(429, 529, 429))

    def create_model(options: object, **kwargs: Any) -> tuple[RecordingModel, list[str]]:
        model.on_event = kwargs["on_event"]
        return model, []

    monkeypatch.setattr(docanalyze.run.pipeline, "create_model", create_model)
    report = docanalyze.Pipeline().analyze(long_document(2))
    assert (report.retries, report.rate_limited) == (3, 2)
    assert report.to_dict()["retries"] == 3 and report.to_dict()["rate_limited"] == 2


def streamed_text(events: list[object]) -> str:
    text = ""
    for event in events:
        if isinstance(event, ReportText):
            text = "" if event.restart else text + event.text
    return text


@pytest.mark.parametrize("restart_after", [None, 3])
def test_the_streamed_report_adds_up_to_the_report_text(restart_after: int | None) -> None:
    def spaced_final(request: ModelRequest) -> str:
        facts = re.findall(r"FACT-\d+", "\n".join(request.material))
        spaced = "\n\n  " + "  \n\n\n".join(facts[:2]) + "\n" + "\n".join(facts[2:]) + "  \n\n"
        return spaced if request.stage == "final" else " ".join(facts)

    events: list[object] = []
    model = StreamingModel(responder=spaced_final, restart_after=restart_after)
    report = docanalyze.Pipeline(
        client=model, stream=True, max_tokens=300, on_event=events.append
    ).analyze(long_document(3))

    deltas = [e for e in events if isinstance(e, ReportText)]
    assert len(deltas) > 3, "the final reply arrived line by line"
    assert [request.stage for request in model.streamed] == ["final"]
    assert streamed_text(events) == report.text
    assert any(e.restart for e in deltas) == (restart_after is not None)


def test_a_truncated_streamed_report_gets_its_note_as_the_last_piece() -> None:
    def long_final(request: ModelRequest) -> str:
        return "word " * 5000 if request.stage == "final" else "point"

    events: list[object] = []
    report = docanalyze.Pipeline(
        client=StreamingModel(responder=long_final),
        stream=True,
        max_tokens=300,
        on_event=events.append,
    ).analyze(long_document(3))
    assert report.truncated
    assert streamed_text(events) == report.text
    last = [e for e in events if isinstance(e, ReportText)][-1]
    assert isinstance(last, ReportText) and "incomplete" in last.text


@pytest.mark.parametrize("client", [RecordingModel(), None], ids=["no-streaming", "extractive"])
def test_models_that_cannot_stream_send_the_report_at_once(client: RecordingModel | None) -> None:
    events: list[object] = []
    report = docanalyze.Pipeline(client=client, stream=True, on_event=events.append).analyze(
        long_document(3)
    )
    assert streamed_text(events) == report.text
    assert len([e for e in events if isinstance(e, ReportText)]) <= 2


def test_a_tight_budget_waits_for_requests_in_flight_instead_of_stopping() -> None:
    """Holding every concurrent request's worst case would break this budget; waiting does not."""
    free = RecordingModel(context_window=3000)
    plain = small_window_pipeline(free, prices=EXPENSIVE).analyze(long_document())
    prices = EXPENSIVE.get("fake-model")
    assert plain.cost is not None and prices is not None
    worst = [
        prices.worst_case(free.estimate_tokens(request.prompt), request.max_tokens)
        for request in free.requests
    ]
    limit = plain.cost + max(worst)
    map_worst = sum(w for w, r in zip(worst, free.requests, strict=True) if r.stage == "map")
    assert map_worst > limit, "all map requests at once would not fit"

    capped = RecordingModel(context_window=3000, delay=0.005)
    report = small_window_pipeline(capped, prices=EXPENSIVE, max_cost=limit).analyze(
        long_document()
    )
    assert report.complete and report.text == plain.text
    assert report.cost == pytest.approx(plain.cost)


def test_a_long_line_of_text_is_analyzed_as_text() -> None:
    text = "The lease runs for five years and the rent rises by two percent each year. " * 10
    report = docanalyze.analyze(text.strip(), backend="extractive")
    assert "lease" in report.text and report.source == "<text>"
