"""Corpus runs on a local Ray (2 CPUs) against the fake server: one limiter for all workers."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import ray
from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.options import Options
from docanalyze.ray.data import AnalyzeRows
from docanalyze.ray.limiter import start_rate_limiter
from docanalyze.ray.runner import analyze_on_ray
from fakeserver import FakeMessagesAPI, RateLimits, RecordedRequest

FACT = re.compile(r"FACT-\d+")


@pytest.fixture
def start_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., None]]:
    """``start_ray(server)``: a local Ray with 2 CPUs whose workers talk to ``server``.

    Workers take the environment of the process that starts Ray, as on a real cluster each
    node's do: the key and the server's address are set before it starts."""

    def start(server: FakeMessagesAPI) -> None:
        for name, value in {
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": server.base_url,
            "DOCANALYZE_HOME": str(tmp_path / "home"),
            "RAY_AUTH_MODE": "disabled",
        }.items():
            monkeypatch.setenv(name, value)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)

    yield start
    ray.shutdown()


def facts_only(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(FACT.findall(request.prompt))) or "nothing"


def write_corpus(folder: Path, documents: int) -> set[str]:
    folder.mkdir()
    facts = set()
    for number in range(documents):
        pages = [
            f"FACT-{number:02d}{page} is on page {page}. " + "Filler. " * 40 for page in (1, 2)
        ]
        facts.update(f"FACT-{number:02d}{page}" for page in (1, 2))
        (folder / f"doc{number:02d}.txt").write_text("\f".join(pages), encoding="utf-8")
    return facts


def messages(server: FakeMessagesAPI) -> list[RecordedRequest]:
    return [request for request in server.requests if request.path == "/v1/messages"]


def reported_facts(out: Path) -> set[str]:
    return {fact for path in out.glob("*.md") for fact in FACT.findall(path.read_text("utf-8"))}


def index_rows(out: Path) -> list[dict[str, object]]:
    lines = (out / "index.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_corpus_on_two_workers_stays_within_a_binding_rate_limit(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],
    tmp_path: Path,
) -> None:
    facts = write_corpus(tmp_path / "docs", 30)
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a PDF")
    # 30 documents of 2 chunks: about 90 requests against 85 a minute; one file is broken.
    server = make_fake_api(
        responder=facts_only, rate_limits=RateLimits(requests_per_minute=85), latency=0.05
    )
    start_ray(server)
    out = tmp_path / "out"

    summary = analyze_on_ray(
        Options(backend="anthropic", chunk_size=400), [str(tmp_path / "docs")], out
    )

    assert summary.complete == 30 and summary.failed == 1
    assert reported_facts(out) == facts
    sent = messages(server)
    rate_limited = sum(1 for request in sent if request.status == 429)
    assert len(sent) > 85, "the limit binds"
    assert rate_limited <= 0.05 * len(sent)
    rows = index_rows(out)
    [broken] = [row for row in rows if row["status"] != "complete"]
    assert broken["status"] == "failed" and "broken.pdf" in str(broken["error"])
    rows = [row for row in rows if row["status"] == "complete"]
    assert len(rows) == 30
    workers = {row["worker"] for row in rows}
    assert all(isinstance(worker, str) and "/" in worker for worker in workers)
    assert len(workers) >= 2, "the documents were shared among the workers"


def test_the_concurrency_ceiling_holds_across_the_cluster(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],
    tmp_path: Path,
) -> None:
    write_corpus(tmp_path / "docs", 8)
    server = make_fake_api(responder=facts_only, latency=0.3)
    start_ray(server)
    options = Options(backend="anthropic", chunk_size=400, concurrency=2)
    summary = analyze_on_ray(options, [str(tmp_path / "docs")], tmp_path / "out")
    assert summary.complete == 8
    assert server.stats().max_in_flight <= 2, "four tasks ran at once, two requests in flight"


@pytest.mark.slow
def test_more_documents_are_in_flight_than_cpus_when_the_limits_allow_and_never_beyond_them(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],
    tmp_path: Path,
) -> None:
    facts = write_corpus(tmp_path / "docs", 24)
    server = make_fake_api(responder=facts_only, latency=0.5)
    start_ray(server)
    in_flight: list[int] = []
    options = Options(backend="anthropic", chunk_size=400, concurrency=12)
    summary = analyze_on_ray(
        options,
        [str(tmp_path / "docs")],
        tmp_path / "out",
        on_file=lambda done: in_flight.append(done.in_flight),
    )
    assert summary.complete == 24 and reported_facts(tmp_path / "out") == facts
    assert max(in_flight) > 2 * 2, "more documents at once than two a CPU (2 CPUs)"
    assert server.stats().max_in_flight <= 12, "never more requests than the cluster's ceiling"


def test_a_killed_worker_loses_nothing_and_writes_nothing_twice(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],
    tmp_path: Path,
) -> None:
    facts = write_corpus(tmp_path / "docs", 8)
    server = make_fake_api(responder=facts_only, latency=0.4)
    start_ray(server)
    out = tmp_path / "out"
    result: dict[str, object] = {}

    def run() -> None:
        result["summary"] = analyze_on_ray(
            Options(backend="anthropic", chunk_size=400), [str(tmp_path / "docs")], out
        )

    driver = threading.Thread(target=run)
    driver.start()
    killed = _kill_a_busy_worker(timeout=30)
    driver.join(120)

    assert killed, "no worker was busy with a document"
    summary = result["summary"]
    assert summary.complete == 8 and summary.failed == 0  # type: ignore[attr-defined]
    assert reported_facts(out) == facts
    rows = index_rows(out)
    assert sorted(row["file"] for row in rows) == sorted({row["file"] for row in rows})
    assert len(rows) == 8


def _kill_a_busy_worker(timeout: float) -> bool:
    """SIGKILL one Ray node worker while it runs documents."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in psutil.process_iter(["cmdline"]):
            command = " ".join(process.info["cmdline"] or [])
            if "DocumentWorker" in command:
                os.kill(process.pid, signal.SIGKILL)
                return True
        time.sleep(0.05)
    return False


