"""The index of a corpus run: ``OUT/index.jsonl``, one JSON line per file.

While a run works, each file's line is appended (and flushed) the moment its report is written,
so the index is valid JSON lines even after a crash or SIGKILL (a line cut by the crash is
dropped when the index is next opened). When a run ends, the index is rewritten (atomically) with
one line per file of the run, in the run's file order; lines of files the run did not include
are dropped. When a file has several lines, the last one counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["INDEX_NAME", "CorpusIndex", "IndexEntry", "Status"]

INDEX_NAME = "index.jsonl"

Status = Literal["complete", "failed", "stopped"]
"""complete: a full report; failed: no report (``error`` says why); stopped: ``--max-cost``
stopped it, the partial report is written."""


@dataclass(frozen=True)
class IndexEntry:
    """One line of the index: a file, how its analysis ended, and what it cost.

    ``report`` is the report's path relative to the output folder (None without one);
    ``sha256`` hashes the file's bytes; ``settings`` fingerprints the options and templates
    that shape a report, so a resume never keeps a report made with other settings.
    """

    file: str
    status: Status
    sha256: str | None
    settings: str
    report: str | None = None
    pages: int | None = None
    chunks: int | None = None
    requests: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    error: str | None = None
    run_id: str | None = None
    worker: str | None = None
    """Where the file was analyzed on a Ray cluster (node and worker process); None otherwise."""

    def to_json(self) -> str:
        """The line: every field, ``worker`` only on a Ray run."""
        fields = asdict(self)
        if fields["worker"] is None:
            del fields["worker"]
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexEntry | None:
        """The entry of a parsed line, or None when the line is not one."""
        try:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})
        except TypeError:
            return None


class CorpusIndex:
    """``OUT/index.jsonl``: the previous run's entries, appended lines, the final rewrite."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous: dict[str, IndexEntry] = dict(_read_entries(path))
        """The last entry of each file, as the index held it when the run began."""
        _drop_cut_line(path)
        self._file: IO[str] | None = None

    def append(self, entry: IndexEntry) -> None:
        """Add ``entry``'s line and flush it, so it survives a crash of the process."""
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(entry.to_json() + "\n")
        self._file.flush()

    def rewrite(self, files: Iterable[str]) -> None:
        """Replace the index by the last line of each of ``files`` (in that order)."""
        self.close()
        latest = dict(_read_entries(self.path))
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with temporary.open("w", encoding="utf-8") as out:
            for file in files:
                entry = latest.get(file)
                if entry is not None:
                    out.write(entry.to_json() + "\n")
        os.replace(temporary, self.path)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_entries(path: Path) -> Iterator[tuple[str, IndexEntry]]:
    """(file, entry) for each valid line of the index, in order; nothing when it is missing."""
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            entry = IndexEntry.from_dict(data) if isinstance(data, dict) else None
            if entry is not None:
                yield entry.file, entry


def _drop_cut_line(path: Path) -> None:
    """Cut a last line left unfinished by a crash, so the next appended line stands alone."""
    try:
        with path.open("rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
            handle.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        return
