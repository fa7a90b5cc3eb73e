"""The run store: every paid model reply and every run, in one SQLite file.

The store lives in ``DOCANALYZE_HOME`` (default: the platform's user data folder), in WAL mode so
that several processes can use it at once. Each reply is committed the moment it arrives, so a
crash, SIGKILL or Ctrl-C never loses a paid answer: running the same command again asks only for
the calls that have no stored reply. The API key is never stored; the files are the owner's only.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from docanalyze.errors import StoreError
from docanalyze.models.base import ModelReply, Usage
from docanalyze.store_records import (
    CacheStats,
    RunRecord,
    StoredCall,
    SubmittedBatch,
    blocks_from_json,
    blocks_to_json,
)
from docanalyze.store_runs import StoredReply, record_from_row, with_stored_spend

__all__ = [
    "CacheStats",
    "RunRecord",
    "RunStore",
    "StoredCall",
    "SubmittedBatch",
    "default_store_path",
]

STORE_FILE = "docanalyze.sqlite3"
BUSY_TIMEOUT = 15.0
"""Seconds a write waits for another process's write to finish before giving up."""
_USAGE_COLUMNS = (
    "input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, "
    "thinking_tokens"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    stage TEXT NOT NULL,
    text TEXT NOT NULL,
    stop_reason TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cache_read_input_tokens INTEGER NOT NULL,
    duration REAL NOT NULL,
    created_at REAL NOT NULL,
    run_id TEXT,
    thinking_tokens INTEGER NOT NULL DEFAULT 0,
    blocks TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    pid INTEGER NOT NULL,
    inputs TEXT NOT NULL,
    options TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    cached INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL,
    error TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id);
CREATE TABLE IF NOT EXISTS models (
    key TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    status TEXT NOT NULL,
    requests TEXT NOT NULL
);
"""


def default_store_path() -> Path:
    """``$DOCANALYZE_HOME/docanalyze.sqlite3``, else in the platform's user data folder."""
    home = os.environ.get("DOCANALYZE_HOME")
    if home:
        return Path(home).expanduser() / STORE_FILE
    import platformdirs

    return Path(platformdirs.user_data_dir("docanalyze")) / STORE_FILE