def test_the_cli_runs_on_ray_and_a_rerun_writes_nothing(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],
    tmp_path: Path,
) -> None:
    facts = write_corpus(tmp_path / "docs", 6)
    server = make_fake_api(responder=facts_only)
    start_ray(server)
    out = tmp_path / "out"
    command = ["report", str(tmp_path / "docs"), "-o", str(out), "--ray", "--chunk-size", "400"]

    first = CliRunner().invoke(cli, command)
    assert first.exit_code == 0, first.stderr
    assert reported_facts(out) == facts
    written = {path.name: path.stat().st_mtime_ns for path in out.glob("*.md")}
    requests = len(server.requests)

    again = CliRunner().invoke(cli, command)
    assert again.exit_code == 0, again.stderr
    assert "6 reports (6 from an earlier run)" in again.stderr
    assert len(server.requests) == requests, "nothing was asked again"
    assert {path.name: path.stat().st_mtime_ns for path in out.glob("*.md")} == written


def test_a_nested_folder_gives_the_same_tree_and_index_on_ray_and_off_and_switching_resumes(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    for number, name in enumerate(("a/x.txt", "b/x.txt", "a/y.md")):
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(f"FACT-{number:02d}1 is in {name}.", encoding="utf-8")
    server = make_fake_api(responder=facts_only)
    start_ray(server)

    def run(out: Path, *ray: str) -> str:
        result = CliRunner().invoke(cli, ["report", str(docs), "-o", str(out), *ray])
        assert result.exit_code == 0, result.stderr
        return result.stderr

    def tree(out: Path) -> set[str]:
        return {path.relative_to(out).as_posix() for path in out.rglob("*.md")}

    def rows(out: Path) -> list[tuple[object, ...]]:
        keys = ("file", "status", "report", "sha256", "settings", "requests")
        return [tuple(row[key] for key in keys) for row in index_rows(out)]

    run(tmp_path / "local")
    run(tmp_path / "ray", "--ray")

    assert tree(tmp_path / "ray") == tree(tmp_path / "local") == {"a/x.md", "b/x.md", "a/y.md"}
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    asked = len(server.requests)
    assert "3 reports (3 from an earlier run)" in run(tmp_path / "ray")
    assert "3 reports (3 from an earlier run)" in run(tmp_path / "local", "--ray")
    assert len(server.requests) == asked, "switching between --ray and one machine resumes"


def test_ray_needs_a_folder_and_refuses_batch(tmp_path: Path) -> None:
    document = tmp_path / "one.txt"
    document.write_text("FACT-0001 text.", encoding="utf-8")
    one = CliRunner().invoke(cli, ["report", str(document), "--ray"])
    assert one.exit_code == 2 and "--ray runs folders and globs" in one.stderr
    write_corpus(tmp_path / "docs", 1)
    batch = CliRunner().invoke(
        cli, ["report", str(tmp_path / "docs"), "-o", str(tmp_path / "o"), "--ray", "--batch"]
    )
    assert batch.exit_code == 2 and "--batch cannot be combined with --ray" in batch.stderr
    assert not (tmp_path / "o").exists(), "a usage error comes before any work"


def test_ray_data_maps_rows_of_paths_and_bytes_to_reports(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],
    tmp_path: Path,
) -> None:
    facts = write_corpus(tmp_path / "docs", 4)
    server = make_fake_api(responder=facts_only)
    start_ray(server)
    paths = sorted(tmp_path.glob("docs/*.txt"))
    rows = [{"path": str(path)} for path in paths[:3]]
    rows.append({"bytes": paths[3].read_bytes(), "name": paths[3].name})
    rows.append({"bytes": b"", "name": "empty.txt"})
    dataset = ray.data.from_items(rows).map(
        AnalyzeRows,
        fn_constructor_kwargs={
            "backend": "anthropic",
            "chunk_size": 400,
            "limiter": start_rate_limiter(),
        },
        concurrency=2,
    )
    results = dataset.take_all()
    done = [row for row in results if row["status"] == "complete"]
    [failed] = [row for row in results if row["status"] == "failed"]
    assert len(done) == 4 and "empty.txt is empty" in failed["error"]
    assert {fact for row in done for fact in FACT.findall(row["report"])} == facts
    assert all(row["input_tokens"] > 0 and row["cost"] > 0 for row in done)
