"""The run store: replies kept across processes, concurrent use, damage reported clearly."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from docanalyze.errors import StoreError
from docanalyze.models.base import ModelReply, ModelRequest, Usage
from docanalyze.models.stored import StoredModel, call_key
from docanalyze.store import RunStore, default_store_path
from tests.fakes import RecordingModel


def reply(text: str = "answer") -> ModelReply:
    return ModelReply(text, "end_turn", "claude-test", Usage(1, 120, 30), 0.5)


def test_the_default_store_lives_in_docanalyze_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCANALYZE_HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / "docanalyze.sqlite3"
    with RunStore() as store:
        assert store.path.exists()


def test_a_reply_is_committed_and_visible_to_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with RunStore(path) as writer:
        writer.put_call("k1", "map", reply("first"), None)
        with RunStore(path) as reader:
            stored = reader.get_call("k1")
    assert stored is not None and stored.text == "first"
    assert stored.usage.input_tokens == 120 and stored.model == "claude-test"


def test_files_are_private_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "private" / "store.sqlite3"
    with RunStore(path) as store:
        store.put_call("k", "map", reply(), None)
        mode = store._connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_key_covers_model_parameters_and_prompt() -> None:
    base = ModelRequest("prompt", 100, "map")
    keys = {
        call_key("m", base),
        call_key("other", base),
        call_key("m", ModelRequest("prompt", 200, "map")),
        call_key("m", ModelRequest("prompt!", 100, "map")),
        call_key("m", ModelRequest("prompt", 100, "map", system="s")),
    }
    assert len(keys) == 5
    assert call_key("m", base) == call_key("m", ModelRequest("prompt", 100, "reduce"))


def test_stored_model_answers_a_repeat_without_a_request(tmp_path: Path) -> None:
    inner = RecordingModel()
    request = ModelRequest("Say FACT-0001", 50, "map", material=("FACT-0001",))
    with RunStore(tmp_path / "s.sqlite3") as store:
        model = StoredModel(inner, store)
        first = asyncio.run(model.complete(request))
        second = asyncio.run(model.complete(request))
        refreshed = asyncio.run(StoredModel(inner, store, mode="refresh").complete(request))
        asyncio.run(StoredModel(inner, store, mode="off").complete(request))
    assert first.text == second.text == refreshed.text
    assert second.usage == Usage() and first.usage.requests == 1
    assert (model.hits, model.misses) == (1, 1)
    assert len(inner.requests) == 3


def _write_many(path: str, prefix: str, count: int) -> None:
    with RunStore(Path(path)) as store:
        for number in range(count):
            store.put_call(f"{prefix}-{number}", "map", reply(f"{prefix} {number}"), None)


def test_two_processes_write_at_once_without_corruption(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    RunStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), p, 300)) for p in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with RunStore(path) as store:
        assert store.cache_stats().calls == 600
        assert store._connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _open_new_stores(folder: str, rounds: int, barrier: Any) -> None:
    for number in range(rounds):
        barrier.wait(30)
        with RunStore(Path(folder) / f"new-{number}.sqlite3") as store:
            store.start_run([], {}, "claude-test")


def test_processes_creating_the_same_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    # Two runs started together on a fresh DOCANALYZE_HOME both set the new file up. SQLite
    # refuses one of them at once (no busy wait) in about one race in five.
    rounds, processes = 15, 4
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    workers = [
        context.Process(target=_open_new_stores, args=(str(tmp_path), rounds, barrier))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    for number in range(rounds):
        with RunStore(tmp_path / f"new-{number}.sqlite3") as store:
            assert len(store.list_runs()) == processes


def test_a_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="unreadable.*move it away or delete it"):
        RunStore(path)


def test_a_store_locked_too_long_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    RunStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with RunStore(path, busy_timeout=0.2) as store, pytest.raises(StoreError, match="locked"):
            store.put_call("k", "map", reply(), None)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_runs_are_recorded_and_found_by_prefix(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite3") as store:
        run_id = store.start_run([{"source": "a.pdf", "sha256": "ab"}], {"model": "m"}, "m")
        assert store.get_run(run_id[:15]).status == "running"
        store.finish_run(
            run_id,
            "complete",
            requests=3,
            cached=1,
            usage=Usage(3, 10, 5),
            cost=0.5,
            result={"report": "r"},
        )
        record = store.get_run(run_id)
    assert record.status == "complete" and record.result == {"report": "r"}
    assert record.cost == 0.5 and record.requests == 3


def test_a_store_from_before_thinking_was_counted_gets_its_column(tmp_path: Path) -> None:
    import sqlite3

    from docanalyze.models.base import ModelReply, Usage

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE calls (key TEXT PRIMARY KEY, model TEXT NOT NULL, stage TEXT NOT NULL, "
            "text TEXT NOT NULL, stop_reason TEXT NOT NULL, input_tokens INTEGER NOT NULL, "
            "output_tokens INTEGER NOT NULL, cache_creation_input_tokens INTEGER NOT NULL, "
            "cache_read_input_tokens INTEGER NOT NULL, duration REAL NOT NULL, "
            "created_at REAL NOT NULL, run_id TEXT)"
        )
        old.execute(
            "INSERT INTO calls VALUES ('k0', 'm', 'map', 'old', 'end_turn', 1, 2, 0, 0, 0.1, 0, NULL)"
        )
    with RunStore(path) as store:
        stored = store.get_call("k0")
        assert stored is not None and stored.usage.thinking_tokens == 0
        reply = ModelReply("new", "max_tokens", "m", Usage(1, 10, 300, thinking_tokens=290))
        store.put_call("k1", "map", reply, None)
        again = store.get_call("k1")
        assert again is not None and again.usage.thinking_tokens == 290
