"""Documents admitted by the limiter's headroom, within a ceiling of text held, at most
``documents_at_once`` when asked (:mod:`docanalyze.run.admission`)."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.corpus.progress import eta_seconds
from docanalyze.corpus.runner import FileDone, analyze_corpus
from docanalyze.events import Event, StageStarted
from docanalyze.models.anthropic.ratelimit import RateLimiter
from docanalyze.models.base import Usage
from docanalyze.options import Options
from docanalyze.run.admission import ByHeadroom, DocumentsAtOnce, Room
from docanalyze.run.several import analyze_many, current_source
from fakeserver import FakeMessagesAPI, RateLimits, RecordedRequest


@dataclass
class FakeGauge:
    """A limiter's room, set by the test."""

    now: Room

    def room(self) -> Room:
        return self.now


def room(limit: int = 8, in_flight: int = 0, waiting: int = 0, requests: float = math.inf) -> Room:
    return Room(limit, in_flight, waiting, requests)


async def admitted(gate: ByHeadroom | DocumentsAtOnce, size: int = 1) -> bool:
    """Whether the gate lets one more document in within a few polls (it stays waiting if not:
    it is cancelled)."""
    try:
        await asyncio.wait_for(gate.admit(size), 0.1)
    except asyncio.TimeoutError:
        return False
    return True


def test_documents_are_admitted_while_the_limiter_has_room_and_wait_when_it_has_none() -> None:
    gauge = FakeGauge(room(limit=3))
    gate = ByHeadroom(gauge, poll=0.005)

    async def scenario() -> None:
        assert [await admitted(gate) for _ in range(3)] == [True, True, True]
        assert not await admitted(gate), "as many documents as requests may be in flight"
        gauge.now = room(limit=16)
        assert await admitted(gate), "the limit grew: one more"
        gauge.now = room(limit=16, in_flight=16)
        assert not await admitted(gate), "every place in flight is taken"
        gauge.now = room(limit=16, in_flight=10, waiting=7)
        assert not await admitted(gate), "requests wait for a place"
        gauge.now = room(limit=16, in_flight=4, requests=0.5)
        assert not await admitted(gate), "the rate buckets are near empty"
        gauge.now = room(limit=16, in_flight=4, requests=3)
        assert await admitted(gate), "the buckets refilled: admitted again"
        for _ in range(5):
            gate.done(1)
        gauge.now = room(limit=1, in_flight=1, requests=0)
        assert await admitted(gate), "one document alone is always admitted"

    asyncio.run(scenario())


def test_documents_at_once_caps_the_headroom() -> None:
    gate = ByHeadroom(FakeGauge(room(limit=100)), at_most=2, poll=0.005)

    async def scenario() -> list[bool]:
        return [await admitted(gate) for _ in range(3)]

    assert asyncio.run(scenario()) == [True, True, False]


def test_no_document_is_admitted_while_its_text_would_pass_the_ceiling_but_one_alone_is() -> None:
    for gate in (
        ByHeadroom(FakeGauge(room(limit=100)), text_ceiling=1_000, poll=0.005),
        DocumentsAtOnce(100, text_ceiling=1_000, poll=0.005),
    ):

        async def scenario(gate: ByHeadroom | DocumentsAtOnce = gate) -> None:
            assert await admitted(gate, 5_000), "a document larger than the ceiling, alone"
            assert not await admitted(gate, 10), "nothing beside it"
            gate.done(5_000)
            assert await admitted(gate, 600)
            assert await admitted(gate, 400), "exactly at the ceiling"
            assert not await admitted(gate, 1)
            gate.done(600)
            assert await admitted(gate, 500)
            assert gate.held.text == 900 and gate.held.documents == 2

        asyncio.run(scenario())


def test_the_rate_limiter_tells_its_headroom() -> None:
    clock = [0.0]
    limiter = RateLimiter(rpm=6, clock=lambda: clock[0])

    async def take(count: int) -> None:
        for _ in range(count):
            await limiter.acquire(100, 100)

    assert limiter.headroom() == math.inf, "no cost known yet"
    asyncio.run(take(4))
    assert limiter.headroom() == 2
    clock[0] += 10  # one request flows back in every 10 s at 6 a minute
    assert limiter.headroom() == 3
    limiter.cooldown(5.0)
    assert limiter.headroom() == 0, "nothing leaves during a 429 pause"


# --- against the fake server ---------------------------------------------------------------------


def short(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(re.findall(r"FACT-\d+", request.prompt))) or "nothing"


def notes(folder: Path, count: int) -> Path:
    folder.mkdir(exist_ok=True)
    for number in range(count):
        (folder / f"note{number:02d}.txt").write_text(
            f"FACT-{number:02d}1 is in note {number}. The pumps were checked.", encoding="utf-8"
        )
    return folder


def with_server(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    **settings: object,
) -> FakeMessagesAPI:
    server = make_fake_api(**settings)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    return server


