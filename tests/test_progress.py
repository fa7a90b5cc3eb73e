"""Progress: each stage finishes each of its steps once, re-asks, retries and waits are events of
their own, and the terminal bar never counts past its total (through the fake server)."""

from __future__ import annotations

import asyncio
import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

import docanalyze
from docanalyze.cli.display import ProgressDisplay
from docanalyze.errors import CostLimitReached
from docanalyze.events import (
    Event,
    RequestReasked,
    RequestRetried,
    StageStarted,
    StepFinished,
    Waiting,
)
from docanalyze.models.base import Usage
from docanalyze.options import Options
from docanalyze.report.result import Report
from docanalyze.run.backend import create_model
from fakeserver import FakeMessagesAPI, RecordedRequest
from fakeserver.faults import Faults
from tests.fakes import RecordingModel
from tests.test_pipeline import EXPENSIVE, halving_responder, long_document, small_window_pipeline
from tests.test_prompt_caching import use_server, write_long_templates

SENTENCE = "The committee reviewed the accounts and the schedule. "
COUNT = re.compile(r"(\d+)/(\d+)")


def document(pages: int = 15) -> str:
    """Pages of 30 sentences, every fourth of 60: long enough to be cut and asked again."""
    return "\f".join(
        f"FACT-{n:04d} was recorded on page {n}. " + SENTENCE * (60 if n % 4 == 0 else 30)
        for n in range(1, pages + 1)
    )


def one_bullet_a_sentence(request: RecordedRequest) -> str:
    """A map reply as long as its text (so a cut span fits in halves); the others cite facts."""
    if "<section_digest" in request.prompt:
        return "An overview of the sections."
    facts = dict.fromkeys(re.findall(r"FACT-(\d+)", request.prompt))
    bullets = [f"- FACT-{n} was recorded (p. {int(n)})" for n in facts]
    if "<document_part>" in request.prompt:
        bullets += ["- the committee reviewed the accounts (p. 1)"] * request.prompt.count(
            "committee reviewed"
        )
    return "\n".join(bullets) or "nothing"


def run_with_reasks(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    on_event: Callable[[Event], None],
) -> Report:
    """A run through the fake server that meets everything progress must tell: the Models API,
    a cached prompt, map replies cut at max_tokens, 529s retried, a report in sections."""
    server = make_fake_api(
        responder=one_bullet_a_sentence,
        model_rules=True,
        latency=0.02,
        faults=Faults(seed=3, overloaded=0.1),
    )
    use_server(monkeypatch, server)
    pipeline = docanalyze.Pipeline(
        backend="anthropic",
        chunk_size=4000,
        map_max_tokens=300,
        prompts_dir=write_long_templates(tmp_path / "prompts"),
        cache="off",
        on_event=on_event,
    )
    return pipeline.analyze(document())


def check_steps(events: list[Event]) -> Counter[tuple[str, int]]:
    """Every step finished belongs to the stage running and never passes its total; returns
    the steps finished by stage and level."""
    totals: dict[tuple[str, int], int] = {}
    finished: Counter[tuple[str, int]] = Counter()
    for event in events:
        if isinstance(event, StageStarted):
            totals[event.stage, event.level] = event.steps
        elif isinstance(event, StepFinished):
            key = (event.stage, event.level)
            finished[key] += 1
            assert finished[key] <= totals[key], f"{key}: {finished[key]}/{totals[key]}"
    return finished


