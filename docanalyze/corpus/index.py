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

from docanalyze.cost import input_tokens_with_cache
from docanalyze.errors import EXIT_ERROR, EXIT_INCOMPLETE
from docanalyze.report.result import Report

__all__ = ["INDEX_NAME", "CorpusIndex", "IndexEntry", "Status", "report_entry"]

INDEX_NAME = "index.jsonl"

Status = Literal["complete", "failed", "incomplete"]
"""complete: a full report; failed: no report (``error`` says why); incomplete: the report is
written but incomplete (cut at ``--max-tokens``, refused, stopped by ``--max-cost``)."""


@dataclass(frozen=True)
class IndexEntry:
    """One line of the index: a file, how its analysis ended, and what it cost.

    ``report`` is the report's path relative to the output folder (None without one);
    ``sha256`` hashes the file's bytes; ``settings`` fingerprints the options and templates
    that shape a report, so a resume never keeps a report made with other settings.
    ``exit_code`` is what ``docanalyze report`` would exit with for this file alone: 0
    (complete), 1 (failed) or 3 (incomplete). ``estimated``: the token figures are the offline
    analyzer's own estimate (it sends no request), not counts an API returned.
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
    estimated: bool = False
    records: int | None = None
    """How many records the file's table holds (``docanalyze extract``); None for a report."""

    @property
    def exit_code(self) -> int:
        """0 (complete), 1 (failed) or 3 (incomplete), from ``status``."""
        return {"complete": 0, "incomplete": EXIT_INCOMPLETE}.get(self.status, EXIT_ERROR)

    def to_json(self) -> str:
        """The line: every field and ``exit_code``, ``worker`` only on a Ray run, ``estimated``
        only when true (an offline run), ``records`` only for records."""
        fields = asdict(self)
        worker, estimated = fields.pop("worker"), fields.pop("estimated")
        records = fields.pop("records")
        fields["exit_code"] = self.exit_code
        if records is not None:
            fields["records"] = records
        if worker is not None:
            fields["worker"] = worker
        if estimated:
            fields["estimated"] = True
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexEntry | None:
        """The entry of a parsed line, or None when the line is not one."""
        try:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})
        except TypeError:
            return None


def report_entry(
    base: IndexEntry, report: Report, relative: str, stopped: str | None
) -> IndexEntry:
    """The entry of a file with a report: complete, or incomplete (``stopped``: why a run
    stopped early, by ``--max-cost`` or a refusal; a cut report says so too)."""
    usage = report.usage
    if stopped is None and report.truncated:
        stopped = "the report was cut at --max-tokens: raise --max-tokens for the whole report"
    return IndexEntry(
        file=base.file,
        status="complete" if report.complete else "incomplete",
        sha256=base.sha256,
        settings=base.settings,
        report=relative,
        pages=report.page_count,
        chunks=len(report.chunks),
        requests=usage.requests,
        cached=report.cache_hits,
        input_tokens=input_tokens_with_cache(usage),
        output_tokens=usage.output_tokens,
        cost=report.cost,
        error=stopped,
        run_id=report.run_id,
        estimated=usage.estimated,
    )


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
