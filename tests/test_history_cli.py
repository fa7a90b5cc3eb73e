"""`docanalyze runs` and `docanalyze cache`, two runs sharing one store, and a damaged store."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from docanalyze.cli import cli
from docanalyze.store import STORE_FILE, RunStore, default_store_path
from fakeserver import RecordedRequest


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def facts_only(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(re.findall(r"FACT-\d+", request.prompt))) or "nothing"


def claude_env(server) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.base_url}


def test_runs_lists_and_shows_a_run_and_prints_its_report_again(fixtures_dir: Path) -> None:
    sample = str(fixtures_dir / "sample.txt")
    code, report_text, _ = invoke("report", sample, "-q")
    assert code == 0
    code, listing, _ = invoke("runs")
    assert code == 0 and "sample.txt" in listing and "complete" in listing
    run_id = re.search(r"\d{8}-\d{6}-[0-9a-f]{6}", listing).group(0)
    code, details, _ = invoke("runs", "show", run_id[:15])
    assert code == 0 and run_id in details and "complete" in details
    code, again, _ = invoke("runs", "show", run_id, "--report")
    assert code == 0 and again == report_text
    code, data, _ = invoke("runs", "show", run_id, "--format", "json")
    assert json.loads(data)["inputs"][0]["source"] == sample


def test_offline_token_figures_are_labelled_as_its_estimate_in_the_index_and_runs(
    make_fake_api, fixtures_dir: Path, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "sample.txt").write_text((fixtures_dir / "sample.txt").read_text(), encoding="utf-8")
    rows = {}
    for name, env in [
        ("offline", None),
        ("claude", claude_env(make_fake_api(responder=facts_only))),
    ]:
        out = tmp_path / name
        assert invoke("report", str(docs), "-o", str(out), "-q", env=env)[0] == 0
        rows[name] = json.loads((out / "index.jsonl").read_text())
    assert rows["offline"]["requests"] == 0 and rows["offline"]["input_tokens"] > 0
    assert rows["offline"]["estimated"] is True
    assert rows["claude"]["requests"] > 0 and "estimated" not in rows["claude"]

    listing = invoke("runs")[1].splitlines()
    offline = rows["offline"]
    [offline_line] = [line for line in listing if offline["run_id"] in line]
    assert f"~{offline['input_tokens']:,} / ~{offline['output_tokens']:,}" in offline_line
    [claude_line] = [line for line in listing if rows["claude"]["run_id"] in line]
    assert "~" not in claude_line
    details = invoke("runs", "show", offline["run_id"])[1]
    assert f"~{offline['input_tokens']:,} input" in details and "estimate" in details
    data = json.loads(invoke("runs", "show", offline["run_id"], "--format", "json")[1])
    assert data["estimated"] is True


def test_runs_show_names_an_unknown_id(fixtures_dir: Path) -> None:
    code, _, err = invoke("runs", "show", "19990101")
    assert code == 1 and "no run matches" in err and "docanalyze runs" in err


def test_cache_stats_and_clear(make_fake_api, fixtures_dir: Path) -> None:
    server = make_fake_api(responder=facts_only)
    env = claude_env(server)
    assert invoke("report", str(fixtures_dir / "sample.txt"), "-q", env=env)[0] == 0
    code, stats, _ = invoke("cache", "stats")
    replies = int(re.search(r"replies\s+(\d+)", stats).group(1))
    assert code == 0 and replies == len(server.requests) > 0
    code, _, err = invoke("cache", "clear", "--yes")
    assert code == 0 and f"Deleted {replies}" in err
    assert re.search(r"replies\s+0\b", invoke("cache", "stats")[1])
    assert invoke("report", str(fixtures_dir / "sample.txt"), "-q", env=env)[0] == 0
    assert len(server.requests) == 2 * replies, "after clearing, the calls were asked again"


def test_a_second_run_reuses_the_store_and_refresh_asks_again(
    make_fake_api, fixtures_dir: Path
) -> None:
    server = make_fake_api(responder=facts_only)
    env = claude_env(server)
    sample = str(fixtures_dir / "sample.txt")
    invoke("report", sample, "-q", env=env)
    first = len(server.requests)
    code, _, err = invoke("report", sample, env=env)
    assert code == 0 and len(server.requests) == first
    assert f"+{first} answered from the run store" in err
    invoke("report", sample, "--refresh", "-q", env=env)
    assert len(server.requests) == 2 * first
    invoke("report", sample, "--no-cache", "-q", env=env)
    assert len(server.requests) == 3 * first


def test_two_concurrent_runs_share_one_store(make_fake_api, tmp_path: Path) -> None:
    server = make_fake_api(responder=facts_only, latency=0.05)
    env = {**os.environ, **claude_env(server), "DOCANALYZE_HOME": str(tmp_path / "home")}
    processes = []
    for name in ("a", "b"):
        document = tmp_path / f"{name}.txt"
        document.write_text(
            "\f".join(
                f"FACT-{n:04d} {name} page. " + "Words of the page. " * 40 for n in range(12)
            ),
            encoding="utf-8",
        )
        command = [
            sys.executable,
            "-m",
            "docanalyze",
            "report",
            str(document),
            "--chunk-size",
            "500",
            "-q",
            "-o",
            str(tmp_path / f"{name}.md"),
        ]
        processes.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    for process in processes:
        assert process.wait(120) == 0, process.stderr.read() if process.stderr else ""
    env_home = {"DOCANALYZE_HOME": str(tmp_path / "home")}
    code, listing, _ = invoke("runs", env=env_home)
    assert code == 0 and listing.count("complete") == 2
    replies = int(re.search(r"replies\s+(\d+)", invoke("cache", "stats", env=env_home)[1]).group(1))
    assert replies == len(server.requests)


def test_a_damaged_store_is_one_clear_line(fixtures_dir: Path) -> None:
    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage, not a database" * 200)
    code, out, err = invoke("report", str(fixtures_dir / "sample.txt"))
    assert code == 1 and out == ""
    assert str(path) in err and "move it away or delete it" in err
    assert len(err.strip().splitlines()) == 2  # the offline notice, then the error


def test_a_killed_run_shows_what_it_paid_for(make_fake_api, tmp_path: Path) -> None:
    """A run SIGKILLed mid-run never wrote its totals: `runs` counts them from its replies."""
    server = make_fake_api(responder=facts_only, latency=0.2)
    home = tmp_path / "home"
    env = {**os.environ, **claude_env(server), "DOCANALYZE_HOME": str(home)}
    document = tmp_path / "long.txt"
    document.write_text(
        "\f".join(f"FACT-{n:04d} page. " + "Words of the page. " * 40 for n in range(40)),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "docanalyze", "report", str(document)]
    command += ["--chunk-size", "500", "--concurrency", "2", "-q"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    store = RunStore(home / STORE_FILE)
    try:
        deadline = time.monotonic() + 60
        while store.cache_stats().calls < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        stats = store.cache_stats()
    finally:
        store.close()
    assert 6 <= stats.calls < 40, "killed mid-run, after some replies were stored"
    code, listing, _ = invoke("runs", env={"DOCANALYZE_HOME": str(home)})
    assert code == 0
    row = next(line for line in listing.splitlines() if "killed" in line)
    assert f" {stats.calls:,} " in row
    assert f"{stats.input_tokens:,} / {stats.output_tokens:,}" in row
    assert re.search(r"\$\d", row) and not row.rstrip().endswith("?")
    run_id = row.split()[0]
    code, data, _ = invoke(
        "runs", "show", run_id, "--format", "json", env={"DOCANALYZE_HOME": str(home)}
    )
    shown = json.loads(data)
    assert code == 0 and shown["status"] == "killed" and shown["requests"] == stats.calls
    assert shown["cost"] > 0
    details = invoke("runs", "show", run_id, env={"DOCANALYZE_HOME": str(home)})[1]
    took = float(re.search(r"took\s+([\d.]+) s until its last stored reply", details).group(1))
    assert took >= 0.2 * 6 / 2, "six replies at 0.2 s each, two at a time"


def test_a_run_without_totals_or_replies_took_an_unknown_time() -> None:
    with RunStore() as store:
        run_id = store.start_run([{"source": "a.txt", "sha256": "0" * 64}], {}, "claude-x")
    details = invoke("runs", "show", run_id)[1]
    assert re.search(r"took\s+unknown \(no reply was stored\)", details), details