def test_each_step_is_finished_once_and_reasks_retries_waits_are_their_own_events(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events: list[Event] = []
    report = run_with_reasks(make_fake_api, monkeypatch, tmp_path, events.append)

    started = {(e.stage, e.level): e.steps for e in events if isinstance(e, StageStarted)}
    assert started[("map", 0)] == len(report.chunks)
    assert started[("final", 0)] >= 3, "the report is written in sections"
    assert check_steps(events) == started, "every stage ends exactly at its total"
    assert report.usage_by_stage["map"].requests > len(report.chunks), "the run re-asked"
    steps = [e for e in events if isinstance(e, StepFinished)]
    assert sum((e.usage for e in steps), Usage()) == report.usage, "each request counted once"

    reasks = [e for e in events if isinstance(e, RequestReasked)]
    assert reasks and {(e.stage, e.reason) for e in reasks} == {("map", "max_tokens")}
    assert report.retries == sum(isinstance(e, RequestRetried) for e in events) > 0

    first_step = events.index(steps[0])
    waits = [e.what for e in events[:first_step] if isinstance(e, Waiting)]
    assert waits[0] == "the Models API"
    assert "the first request, which writes the prompt cache" in waits


def test_a_rate_limit_pause_is_told_with_its_seconds() -> None:
    events: list[Event] = []
    model, _ = create_model(
        Options(backend="anthropic"), env={"ANTHROPIC_API_KEY": "test-key"}, on_event=events.append
    )
    limiter = model.limiter  # type: ignore[attr-defined]
    limiter.cooldown(0.2)  # as after a 429

    asyncio.run(limiter.acquire(10, 10, model.on_pause))  # type: ignore[attr-defined]

    [wait] = [e for e in events if isinstance(e, Waiting)]
    assert wait.what == "a rate-limit pause"
    assert wait.seconds is not None and 0.2 <= wait.seconds <= 0.5


def test_reduce_levels_count_groups_not_the_halves_of_a_cut_merge() -> None:
    events: list[Event] = []
    model = RecordingModel(context_window=3000, responder=halving_responder)
    report = small_window_pipeline(model, on_event=events.append).analyze(long_document())

    started = {(e.stage, e.level): e.steps for e in events if isinstance(e, StageStarted)}
    assert report.reduce_levels >= 2 and ("reduce", 2) in started
    assert check_steps(events) == started
    reduce_steps = sum(steps for (stage, _), steps in started.items() if stage == "reduce")
    assert report.usage_by_stage["reduce"].requests > reduce_steps, "merges were cut and halved"
    assert any(isinstance(e, RequestReasked) and e.stage == "reduce" for e in events)


def test_a_run_stopped_early_does_not_finish_its_stage() -> None:
    events: list[Event] = []
    model = RecordingModel(context_window=3000, responder=halving_responder, delay=0.02)
    pipeline = small_window_pipeline(
        model, prices=EXPENSIVE, max_cost=70.0, map_max_tokens=80, on_event=events.append
    )
    with pytest.raises(CostLimitReached) as stopped:
        pipeline.analyze(long_document())

    [total] = [e.steps for e in events if isinstance(e, StageStarted)]
    assert len(model.requests) > total, "the chunks were asked again before the stop"
    finished = check_steps(events)
    assert finished[("map", 0)] == len(stopped.value.report.chunks) < total


def test_the_bar_never_counts_past_its_total_and_says_what_it_waits_on(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200)
    screen = Console(file=io.StringIO(), width=200, color_system=None)
    frames: list[str] = []

    with ProgressDisplay(terminal) as display:

        def show(event: Event) -> None:
            display.handle(event)
            if display.progress is not None:
                with screen.capture() as frame:
                    screen.print(display.progress.get_renderable())
                frames.append(frame.get())

        report = run_with_reasks(make_fake_api, monkeypatch, tmp_path, show)

    counts = [(int(done), int(total)) for frame in frames for done, total in COUNT.findall(frame)]
    assert counts and all(done <= total for done, total in counts), max(counts)
    chunks = len(report.chunks)
    assert any("map" in frame and f"{chunks}/{chunks}" in frame for frame in frames)
    assert any("re-asked" in frame for frame in frames)
    assert any("retr" in frame for frame in frames)
    assert "waiting on the Models API" in frames[0]
    assert not any("map" in frame and "waiting on count_tokens" in frame for frame in frames), (
        "count_tokens answered before the map stage started"
    )


def showing(display: ProgressDisplay, events: list[Event]) -> list[str]:
    """The frame of ``display``'s bars after each of ``events``."""
    screen = Console(file=io.StringIO(), width=200, color_system=None)
    frames = []
    for event in events:
        display.handle(event)
        assert display.progress is not None
        with screen.capture() as frame:
            screen.print(display.progress.get_renderable())
        frames.append(frame.get())
    return frames


def test_a_wait_is_shown_until_it_is_over() -> None:
    cache = "the first request, which writes the prompt cache"
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200)
    with ProgressDisplay(terminal) as display:
        frames = showing(
            display,
            [
                Waiting("the Models API"),
                Waiting("the Models API", done=True),
                Waiting("count_tokens"),
                Waiting("count_tokens", done=True),
                StageStarted("map", 2),
                Waiting(cache),
                Waiting(cache, done=True),
            ],
        )
    assert "waiting on the Models API" in frames[0]
    assert "waiting on" not in frames[1]
    assert "waiting on count_tokens" in frames[2]
    assert "waiting on" not in frames[3] + frames[4], "the map bar waits on nothing yet"
    assert f"waiting on {cache}" in frames[5]
    assert "waiting on" not in frames[6]


def test_a_finished_bar_is_drawn_at_its_total_before_the_next_stage_replaces_it() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200, color_system=None)
    with ProgressDisplay(terminal) as display:
        for event in [StageStarted("map", 3), *[StepFinished("map", Usage())] * 3]:
            display.handle(event)
        display.handle(StageStarted("final", 1))
    drawn = terminal.file.getvalue()  # type: ignore[attr-defined]
    assert re.search(r"map\b.*3/3", drawn), drawn
