"""Durable runs: the real CLI, killed mid-map, resumes without paying twice for any answer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docanalyze.store import RunStore
from fakeserver import FakeMessagesAPI, RecordedRequest
from tests.fakes import GatedResponder

PAID_BEFORE_THE_KILL = 6


def write_document(path: Path) -> set[str]:
    filler = "The inspectors walked the site and recorded the condition of every pump. " * 12
    pages = [f"FACT-{n:04d} is noted on page {n}. {filler}" for n in range(1, 21)]
    path.write_text("\f".join(pages), encoding="utf-8")
    return {f"FACT-{n:04d}" for n in range(1, 21)}


def command(document: Path, output: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "docanalyze",
        "report",
        str(document),
        "--chunk-size",
        "1000",
        "--chunk-overlap",
        "0",
        "--concurrency",
        "4",
        "--format",
        "json",
        "-o",
        str(output),
    ]


def stored_calls(home: Path) -> int:
    path = home / "docanalyze.sqlite3"
    if not path.exists():
        return 0
    with RunStore(path) as store:
        return store.cache_stats().calls


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_stopped_run_resumes_without_asking_any_answered_call_again(
    stop: signal.Signals, tmp_path: Path
) -> None:
    responder = GatedResponder(PAID_BEFORE_THE_KILL)
    facts = write_document(tmp_path / "doc.txt")
    output = tmp_path / "report.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
        "DOCANALYZE_HOME": str(tmp_path / "home"),
        "ANTHROPIC_API_KEY": "test-key",
    }
    with FakeMessagesAPI(responder=responder) as server:
        env["ANTHROPIC_BASE_URL"] = server.base_url
        first = subprocess.Popen(
            command(tmp_path / "doc.txt", output), env=env, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while stored_calls(tmp_path / "home") < PAID_BEFORE_THE_KILL:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the first run never stored its replies"
            time.sleep(0.05)
        stopped_at = time.monotonic()
        first.send_signal(stop)
        first.wait(15)
        stop_seconds = time.monotonic() - stopped_at
        first_stderr = first.stderr.read() if first.stderr else ""
        responder.hold = False
        responder.release.set()
        answered_in_first = list(responder.answered)

        second = subprocess.run(
            command(tmp_path / "doc.txt", output),
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert second.returncode == 0, second.stderr
    assert len(answered_in_first) == PAID_BEFORE_THE_KILL
    assert len(responder.answered) == len(set(responder.answered)), (
        "an answered call was asked twice"
    )
    report = json.loads(output.read_text(encoding="utf-8"))
    assert set(re.findall(r"FACT-\d+", report["report"])) == facts
    assert report["chunk_count"] == 20
    if stop == signal.SIGINT:
        assert first.returncode == 130
        assert stop_seconds < 10
        assert "Traceback" not in first_stderr
        assert "run the same command again" in first_stderr


def facts_only(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(re.findall(r"FACT-\d+", request.prompt))) or "nothing"


def test_a_second_identical_run_makes_no_request(make_fake_api, tmp_path: Path) -> None:
    server = make_fake_api(responder=facts_only)
    facts = write_document(tmp_path / "doc.txt")
    env = {
        **os.environ,
        "DOCANALYZE_HOME": str(tmp_path / "home"),
        "ANTHROPIC_API_KEY": "k",
        "ANTHROPIC_BASE_URL": server.base_url,
    }
    outputs = []
    for name in ("one.json", "two.json"):
        subprocess.run(
            command(tmp_path / "doc.txt", tmp_path / name),
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        outputs.append(json.loads((tmp_path / name).read_text(encoding="utf-8")))
    requests_after_first = outputs[0]["usage"]["requests"]
    assert len(server.requests) == requests_after_first > 20
    assert outputs[1]["usage"]["requests"] == 0
    assert outputs[1]["cache"]["hits"] == requests_after_first
    assert outputs[1]["report"] == outputs[0]["report"]
    assert facts <= set(re.findall(r"FACT-\d+", outputs[1]["report"]))