class RunStore:
    """Stored replies and run history in one SQLite file. Use from one thread at a time."""

    def __init__(self, path: Path | None = None, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path or default_store_path()
        self.busy_timeout = busy_timeout
        self._connection = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            return self._connect_when_free()
        except sqlite3.DatabaseError as error:
            raise self._error(error) from None
        except OSError as error:
            raise StoreError(
                f"the run store {self.path} cannot be opened ({error.strerror}); set "
                f"DOCANALYZE_HOME to a writable folder"
            ) from None

    def _connect_when_free(self) -> sqlite3.Connection:
        """Connect and set the store up, waiting while another process is setting it up too.

        Switching a new file to WAL and creating its tables take locks that SQLite refuses at
        once, without its busy wait, when another process is doing the same; so the set-up is
        retried here until ``busy_timeout``.
        """
        deadline = time.monotonic() + self.busy_timeout
        while True:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                connection.executescript(_SCHEMA)
                _add_missing_columns(connection)
                return connection
            except sqlite3.OperationalError as error:
                connection.close()
                if not _is_busy(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.05))

    def _error(self, error: sqlite3.Error) -> StoreError:
        message = str(error)
        if _is_busy(error):
            return StoreError(
                f"the run store {self.path} stayed locked by another process for "
                f"{self.busy_timeout:g} s; try again when it has finished"
            )
        return StoreError(
            f"the run store {self.path} is unreadable ({message}); move it away or delete it "
            f"and docanalyze will start a new one (stored replies in it are lost)"
        )

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection
        except sqlite3.Error as error:
            raise self._error(error) from None

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_call(self, key: str) -> StoredCall | None:
        """The stored reply for ``key``, if any."""
        with self._guard() as db:
            row = db.execute(
                f"SELECT text, stop_reason, model, duration, blocks, {_USAGE_COLUMNS} "
                "FROM calls WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        usage = Usage(1, *row[5:])
        return StoredCall(row[0], row[1], row[2], usage, row[3], blocks_from_json(row[4]))

    def put_call(self, key: str, stage: str, reply: ModelReply, run_id: str | None) -> None:
        """Store (or replace) the reply for ``key``, committed before this returns."""
        usage = reply.usage
        with self._guard() as db:
            db.execute(
                "INSERT OR REPLACE INTO calls (key, model, stage, text, stop_reason, "
                "input_tokens, output_tokens, cache_creation_input_tokens, "
                "cache_read_input_tokens, duration, created_at, run_id, thinking_tokens, "
                "blocks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    reply.model,
                    stage,
                    reply.text,
                    reply.stop_reason,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_creation_input_tokens,
                    usage.cache_read_input_tokens,
                    reply.duration,
                    time.time(),
                    run_id,
                    usage.thinking_tokens,
                    blocks_to_json(reply.blocks),
                ),
            )

    def get_model(self, key: str, max_age: float) -> dict[str, Any] | None:
        """The Models API answer stored under ``key`` if it is at most ``max_age`` seconds old."""
        with self._guard() as db:
            row = db.execute("SELECT body, fetched_at FROM models WHERE key = ?", (key,)).fetchone()
        if row is None or time.time() - row[1] > max_age:
            return None
        body = json.loads(row[0])
        return body if isinstance(body, dict) else None

    def put_model(self, key: str, body: dict[str, Any]) -> None:
        """Store a Models API answer under ``key``, dated now."""
        with self._guard() as db:
            db.execute(
                "INSERT OR REPLACE INTO models VALUES (?, ?, ?)",
                (key, json.dumps(body, sort_keys=True), time.time()),
            )

    def start_run(self, inputs: list[dict[str, str]], options: dict[str, Any], model: str) -> str:
        """Record a new run as running; returns its id (sortable by time)."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with self._guard() as db:
            db.execute(
                "INSERT INTO runs (id, started_at, status, pid, inputs, options, model) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (run_id, time.time(), os.getpid(), json.dumps(inputs), json.dumps(options), model),
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        requests: int,
        cached: int,
        usage: Usage,
        cost: float | None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        """Record how a run ended, its spend, and its result (the report as JSON data)."""
        with self._guard() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, requests = ?, cached = ?, "
                "input_tokens = ?, output_tokens = ?, cost = ?, error = ?, result = ? WHERE id = ?",
                (
                    time.time(),
                    status,
                    requests,
                    cached,
                    usage.input_tokens,
                    usage.output_tokens,
                    cost,
                    error,
                    None if result is None else json.dumps(result, ensure_ascii=False),
                    run_id,
                ),
            )

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The newest runs first."""
        with self._guard() as db:
            rows = db.execute(
                "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._record(row) for row in rows]

    def get_run(self, run_id: str) -> RunRecord:
        """The run with id ``run_id`` (or the only one starting with it)."""
        with self._guard() as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE id LIKE ? ORDER BY started_at DESC LIMIT 2",
                (run_id.replace("%", "") + "%",),
            ).fetchall()
        if len(rows) != 1:
            problem = "no run" if not rows else "more than one run"
            raise StoreError(f"{problem} matches {run_id!r}: see `docanalyze runs` for the ids")
        return self._record(rows[0])

    def run_replies(self, run_id: str) -> list[StoredReply]:
        """The stage, model and usage of every reply stored for run ``run_id``."""
        with self._guard() as db:
            rows = db.execute(
                f"SELECT stage, model, {_USAGE_COLUMNS} FROM calls WHERE run_id = ?", (run_id,)
            ).fetchall()
        return [(row[0], row[1], Usage(1, *row[2:])) for row in rows]

    def _record(self, row: tuple[Any, ...]) -> RunRecord:
        record = record_from_row(row)
        if record.finished_at is None or record.cost is None:  # no totals: from its replies
            record = with_stored_spend(record, self.run_replies(record.id))
        if record.finished_at is None:
            with self._guard() as db:
                (last,) = db.execute(
                    "SELECT MAX(created_at) FROM calls WHERE run_id = ?", (record.id,)
                ).fetchone()
            record = replace(record, last_reply_at=last)
        return record

    def cache_stats(self) -> CacheStats:
        """How many replies are stored, and their size."""
        with self._guard() as db:
            calls, input_tokens, output_tokens = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0) "
                "FROM calls"
            ).fetchone()
            runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        size = sum(
            candidate.stat().st_size
            for candidate in (self.path, *_sidecars(self.path))
            if candidate.exists()
        )
        return CacheStats(self.path, calls, input_tokens, output_tokens, size, runs)

    def record_batch(self, batch_id: str, requests: dict[str, tuple[str, str]]) -> None:
        """Record a batch just created, as pending: ``requests`` maps custom_id to key and stage."""
        with self._guard() as db:
            db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, 'pending', ?)",
                (batch_id, time.time(), json.dumps(requests)),
            )

    def pending_batches(self) -> list[SubmittedBatch]:
        """The batches whose results are not stored yet, oldest first."""
        with self._guard() as db:
            rows = db.execute(
                "SELECT id, created_at, status, requests FROM batches "
                "WHERE status = 'pending' ORDER BY created_at"
            ).fetchall()
        return [
            SubmittedBatch(
                row[0], row[1], row[2], {cid: (k, s) for cid, (k, s) in json.loads(row[3]).items()}
            )
            for row in rows
        ]

    def set_batch_status(self, batch_id: str, status: str) -> None:
        """Mark a batch ``collected`` (its replies are stored) or ``lost`` (its results are gone)."""
        with self._guard() as db:
            db.execute("UPDATE batches SET status = ? WHERE id = ?", (status, batch_id))

    def clear_cache(self) -> int:
        """Delete every stored reply (run history stays); returns how many were deleted."""
        with self._guard() as db:
            deleted = db.execute("DELETE FROM calls").rowcount
            db.execute("VACUUM")
        return int(deleted)


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Stores made before thinking was counted get the column, 0 for their replies; stores
    made before replies were kept in cited blocks get ``blocks``, empty for theirs."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(calls)")}
    if "thinking_tokens" not in columns:
        connection.execute(
            "ALTER TABLE calls ADD COLUMN thinking_tokens INTEGER NOT NULL DEFAULT 0"
        )
    if "blocks" not in columns:
        connection.execute("ALTER TABLE calls ADD COLUMN blocks TEXT")


def _is_busy(error: sqlite3.Error) -> bool:
    message = str(error)
    return "locked" in message or "busy" in message


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
