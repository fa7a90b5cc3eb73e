"""--batch over a folder: one batch per stage for every document, and a killed run resumed by
polling the same batches (the fake server's batch endpoints, through the real SDK)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anthropic
import pytest
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.models.base import ModelRequest
from docanalyze.models.batches.model import BatchModel
from fakeserver import FakeMessagesAPI
from tests.fakes import RecordingModel
from tests.test_batch_mode import MODEL, MemoryBatchAPI
from tests.test_batch_server import FACT, facts_only, pending_batches


def write_notes(folder: Path, count: int) -> set[str]:
    """``count`` one-chunk files, each with its own fact."""
    folder.mkdir()
    for n in range(count):
        text = f"FACT-{n:04d} is noted. The pump in hall {n} was inspected and found sound."
        (folder / f"note{n:04d}.txt").write_text(text, encoding="utf-8")
    return {f"FACT-{n:04d}" for n in range(count)}


def arguments(folder: Path, output: Path) -> list[str]:
    return ["report", str(folder), "--batch", "--batch-poll", "0.05", "-o", str(output)]


def batches_created(server: FakeMessagesAPI) -> list[anthropic.types.messages.MessageBatch]:
    client = anthropic.Anthropic(base_url=server.base_url, api_key="test-key")
    return list(client.messages.batches.list(limit=100))


def reported_facts(output: Path) -> set[str]:
    return {
        fact for report in output.glob("*.md") for fact in FACT.findall(report.read_text("utf-8"))
    }


def test_four_hundred_one_chunk_files_make_one_batch_of_maps_and_one_of_finals(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server = make_fake_api(responder=facts_only, batch_latency=0.2)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    facts = write_notes(tmp_path / "notes", 400)

    result = CliRunner().invoke(cli, arguments(tmp_path / "notes", tmp_path / "out"))

    assert result.exit_code == 0, result.stderr
    batches = batches_created(server)
    assert len(batches) <= 3, f"{len(batches)} batches for 800 requests"
    assert sum(batch.request_counts.succeeded for batch in batches) == 800
    assert reported_facts(tmp_path / "out") == facts


def test_a_killed_folder_run_polls_its_shared_batch_instead_of_sending_it_again(
    make_fake_api: Callable[..., FakeMessagesAPI], tmp_path: Path
) -> None:
    server = make_fake_api(responder=facts_only, batch_latency=1.5)
    facts = write_notes(tmp_path / "notes", 40)
    output, home = tmp_path / "out", tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
        "DOCANALYZE_HOME": str(home),
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": server.base_url,
    }
    command = [sys.executable, "-m", "docanalyze", *arguments(tmp_path / "notes", output)]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not pending_batches(home):
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        assert time.monotonic() < deadline, "the first run never recorded its batch"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    (recorded,) = pending_batches(home)
    assert len(recorded.requests) == 40

    second = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert second.returncode == 0, second.stderr
    assert f"collecting batch {recorded.id}" in second.stderr
    assert second.stderr.count("submitted by an earlier run") == 1
    batches = batches_created(server)
    assert recorded.id in {batch.id for batch in batches}
    assert len(batches) == 2, "a batch was sent again, or the finals were split"
    map_prompts = {r.prompt for r in server.requests if r.batch_id == recorded.id}
    assert len(map_prompts) == 40
    assert all(r.batch_id == recorded.id for r in server.requests if r.prompt in map_prompts)
    assert reported_facts(output) == facts and len(list(output.glob("*.md"))) == 40
    assert pending_batches(home) == []


def asked_in_batches(
    tmp_path: Path, delays: list[float | None], patience: float = 5.0
) -> tuple[list[int], float]:
    """Documents in flight (one per delay) that ask for one reply each after their delay (None:
    never ask, as a document busy elsewhere): the sizes of the batches sent, and the seconds
    until the first one."""
    api = MemoryBatchAPI()
    model = BatchModel(
        RecordingModel(name=MODEL),
        api,
        store_path=tmp_path / "store.sqlite3",
        poll_seconds=0.01,
        gather_seconds=0.05,
        patience_seconds=patience,
    )

    async def document(n: int, delay: float | None) -> None:
        with model.gathering.document():
            if delay is not None:
                await asyncio.sleep(delay)
                await model.complete(ModelRequest(f"FACT-{n:04d} is noted", 100, "map"))

    async def run() -> float:
        started = time.monotonic()
        for _ in delays:
            model.gathering.started()
        tasks = [asyncio.create_task(document(n, delay)) for n, delay in enumerate(delays)]
        while not api.created:
            await asyncio.sleep(0.005)
        first = time.monotonic() - started
        await asyncio.gather(*tasks)
        await model.aclose()
        return first

    first = asyncio.run(run())
    return [len(batch) for batch in api.created], first


def test_a_batch_waits_for_a_document_in_flight_that_has_not_asked_yet(tmp_path: Path) -> None:
    sizes, first = asked_in_batches(tmp_path, [0.0, 0.0, 0.4])

    assert sizes == [3]
    assert first < 2.0  # sent once every document asked, not after the patience


def test_a_document_busy_elsewhere_holds_a_batch_back_only_for_the_patience(
    tmp_path: Path,
) -> None:
    sizes, first = asked_in_batches(tmp_path, [0.0, 0.0, None], patience=0.5)

    assert sizes == [2]
    assert 0.5 <= first < 3.0
