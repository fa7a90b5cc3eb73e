"""Runs complete through every fault class the fake server injects, and lose nothing; a request
that fails for good is a clear error, and no partial report is presented as complete."""

from __future__ import annotations

import json
import pickle
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.errors import FailedRun, ModelError
from docanalyze.store import RunStore
from fakeserver import (
    ApiError,
    Exchange,
    FailMatching,
    FakeMessagesAPI,
    Faults,
    RecordedRequest,
    ScriptedReply,
)

PAGES = 16


def facts_only(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(re.findall(r"FACT-\d+", request.prompt))) or "nothing"


def write_document(path: Path) -> set[str]:
    filler = "The auditors checked every ledger entry against the bank statements. " * 8
    path.write_text(
        "\f".join(f"FACT-{n:04d} appears on page {n}. {filler}" for n in range(1, PAGES + 1)),
        encoding="utf-8",
    )
    return {f"FACT-{n:04d}" for n in range(1, PAGES + 1)}


def analyze(server: FakeMessagesAPI, document: Path, monkeypatch, **options: object):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    settings: dict[str, object] = {"chunk_size": 700, "chunk_overlap": 0, "max_attempts": 10}
    settings.update(options)
    return docanalyze.analyze(str(document), **settings)


def assert_complete(report: docanalyze.Report, facts: set[str]) -> None:
    assert report.complete and not report.truncated
    assert set(re.findall(r"FACT-\d+", report.text)) == facts
    assert all(chunk.text for chunk in report.chunks)
    assert {chunk.index for chunk in report.chunks} == set(range(len(report.chunks)))


@pytest.mark.parametrize(
    ("faults", "counter"),
    [
        (Faults(seed=1, overloaded=0.3), "overloaded"),
        (Faults(seed=2, server_error=0.3), "server_errors"),
        (Faults(seed=3, dropped=0.3), "dropped"),
        (Faults(seed=4, hang=0.2, hang_seconds=5.0), "hung"),
    ],
    ids=["529", "500", "dropped", "hang"],
)
def test_the_run_completes_through_faults(
    faults: Faults, counter: str, make_fake_api, tmp_path: Path, monkeypatch
) -> None:
    server = make_fake_api(responder=facts_only, faults=faults)
    facts = write_document(tmp_path / "doc.txt")
    report = analyze(server, tmp_path / "doc.txt", monkeypatch, timeout=1.0)
    assert getattr(server.stats(), counter) > 0, "the fault really happened"
    assert report.retries >= getattr(server.stats(), counter)
    assert_complete(report, facts)


def test_a_slow_stream_still_delivers_the_whole_report(
    make_fake_api, tmp_path: Path, monkeypatch
) -> None:
    server = make_fake_api(
        responder=facts_only, faults=Faults(seed=5, slow_stream=1.0, slow_event_seconds=0.05)
    )
    facts = write_document(tmp_path / "doc.txt")
    report = analyze(server, tmp_path / "doc.txt", monkeypatch, stream=True)
    assert server.stats().slow_streams >= 1
    assert_complete(report, facts)


