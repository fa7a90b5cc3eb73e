"""--batch through the real SDK against the fake server's Message Batches endpoints."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest

from docanalyze.run.pipeline import Pipeline
from docanalyze.store import RunStore
from fakeserver import FakeMessagesAPI, RecordedRequest
from fakeserver.batches import BatchFaults

FACT = re.compile(r"FACT-\d+")


def padded_facts(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(FACT.findall(request.prompt))) + " filler" * 250


def facts_only(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(FACT.findall(request.prompt))) or "nothing"


def write_document(path: Path, pages: int) -> set[str]:
    filler = "The inspectors walked the site and recorded the condition of every pump. " * 10
    text = "\f".join(f"FACT-{n:04d} is noted on page {n}. {filler}" for n in range(1, pages + 1))
    path.write_text(text, encoding="utf-8")
    return {f"FACT-{n:04d}" for n in range(1, pages + 1)}


def test_a_batch_run_with_faults_completes_with_two_reduce_levels(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server = make_fake_api(
        responder=padded_facts,
        batch_latency=0.05,
        batch_faults=BatchFaults(seed=3, errored=0.15, expired=0.1),
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    facts = write_document(tmp_path / "doc.txt", pages=30)
    report = Pipeline(
        backend="anthropic",
        batch=True,
        batch_poll_seconds=0.02,
        context_window=4000,
        chunk_size=1200,
        chunk_overlap=0,
        max_tokens=600,
        map_max_tokens=800,
        reduce_max_tokens=700,
    ).analyze(tmp_path / "doc.txt")

    assert report.reduce_levels >= 2 and report.batch
    assert facts <= set(FACT.findall(report.text))
    processed = server.requests
    assert processed and all(request.batch_id for request in processed)
    batches_of: dict[str, set[str]] = {}
    for request in processed:
        batches_of.setdefault(request.prompt, set()).add(str(request.batch_id))
    assert any(len(ids) > 1 for ids in batches_of.values()), "no faulted request was sent again"
    assert any("submitted" in notice for notice in report.notices)


def command(document: Path, output: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "docanalyze",
        "report",
        str(document),
        "--batch",
        "--batch-poll",
        "0.05",
        "--chunk-size",
        "1000",
        "--chunk-overlap",
        "0",
        "--format",
        "json",
        "-o",
        str(output),
    ]


def pending_batches(home: Path) -> list[Any]:
    path = home / "docanalyze.sqlite3"
    if not path.exists():
        return []
    with RunStore(path) as store:
        return store.pending_batches()


def test_a_killed_batch_run_collects_its_batch_instead_of_sending_it_again(
    make_fake_api: Callable[..., FakeMessagesAPI], tmp_path: Path
) -> None:
    server = make_fake_api(responder=facts_only, batch_latency=1.0)
    facts = write_document(tmp_path / "doc.txt", pages=20)
    output = tmp_path / "report.json"
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
        "DOCANALYZE_HOME": str(home),
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": server.base_url,
    }
    first = subprocess.Popen(command(tmp_path / "doc.txt", output), env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not pending_batches(home):
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        assert time.monotonic() < deadline, "the first run never recorded its batch"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    (recorded,) = pending_batches(home)

    second = subprocess.run(
        command(tmp_path / "doc.txt", output),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert second.returncode == 0, second.stderr
    assert f"collecting batch {recorded.id}" in second.stderr
    assert "batch price (50% off)" in second.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["batch"] is True and report["cost"]["batch_discount"] == 0.5
    assert set(FACT.findall(report["report"])) == facts and report["chunk_count"] == 20
    client = anthropic.Anthropic(base_url=server.base_url, api_key="test-key")
    batches = list(client.messages.batches.list(limit=100))
    map_batch = next(batch for batch in batches if batch.id == recorded.id)
    assert map_batch.request_counts.succeeded == len(recorded.requests) == 20
    map_prompts = {r.prompt for r in server.requests if r.batch_id == recorded.id}
    assert len(map_prompts) == 20
    for request in server.requests:
        if request.prompt in map_prompts:
            assert request.batch_id == recorded.id, "a map request was sent in a second batch"
    assert pending_batches(home) == []
