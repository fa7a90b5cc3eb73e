"""``docanalyze extract`` over several documents, folders and globs, in Python and on Ray: a
table per document, the combined table with the document's name first, the index, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ray import cloudpickle

from docanalyze import Pipeline
from docanalyze.cli import cli
from docanalyze.ray.runner import RayExecutor
from docanalyze.records.corpus import extract_corpus
from docanalyze.store import RunStore
from fakeserver import FakeMessagesAPI
from fakeserver.structured import StructuredResponder
from tests.fakes import GatedResponder
from tests.planted_records import OBLIGATION_SCHEMA
from tests.test_ray import start_ray  # noqa: F401  (the local Ray fixture)

FILLER = "The inspectors walked the site and wrote down what they saw. "
ZH_FILLER = "检查人员巡视了现场，并记录了每台水泵的状况。"


def record(number: int, party: str, action: str) -> str:
    return (
        f"Record REC-{number:04d} id: OB-{number}; party: {party}; action: {action}; "
        f"deadline: 2027-0{1 + number % 9}-1{number % 10}."
    )


def write_documents(root: Path) -> dict[str, Path]:
    """Three small documents with planted records: two pages in English, one in a subfolder,
    one in Chinese."""
    documents = {
        "a.txt": f"{FILLER * 3}{record(1, 'Acme Corp', 'deliver the audit report')} "
        f"{FILLER * 2}\f{FILLER}{record(2, 'Keller & Sons', 'replace the seals')} {FILLER}",
        "sub/b.txt": f"{FILLER * 2}{record(3, 'Blue Harbor', 'train the staff')} {FILLER}",
        "zh.txt": f"{ZH_FILLER * 3} {record(4, '北风物流', '提交年度压力测试结果')} {ZH_FILLER * 2}"
        f"\f{ZH_FILLER} {record(5, '蓝港公用事业', '更换磨损的泵密封件')} {ZH_FILLER}",
    }
    paths = {}
    for name, text in documents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "obligation.json"
    path.write_text(json.dumps(OBLIGATION_SCHEMA), encoding="utf-8")
    return path


@pytest.fixture
def api(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> FakeMessagesAPI:
    server = make_fake_api()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    return server


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def single_rows(path: Path) -> list[dict[str, object]]:
    return Pipeline().extract(str(path), OBLIGATION_SCHEMA, key=["id"]).rows()


def structured_requests(server: FakeMessagesAPI) -> int:
    return sum(1 for request in server.requests if "output_config" in request.body)


# --- several documents in Python and on stdout ----------------------------------------------


def test_extract_many_gives_each_documents_rows_and_one_table_of_them_all(
    api: FakeMessagesAPI, tmp_path: Path
) -> None:
    paths = write_documents(tmp_path / "docs")
    sources = [str(path) for path in paths.values()]

    result = Pipeline().extract_many(sources, OBLIGATION_SCHEMA, key=["id"])

    assert result.ok and not result.failures
    assert [one.source for one in result.results] == sources
    for one, path in zip(result.results, paths.values()):
        assert one.rows() == single_rows(path)
    rows = result.rows()
    assert [row["document"] for row in rows] == [sources[0]] * 2 + [sources[1]] + [sources[2]] * 2
    assert list(rows[0])[:2] == ["document", "id"]
    assert [{k: v for k, v in row.items() if k != "document"} for row in rows] == [
        row for path in paths.values() for row in single_rows(path)
    ]
    assert rows[3]["party"] == "北风物流" and rows[3]["citation"] == "verified"
    assert rows[4]["pages"] == [2]


def test_a_document_that_fails_is_reported_and_the_others_extracted(
    api: FakeMessagesAPI, tmp_path: Path, schema_file: Path
) -> None:
    paths = write_documents(tmp_path / "docs")
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a PDF")

    code, out, err = invoke("extract", str(tmp_path / "docs"), "--schema", str(schema_file))

    assert code == 1, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert {row["document"] for row in rows} == {str(path) for path in paths.values()}
    assert len(rows) == 5
    assert "Error:" in err and "broken.pdf" in err
    assert f"docanalyze: {paths['a.txt']}: 2 records" in err


def test_several_paths_and_a_quoted_glob_give_one_table_on_stdout(
    api: FakeMessagesAPI, tmp_path: Path, schema_file: Path
) -> None:
    paths = write_documents(tmp_path / "docs")

    code, out, err = invoke(
        "extract",
        str(paths["a.txt"]),
        str(tmp_path / "docs" / "sub" / "*.txt"),
        "--schema",
        str(schema_file),
        "--format",
        "csv",
    )

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("document,id,party,action,deadline,pages,quote,citation")
    assert len(lines) == 4 and str(paths["sub/b.txt"]) in lines[3]


def test_ray_without_a_folder_is_a_usage_error(
    api: FakeMessagesAPI, tmp_path: Path, schema_file: Path
) -> None:
    write_documents(tmp_path / "docs")

    code, _, err = invoke("extract", str(tmp_path / "docs"), "--schema", str(schema_file), "--ray")

    assert code == 2 and "add -o DIR" in err
    assert not api.requests


@pytest.mark.parametrize("into_folder", [False, True])
def test_without_a_key_it_says_in_one_line_that_it_needs_claude_and_reads_nothing(
    tmp_path: Path, schema_file: Path, into_folder: bool
) -> None:
    write_documents(tmp_path / "docs")
    out = tmp_path / "out"
    folder = ["-o", str(out)] if into_folder else []

    code, stdout, err = invoke(
        "extract", str(tmp_path / "docs"), "--schema", str(schema_file), *folder
    )

    assert code == 1 and not stdout
    needs_claude = (
        "Error: docanalyze extract needs a model that answers in a JSON schema, and the "
        "extractive backend does not (the offline analyzer only quotes the document): set "
        "ANTHROPIC_API_KEY to extract with Claude"
    )
    assert err.strip().splitlines() == [needs_claude]
    assert not out.exists()


# --- into a folder: a table each, the combined table, the index, resume ---------------------


def test_a_folder_into_o_dir_writes_a_table_each_the_combined_table_and_the_index(
    api: FakeMessagesAPI, tmp_path: Path, schema_file: Path
) -> None:
    paths = write_documents(tmp_path / "docs")
    (tmp_path / "docs" / "records.txt").write_text(record(6, "Acme", "x") + " " + FILLER)
    out = tmp_path / "out"

    code, _, err = invoke(
        "extract",
        str(tmp_path / "docs"),
        "--schema",
        str(schema_file),
        "--key",
        "id",
        "-o",
        str(out),
    )

    assert code == 0, err
    assert "6 records of 4 documents, 0 failed" in err
    for name, path in paths.items():
        table = out / name.replace(".txt", ".jsonl")
        assert jsonl(table) == single_rows(path)
    assert len(jsonl(out / "records-2.jsonl")) == 1, "no document's table takes the combined name"
    combined = jsonl(out / "records.jsonl")
    assert [row["document"] for row in combined] == [
        str(paths["a.txt"]),
        str(paths["a.txt"]),
        str(tmp_path / "docs" / "records.txt"),
        str(paths["sub/b.txt"]),
        str(paths["zh.txt"]),
        str(paths["zh.txt"]),
    ]
    index = jsonl(out / "index.jsonl")
    assert [line["status"] for line in index] == ["complete"] * 4
    assert [line["records"] for line in index] == [2, 1, 1, 2]
    assert all(int(str(line["requests"])) >= 1 and line["cost"] for line in index)

    asked = len(api.requests)
    code, _, err = invoke(
        "extract",
        str(tmp_path / "docs"),
        "--schema",
        str(schema_file),
        "--key",
        "id",
        "-o",
        str(out),
    )
    assert code == 0, err
    assert len(api.requests) == asked, "a resumed run asks nothing for finished documents"
    assert "6 records of 4 documents (4 from an earlier run)" in err
    assert jsonl(out / "records.jsonl") == combined


def test_a_failing_document_is_a_failed_line_and_the_others_are_written(
    api: FakeMessagesAPI, tmp_path: Path
) -> None:
    paths = write_documents(tmp_path / "docs")
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a PDF")
    out = tmp_path / "out"

    summary = extract_corpus(Pipeline(), [str(tmp_path / "docs")], out, OBLIGATION_SCHEMA)

    assert summary.exit_code == 1 and summary.failed == 1 and summary.complete == 3
    [failed] = [line for line in jsonl(out / "index.jsonl") if line["status"] == "failed"]
    assert "broken.pdf" in str(failed["file"]) and failed["error"] and failed["exit_code"] == 1
    assert summary.records == 5 and len(jsonl(out / "records.jsonl")) == 5
    assert all((out / name.replace(".txt", ".jsonl")).is_file() for name in paths)


def test_another_schema_makes_a_rerun_extract_again(api: FakeMessagesAPI, tmp_path: Path) -> None:
    write_documents(tmp_path / "docs")
    out = tmp_path / "out"
    extract_corpus(Pipeline(), [str(tmp_path / "docs")], out, OBLIGATION_SCHEMA)
    narrower = {**OBLIGATION_SCHEMA, "title": "Duty"}

    summary = extract_corpus(Pipeline(), [str(tmp_path / "docs")], out, narrower)

    assert summary.skipped == 0 and summary.complete == 3


# --- a run killed mid-way resumes --------------------------------------------------------------

ANSWERED_BEFORE_THE_KILL = 3


def stored_calls(home: Path) -> int:
    if not (home / "docanalyze.sqlite3").exists():
        return 0
    with RunStore(home / "docanalyze.sqlite3") as store:
        return store.cache_stats().calls


def test_a_killed_run_resumes_and_asks_nothing_again_for_finished_documents(
    tmp_path: Path, schema_file: Path
) -> None:
    for number in range(7):
        folder = tmp_path / "docs" / f"part{number % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        text = f"{FILLER * 2}{record(10 + number, 'Acme Corp', f'inspect pump {number}')} {FILLER}"
        (folder / f"doc{number}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "docanalyze", "extract", str(tmp_path / "docs")]
    command += ["--schema", str(schema_file), "-o", str(out)]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
        "DOCANALYZE_HOME": str(tmp_path / "home"),
        "ANTHROPIC_API_KEY": "test-key",
    }
    responder = GatedResponder(ANSWERED_BEFORE_THE_KILL, StructuredResponder())
    with FakeMessagesAPI(responder=responder) as server:
        env["ANTHROPIC_BASE_URL"] = server.base_url
        first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while stored_calls(tmp_path / "home") < ANSWERED_BEFORE_THE_KILL:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # the finished documents' lines are written
        first.send_signal(signal.SIGKILL)
        first.wait(15)
        responder.hold = False
        responder.release.set()
        done_before = jsonl(out / "index.jsonl") if (out / "index.jsonl").exists() else []

        second = subprocess.run(
            command, env=env, check=False, capture_output=True, text=True, timeout=120
        )

    assert second.returncode == 0, second.stderr
    assert 0 < len(done_before) < 7
    assert f"({len(done_before)} from an earlier run)" in second.stderr
    assert len(responder.answered) == len(set(responder.answered)) == 7, "asked twice"
    lines = jsonl(out / "index.jsonl")
    assert [line["status"] for line in lines] == ["complete"] * 7
    by_file = {line["file"]: line for line in lines}
    assert [by_file[line["file"]] for line in done_before] == done_before, "kept, not redone"
    combined = jsonl(out / "records.jsonl")
    assert sorted(str(row["id"]) for row in combined) == [f"OB-{10 + n}" for n in range(7)]


# --- on Ray --------------------------------------------------------------------------------------


def test_on_ray_the_same_tables_and_combined_table_as_off_ray(
    make_fake_api: Callable[..., FakeMessagesAPI],
    start_ray: Callable[..., None],  # noqa: F811
    tmp_path: Path,
    schema_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_documents(tmp_path / "docs")
    server = make_fake_api()
    start_ray(server)
    sent: list[bytes] = []
    send = RayExecutor.run

    async def sending(executor: RayExecutor, job: Any) -> Any:
        sent.append(cloudpickle.dumps(job))
        return await send(executor, job)

    monkeypatch.setattr(RayExecutor, "run", sending)
    here, there = tmp_path / "here", tmp_path / "there"
    base = ["extract", str(tmp_path / "docs"), "--schema", str(schema_file), "--key", "id"]

    code, _, err = invoke(*base, "-o", str(here))
    assert code == 0, err
    code, _, err = invoke(*base, "-o", str(there), "--ray")
    assert code == 0, err

    tables = sorted(path.relative_to(here) for path in here.rglob("*.jsonl"))
    assert tables == sorted(path.relative_to(there) for path in there.rglob("*.jsonl"))
    for table in tables:
        if table.name != "index.jsonl":
            assert jsonl(here / table) == jsonl(there / table)
    workers = [line.get("worker") for line in jsonl(there / "index.jsonl")]
    assert all(isinstance(worker, str) and "/" in worker for worker in workers)
    assert len(sent) == 3 and not any(b"test-key" in job for job in sent), "no key in a job"