def test_a_folder_of_notes_runs_more_than_four_documents_at_once_when_the_limits_allow(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = with_server(make_fake_api, monkeypatch, latency=0.3)
    in_flight: list[int] = []
    summary = analyze_corpus(
        docanalyze.Pipeline(backend="anthropic"),
        [str(notes(tmp_path / "docs", 30))],
        tmp_path / "out",
        on_file=lambda done: in_flight.append(done.in_flight),
    )
    assert summary.complete == 30 and summary.ok
    assert server.stats().max_in_flight > 4, "requests of more than four documents at once"
    assert max(in_flight) > 4


def test_documents_at_once_is_an_upper_bound(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = with_server(make_fake_api, monkeypatch, latency=0.1)
    docs = notes(tmp_path / "docs", 12)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["report", str(docs), "-o", str(out), "--documents-at-once", "2", "-q"]
    )
    assert result.exit_code == 0, result.stderr
    assert len(list(out.glob("*.md"))) == 12
    assert server.stats().max_in_flight <= 2, "one request a document at a time, two documents"
    bad = CliRunner().invoke(cli, ["report", str(docs), "-o", str(out), "--documents-at-once", "0"])
    assert bad.exit_code == 2 and "--documents-at-once must be at least 1" in bad.stderr


def test_small_documents_finish_while_a_large_one_is_still_mapping(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with_server(
        make_fake_api, monkeypatch, latency=0.2, rate_limits=RateLimits(4_000), responder=short
    )
    docs = notes(tmp_path / "docs", 16)
    page = "FACT-9999 is on a page of the large report. " + "The pumps held. " * 50
    (docs / "a-large.txt").write_text("\f".join([page] * 200), encoding="utf-8")
    mapped: dict[str, float] = {}
    done: dict[str, float] = {}

    def on_event(event: Event) -> None:
        source = current_source() or ""
        if isinstance(event, StageStarted) and event.stage != "map" and "large" in source:
            mapped.setdefault("large", time.monotonic())

    def on_file(file: FileDone) -> None:
        done[file.entry.file] = time.monotonic()

    options = Options(backend="anthropic", chunk_size=1_000, concurrency=24)
    summary = analyze_corpus(
        docanalyze.Pipeline(options, on_event=on_event),
        [str(docs)],
        tmp_path / "out",
        on_file=on_file,
    )
    assert summary.complete == 17
    small = [at for name, at in done.items() if "note" in name]
    assert len(small) == 16 and max(small) < mapped["large"], "every note before the map ended"


# --- progress ------------------------------------------------------------------------------------


def test_the_time_left_comes_from_the_rate_limits_when_they_bind() -> None:
    usage = Usage(requests=30, input_tokens=30_000, output_tokens=3_000)
    assert eta_seconds(100, 10, usage, {}, elapsed=2.0) == 20.0, "the pace so far"
    assert eta_seconds(100, 10, usage, {"requests": 60.0}, elapsed=2.0) == 300.0
    assert eta_seconds(100, 10, usage, {"input-tokens": 60_000.0}, elapsed=2.0) == 300.0
    assert eta_seconds(0, 10, usage, {}, elapsed=2.0) == 0.0
    assert eta_seconds(5, 0, Usage(), {}, elapsed=2.0) is None


def test_corpus_progress_tells_documents_and_requests_in_flight_and_the_time_left(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with_server(make_fake_api, monkeypatch, latency=0.3, rate_limits=RateLimits(600))
    docs = notes(tmp_path / "docs", 12)
    seen: list[FileDone] = []
    summary = analyze_corpus(
        docanalyze.Pipeline(), [str(docs)], tmp_path / "out", on_file=seen.append
    )
    assert max(done.requests_in_flight for done in seen) > 0
    assert seen[-1].eta_seconds == 0.0
    # The six notes left need as many requests as the six done: at 600 a minute, that long.
    halfway, per_note = seen[5], summary.usage.requests / 12
    assert halfway.eta_seconds == pytest.approx(6 * per_note * 60 / 600, rel=0.3)
    result = CliRunner().invoke(cli, ["report", str(docs), "-o", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.stderr
    assert re.search(r"\[3/12, 0 failed\] .* requests in flight, about \d+ s left", result.stderr)


def test_a_document_counts_for_its_text_once_read_not_its_size_on_disk(tmp_path: Path) -> None:
    resized: list[tuple[int, int]] = []

    class Spy(DocumentsAtOnce):
        def resize(self, old: int, new: int) -> None:
            resized.append((old, new))
            super().resize(old, new)

    path = tmp_path / "chinese.txt"
    path.write_text("检查了每一个泵。" * 100, encoding="utf-8")  # 3 bytes a character
    gate = Spy(4)
    result = asyncio.run(analyze_many(docanalyze.Pipeline(), [str(path)], admission=gate))
    assert result.ok
    assert resized == [(path.stat().st_size, 800)]
    assert gate.held.text == 0 and gate.held.most_text == path.stat().st_size