class RefuseEarlyRequests:
    """A 429 with retry-after for each of the first few requests, like a burst over a limit."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.lock = threading.Lock()

    def admit(self, exchange: Exchange) -> None:
        with self.lock:
            if self.refusals <= 0:
                return
            self.refusals -= 1
        raise ApiError(
            429,
            "This request would exceed the rate limit for your organization",
            error_type="rate_limit_error",
            headers={"retry-after": "1"},
        )


def test_429s_are_waited_out_and_nothing_is_lost(tmp_path: Path, monkeypatch) -> None:
    with FakeMessagesAPI(responder=facts_only, policies=[RefuseEarlyRequests(5)]) as server:
        facts = write_document(tmp_path / "doc.txt")
        report = analyze(server, tmp_path / "doc.txt", monkeypatch)
    assert report.rate_limited == 5
    assert_complete(report, facts)


def test_a_request_that_fails_for_good_is_a_clear_error_and_no_report(
    make_fake_api, tmp_path: Path
) -> None:
    server = make_fake_api(responder=facts_only, faults=Faults(seed=6, overloaded=1.0))
    write_document(tmp_path / "doc.txt")
    env = {
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": server.base_url,
    }
    result = CliRunner().invoke(
        cli,
        ["report", str(tmp_path / "doc.txt"), "--chunk-size", "700", "--format", "json"],
        env=env,
    )
    assert result.exit_code == 1
    assert result.stdout == "", "no partial report is presented as complete"
    assert "gave up" in result.stderr and "529" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with RunStore() as store:
        assert store.list_runs()[0].status == "failed"


def test_the_python_api_raises_model_error_when_retries_run_out(
    make_fake_api, tmp_path: Path, monkeypatch
) -> None:
    server = make_fake_api(responder=facts_only, faults=Faults(seed=7, server_error=1.0))
    write_document(tmp_path / "doc.txt")
    with pytest.raises(ModelError, match="gave up .* after 2 attempts"):
        analyze(server, tmp_path / "doc.txt", monkeypatch, max_attempts=2)


def test_the_api_key_never_reaches_the_store(make_fake_api, tmp_path: Path, monkeypatch) -> None:
    server = make_fake_api(responder=facts_only)
    write_document(tmp_path / "doc.txt")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-test-secret-key-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    report = docanalyze.analyze(str(tmp_path / "doc.txt"), chunk_size=700)
    with RunStore() as store:
        path = store.path
    stored = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file())
    assert b"fake-test-secret" not in stored
    assert "fake-test-secret" not in json.dumps(report.to_dict())


def test_an_address_where_nothing_listens_fails_within_seconds_naming_it(
    fixtures_dir: Path,
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "ANTHROPIC_API_KEY": "fake-test-secret-key-0123456789",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["report", str(fixtures_dir / "sample.txt")], env=env)
    assert time.monotonic() - started < 5.0
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(
        f"Error: could not connect to http://127.0.0.1:{port} (ANTHROPIC_BASE_URL): "
        "connection refused (2 attempts in "
    )
    assert result.stderr.rstrip().endswith("; check ANTHROPIC_BASE_URL and the network")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "fake-test-secret" not in result.stderr and "--concurrency" not in result.stderr


def test_a_chunk_that_fails_for_good_ends_with_its_partial_report_and_the_next_run_resumes(
    make_fake_api, tmp_path: Path, monkeypatch
) -> None:
    failing = FailMatching("FACT-0005")  # page 5's map request is answered 500, always
    server = make_fake_api(responder=facts_only, policies=[failing])
    facts = write_document(tmp_path / "doc.txt")
    with pytest.raises(FailedRun) as caught:
        analyze(server, tmp_path / "doc.txt", monkeypatch, max_attempts=2)
    stop, report = caught.value, caught.value.report
    assert failing.failed == 2, "the failed request was tried max_attempts times, no more"
    [failure] = stop.failures
    copy = pickle.loads(pickle.dumps(stop))  # whole, e.g. back from a Ray task
    assert (str(copy), copy.failures, copy.report.text) == (str(stop), stop.failures, report.text)
    assert failure["stage"] == "map" and failure["first_page"] <= 5 <= failure["last_page"]
    assert "gave up on a map request after 2 attempts" in str(failure["error"])
    assert str(stop).startswith("a map request for page 5 failed for good (gave up on a map")
    assert "; 15 of 16 chunks extracted, no final report" in str(stop)
    assert not report.complete and report.exit_code == 3
    assert report.missing_chunks == [failure["chunk"] - 1]
    kept = set(re.findall(r"FACT-\d+", report.text))
    assert "FACT-0005" not in kept and kept >= facts - {"FACT-0004", "FACT-0005", "FACT-0006"}
    answered = [r for r in server.requests if r.status == 200]
    assert len(answered) == len(report.chunks), "every other chunk was extracted, no reduce"
    with RunStore() as store:
        assert store.list_runs(1)[0].status == "incomplete"

    failing.enabled = False  # the API is well again: the next run asks for page 5 only
    sent = len(server.requests)
    report = analyze(server, tmp_path / "doc.txt", monkeypatch, max_attempts=2)
    assert_complete(report, facts)
    assert report.cache_hits == len(answered), "the paid chunks came from the store"
    asked = server.requests[sent:]  # page 5's map request, then the reduce and final ones
    assert asked and all("FACT-0005" in r.prompt for r in asked)
    with RunStore() as store:
        assert store.list_runs(1)[0].status == "complete"


def test_a_map_span_cut_however_small_fails_its_chunk_and_keeps_the_others(
    make_fake_api, tmp_path: Path, monkeypatch
) -> None:
    def cut_on_page_5(request: RecordedRequest) -> str | ScriptedReply:
        if "FACT-0005" in request.prompt:  # page 5 is cut at max_tokens, however small
            return ScriptedReply(facts_only(request), stop_reason="max_tokens")
        return facts_only(request)

    server = make_fake_api(responder=cut_on_page_5)
    facts = write_document(tmp_path / "doc.txt")
    with pytest.raises(FailedRun) as caught:
        analyze(server, tmp_path / "doc.txt", monkeypatch)
    [failure] = caught.value.failures
    report = caught.value.report
    assert failure["stage"] == "map" and failure["first_page"] <= 5 <= failure["last_page"]
    assert "was cut at max_tokens even for" in str(failure["error"])
    assert not report.complete and report.exit_code == 3
    assert report.missing_chunks == [failure["chunk"] - 1]
    kept = set(re.findall(r"FACT-\d+", report.text))
    assert "FACT-0005" not in kept and kept >= facts - {"FACT-0004", "FACT-0005", "FACT-0006"}


@pytest.mark.parametrize("where", ["every request", "one chunk's request"])
def test_a_rejected_key_stays_an_error_with_no_report(
    where: str, make_fake_api, tmp_path: Path
) -> None:
    class RejectPage5:
        def admit(self, exchange: Exchange) -> None:
            if "FACT-0005" in json.dumps(exchange.body):
                raise ApiError(401, "invalid x-api-key", error_type="authentication_error")

    if where == "every request":
        server = make_fake_api(responder=facts_only, api_key="the-right-key")
    else:
        server = make_fake_api(responder=facts_only, policies=[RejectPage5()])
    write_document(tmp_path / "doc.txt")
    env = {"ANTHROPIC_API_KEY": "a-wrong-key", "ANTHROPIC_BASE_URL": server.base_url}
    args = ["report", str(tmp_path / "doc.txt"), "--chunk-size", "700"]
    result = CliRunner().invoke(cli, args, env=env)
    assert (result.exit_code, result.stdout) == (1, "")
    assert "rejected the API key (401): check ANTHROPIC_API_KEY" in result.stderr


class FailMerging:
    """A 500, always, to the requests that hold every page: the reduce and final ones."""

    def admit(self, exchange: Exchange) -> None:
        body = json.dumps(exchange.body)
        if f"FACT-{1:04d}" in body and f"FACT-{PAGES:04d}" in body:
            raise ApiError(500, "Internal server error", headers={"x-should-retry": "true"})


def test_a_merging_request_that_fails_for_good_keeps_every_extraction(
    make_fake_api, tmp_path: Path, monkeypatch
) -> None:
    server = make_fake_api(responder=facts_only, policies=[FailMerging()])
    facts = write_document(tmp_path / "doc.txt")
    with pytest.raises(FailedRun) as caught:
        analyze(server, tmp_path / "doc.txt", monkeypatch, max_attempts=2)
    report = caught.value.report
    assert caught.value.failures[0]["stage"] in ("reduce", "final")
    assert report.exit_code == 3 and report.missing_chunks == []
    assert "were not merged into a report" in report.text
    assert set(re.findall(r"FACT-\d+", report.text)) == facts
