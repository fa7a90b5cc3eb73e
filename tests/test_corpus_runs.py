"""Corpus runs: ``docanalyze report DIR`` or a glob over many files, a report each, an index,
failures that spare the others, resuming, and a SIGKILL mid-corpus."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

import docanalyze
from docanalyze.cli import cli
from docanalyze.corpus.files import CorpusFile, expand_inputs, is_corpus_input
from docanalyze.corpus.runner import FileDone, analyze_corpus
from docanalyze.errors import InputError
from docanalyze.run.admission import OFFLINE_DOCUMENTS_PER_CPU, cpus
from docanalyze.store import RunStore
from fakeserver import FakeMessagesAPI
from fakeserver.recording import RecordedRequest
from tests.fakes import GatedResponder

INDEX_FIELDS = {
    "file",
    "status",
    "exit_code",
    "sha256",
    "settings",
    "report",
    "pages",
    "chunks",
    "requests",
    "cached",
    "input_tokens",
    "output_tokens",
    "cost",
    "error",
    "run_id",
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_corpus(root: Path, count: int, folders: int = 5) -> list[Path]:
    """``count`` small text files spread over ``folders`` subfolders, each naming its FACT."""
    paths = []
    for n in range(count):
        path = root / f"part{n % folders}" / f"doc{n:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"FACT-{n:03d} is recorded in this note. The inspectors checked pump {n} in March "
            f"and wrote that its seals held. The repair budget for pump {n} stays unchanged.\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


def index_lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "index.jsonl").read_text("utf-8").splitlines()]


def facts_only(request: RecordedRequest) -> str:
    return " ".join(dict.fromkeys(re.findall(r"FACT-\d+", request.prompt))) or "nothing"


# --- which files, and where their reports go -----------------------------------------------------


def test_a_folder_gives_its_documents_recursively_sorted_skipping_hidden_and_others(
    tmp_path: Path,
) -> None:
    for name in ("b/z.pdf", "b/a.md", "a.txt", "c/d/e.markdown", "notes.text", "x.log", "y.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("text", encoding="utf-8")
    for hidden in (".secret.txt", ".git/config.md", "b/.cache/a.txt"):
        (tmp_path / hidden).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / hidden).write_text("text", encoding="utf-8")

    files = expand_inputs([str(tmp_path)])

    assert [Path(file.path).relative_to(tmp_path).as_posix() for file in files] == [
        "a.txt",
        "b/a.md",
        "b/z.pdf",
        "c/d/e.markdown",
        "notes.text",
    ]
    assert [str(file.report_path(".md")) for file in files] == [
        "a.md",
        "b/a.md",
        "b/z.md",
        "c/d/e.md",
        "notes.md",
    ]


def test_the_output_folder_inside_the_input_folder_is_not_read(tmp_path: Path) -> None:
    write_corpus(tmp_path, 2, folders=1)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "doc000.md").write_text("an old report", encoding="utf-8")
    files = expand_inputs([str(tmp_path)], exclude=tmp_path / "reports")
    assert [Path(file.path).name for file in files] == ["doc000.txt", "doc001.txt"]


def test_a_glob_gives_the_files_it_matches_relative_to_its_fixed_part(tmp_path: Path) -> None:
    for name in ("docs/a/one.pdf", "docs/a/b/two.pdf", "docs/three.pdf", "docs/four.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"%PDF-")
    pattern = str(tmp_path / "docs" / "**" / "*.pdf")
    assert is_corpus_input(pattern)
    assert not is_corpus_input(str(tmp_path / "docs" / "four.txt"))
    assert [str(file.report_path(".md")) for file in expand_inputs([pattern])] == [
        "a/b/two.md",
        "a/one.md",
        "three.md",
    ]


def test_report_names_never_clash(tmp_path: Path) -> None:
    for name in ("one/a/b.pdf", "one/a/b.txt", "one/a/c.txt", "two/a/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("text", encoding="utf-8")
    again = str(tmp_path / "two" / "a" / "c.txt")
    files = expand_inputs([str(tmp_path / "one"), str(tmp_path / "two"), again])
    assert [str(file.report_path(".json")) for file in files] == [
        "a/b.pdf.json",
        "a/b.txt.json",
        "a/c.json",
        "a/c-2.json",
    ]


def test_a_glob_that_climbs_out_of_its_folder_writes_nothing_outside_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "sub" / "d1.txt").write_text("FACT-001 is here.", encoding="utf-8")
    for folder in ("w/x", "w/y", "out"):
        (tmp_path / folder).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "w")

    code, _, err = invoke("report", "*/../../docs/sub/d1.txt", "-o", "../out/w")

    assert code == 0, err
    written = {
        path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()
    }
    assert written == {"docs/sub/d1.txt", "out/w/docs/sub/d1.md", "out/w/index.jsonl"}
    assert [line["report"] for line in index_lines(tmp_path / "out" / "w")] == ["docs/sub/d1.md"]
    deeper = expand_inputs(["*/../../docs/*/d1.txt", "../docs/sub/../sub/d1.txt"])
    assert [str(file.report_stem) for file in deeper] == ["docs/sub/d1"]
    with pytest.raises(InputError, match="inside the output folder"):
        CorpusFile("d1.txt", PurePosixPath("../d1"))


def test_a_file_reached_by_a_relative_and_an_absolute_path_is_analyzed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "d1.txt").write_text("FACT-001 is here.", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    absolute = str(tmp_path / "docs" / "*.txt")
    assert [file.path for file in expand_inputs(["docs/*.txt", absolute])] == ["docs/d1.txt"]
    code, _, err = invoke("report", "docs/*.txt", absolute, "-o", "out")
    assert code == 0, err
    assert [line["file"] for line in index_lines(tmp_path / "out")] == ["docs/d1.txt"]


def test_a_folder_without_documents_or_a_glob_without_match_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no document"):
        expand_inputs([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.pdf")])
    code, _, err = invoke("report", str(tmp_path / "empty"), "-o", str(tmp_path / "out"))
    assert code == 1
    assert err.count("holds no document") == 1


# --- a corpus through the CLI, offline -----------------------------------------------------------


def test_a_folder_of_200_files_gives_a_mirrored_report_each_and_an_index(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "docs", 200)
    out = tmp_path / "out"

    code, stdout, err = invoke("report", str(tmp_path / "docs"), "-o", str(out))

    assert code == 0, err
    assert stdout == ""
    lines = index_lines(out)
    assert [line["file"] for line in lines] == sorted(str(path) for path in sources)
    for line, source in zip(lines, sorted(sources)):
        assert set(line) == INDEX_FIELDS | {"estimated"} and line["estimated"] is True, "offline"
        relative = source.relative_to(tmp_path / "docs").with_suffix(".md").as_posix()
        assert line["status"] == "complete" and line["exit_code"] == 0
        assert line["report"] == relative
        assert line["pages"] == 1 and line["chunks"] == 1
        assert line["error"] is None and isinstance(line["run_id"], str)
        fact = re.search(r"FACT-\d+", source.read_text("utf-8"))
        assert fact is not None and fact.group() in (out / relative).read_text("utf-8")
    assert "[200/200, 0 failed]" in err
    assert "200 reports, 0 failed: see" in err


def test_a_quoted_glob_runs_only_the_files_it_matches(tmp_path: Path) -> None:
    write_corpus(tmp_path / "docs", 6, folders=2)
    (tmp_path / "docs" / "part0" / "extra.md").write_text("FACT-999 is here.", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = invoke("report", str(tmp_path / "docs" / "**" / "*.md"), "-o", str(out), "-q")
    assert code == 0, err
    assert [line["report"] for line in index_lines(out)] == ["part0/extra.md"]


def test_without_o_the_reports_go_to_docanalyze_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(tmp_path / "docs", 2, folders=1)
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("report", "docs")
    assert code == 0, err
    assert "docanalyze-reports/" in err
    folder = Path.cwd() / "docanalyze-reports"
    last = err.splitlines()[-2]
    assert last.endswith(f"see {folder / 'index.jsonl'} (reports in {folder}{os.sep})"), last
    assert (tmp_path / "docanalyze-reports" / "part0" / "doc000.md").is_file()
    assert len(index_lines(tmp_path / "docanalyze-reports")) == 2


def test_bad_files_fail_alone_with_their_error_in_the_index(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_corpus(docs, 5, folders=1)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 8)
    out = tmp_path / "out"

    code, _, err = invoke("report", str(docs), "-o", str(out), "--format", "json")

    assert code == 1
    lines = {Path(str(line["file"])).name: line for line in index_lines(out)}
    assert len(lines) == 8
    for name in ("broken.pdf", "empty.txt", "binary.txt"):
        assert lines[name]["status"] == "failed"
        assert lines[name]["report"] is None
        error = str(lines[name]["error"])
        assert name in error and "\n" not in error
        assert f"{name}: failed: " in err
    complete = [line for line in lines.values() if line["status"] == "complete"]
    assert len(complete) == 5
    assert all(json.loads((out / str(line["report"])).read_text("utf-8")) for line in complete)
    assert f"5 reports, 3 failed: see {out / 'index.jsonl'}" in err


def test_combine_with_a_folder_is_one_report_of_its_documents(tmp_path: Path) -> None:
    write_corpus(tmp_path / "docs", 3, folders=1)
    code, stdout, err = invoke("report", str(tmp_path / "docs"), "--combine", "-q")
    assert code == 0, err
    assert {"FACT-000", "FACT-001", "FACT-002"} <= set(re.findall(r"FACT-\d+", stdout))


# --- incremental writing and resuming ------------------------------------------------------------


def test_each_report_and_index_line_is_written_as_soon_as_its_file_is_done(
    tmp_path: Path,
) -> None:
    write_corpus(tmp_path / "docs", 40)
    out = tmp_path / "out"
    seen: list[tuple[int, int, bool, int]] = []

    def on_file(done: FileDone) -> None:
        report = out / str(done.entry.report)
        reports_on_disk = len(list(out.rglob("*.md")))
        seen.append((done.done, len(index_lines(out)), report.is_file(), reports_on_disk))

    summary = analyze_corpus(docanalyze.Pipeline(), [str(tmp_path / "docs")], out, on_file=on_file)

    assert summary.complete == 40 and summary.ok
    assert [done for done, *_ in seen] == list(range(1, 41))
    assert all(lines == done and exists for done, lines, exists, _ in seen)
    _, _, _, reports_when_the_first_was_done = seen[0]
    assert reports_when_the_first_was_done <= OFFLINE_DOCUMENTS_PER_CPU * cpus() < 40


def test_a_rerun_skips_the_done_files_and_redoes_changed_missing_and_failed_ones(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    sources = write_corpus(tmp_path / "docs", 20, folders=2)
    broken = tmp_path / "docs" / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 nothing")
    out = tmp_path / "out"
    assert invoke("report", str(tmp_path / "docs"), "-o", str(out))[0] == 1
    first = {line["file"]: line for line in index_lines(out)}

    sources[3].write_text("FACT-777 replaced the old text of this note.", encoding="utf-8")
    (out / str(first[str(sources[5])]["report"])).unlink()
    broken.write_bytes((fixtures_dir / "sample-en.pdf").read_bytes())  # repaired
    with (out / "index.jsonl").open("a", encoding="utf-8") as index:
        index.write('{"file": "cut by a cr')  # a crash in the middle of a line
    redone: list[str] = []

    summary = analyze_corpus(
        docanalyze.Pipeline(),
        [str(tmp_path / "docs")],
        out,
        on_file=lambda done: None if done.skipped else redone.append(done.entry.file),
    )

    assert sorted(redone) == sorted([str(sources[3]), str(sources[5]), str(broken)])
    assert summary.skipped == 18 and summary.complete == 21 and summary.ok
    second = {line["file"]: line for line in index_lines(out)}
    assert len(second) == len(index_lines(out)) == 21
    assert second[str(sources[0])] == first[str(sources[0])]
    assert "FACT-777" in (out / str(second[str(sources[3])]["report"])).read_text("utf-8")
    assert second[str(broken)]["status"] == "complete"
    assert second[str(broken)]["pages"] == 7


def test_other_settings_or_refresh_make_a_rerun_analyze_again(tmp_path: Path) -> None:
    write_corpus(tmp_path / "docs", 3, folders=1)
    out = tmp_path / "out"
    rerun = ("report", str(tmp_path / "docs"), "-o", str(out))
    assert invoke(*rerun, "-q")[0] == 0
    assert "3 reports (3 from an earlier run)" in invoke(*rerun)[2]

    code, _, err = invoke(*rerun, "--question", "Which pump?")
    assert code == 0, err
    assert "from an earlier run" not in err
    reports = [out / str(line["report"]) for line in index_lines(out)]
    assert all("## Question" in report.read_text("utf-8") for report in reports)

    code, _, err = invoke(*rerun, "--question", "Which pump?", "--refresh")
    assert code == 0 and "from an earlier run" not in err


def test_a_resumed_corpus_asks_the_server_nothing(
    tmp_path: Path,
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_fake_api(responder=facts_only)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key")
    write_corpus(tmp_path / "docs", 6, folders=2)
    out = tmp_path / "out"

    code, _, err = invoke("report", str(tmp_path / "docs"), "-o", str(out))
    assert code == 0, err
    asked = len(api.requests)
    lines = index_lines(out)
    assert asked >= 12 and sum(int(str(line["requests"])) for line in lines) == asked
    assert all(int(str(line["input_tokens"])) > 0 for line in lines)

    code, _, err = invoke("report", str(tmp_path / "docs"), "-o", str(out))
    assert code == 0, err
    assert len(api.requests) == asked
    assert "6 reports (6 from an earlier run), 0 failed" in err
    assert index_lines(out) == lines


# --- SIGKILL in the middle of a corpus -----------------------------------------------------------

ANSWERED_BEFORE_THE_KILL = 9


def stored_calls(home: Path) -> int:
    if not (home / "docanalyze.sqlite3").exists():
        return 0
    with RunStore(home / "docanalyze.sqlite3") as store:
        return store.cache_stats().calls


def test_a_killed_corpus_run_resumes_and_asks_no_call_twice(tmp_path: Path) -> None:
    sources = write_corpus(tmp_path / "docs", 12, folders=3)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "docanalyze", "report", str(tmp_path / "docs"), "-o", str(out)]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
        "DOCANALYZE_HOME": str(tmp_path / "home"),
        "ANTHROPIC_API_KEY": "test-key",
    }
    responder = GatedResponder(ANSWERED_BEFORE_THE_KILL)
    with FakeMessagesAPI(responder=responder) as server:
        env["ANTHROPIC_BASE_URL"] = server.base_url
        first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while stored_calls(tmp_path / "home") < ANSWERED_BEFORE_THE_KILL:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(15)
        responder.hold = False
        responder.release.set()
        done_before = index_lines(out) if (out / "index.jsonl").exists() else []

        second = subprocess.run(
            command, env=env, check=False, capture_output=True, text=True, timeout=120
        )

    assert second.returncode == 0, second.stderr
    assert len(done_before) < len(sources)
    assert "answered from the run store" in second.stderr or done_before
    assert len(responder.answered) == len(set(responder.answered)), "a call was asked twice"
    lines = index_lines(out)
    assert [line["status"] for line in lines] == ["complete"] * len(sources)
    for line in lines:
        fact = re.search(r"FACT-\d+", Path(str(line["file"])).read_text("utf-8"))
        assert fact is not None and fact.group() in (out / str(line["report"])).read_text("utf-8")
