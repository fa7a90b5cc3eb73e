"""What ``docanalyze extract`` returns: the records of a document as a table, and the run's account."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docanalyze.citations.verify import VerificationSummary
from docanalyze.exit_codes import EXIT_INCOMPLETE
from docanalyze.models.base import Usage
from docanalyze.records.record import Record, RecordTable

__all__ = ["ExtractCounts", "ExtractResult"]


@dataclass(frozen=True)
class ExtractCounts:
    """How the records came to be: ``found`` in the chunks' replies, ``overlap_repeats`` kept
    once (seen twice in the overlap of neighbouring chunks), ``key_merges`` merged in code
    under ``--key``, conflicts ``resolved`` by the model and left ``unresolved`` (their records
    kept apart), and ``unsupported_dropped`` with ``--unsupported drop``."""

    found: int = 0
    overlap_repeats: int = 0
    key_merges: int = 0
    resolved: int = 0
    unresolved: int = 0
    unsupported_dropped: int = 0


@dataclass
class ExtractResult:
    """The records of one document, in document order, each with its pages, quotes and the
    status of its citation; and what the run used.

    ``complete`` is False when part of the document got no answer (``--max-cost`` reached, a
    refused chunk, a request that failed for good): the records of the other chunks are here,
    ``missing_chunks`` (0-based) says which are not, ``stopped`` why, and a resumed run asks
    only for those (every paid reply is in the run store). :attr:`exit_code` is the CLI's.
    """

    source: str
    table: RecordTable
    key: tuple[str, ...]
    backend: str
    model: str
    page_count: int
    chunk_count: int
    usage: Usage
    cost: float | None
    counts: ExtractCounts = field(default_factory=ExtractCounts)
    complete: bool = True
    stopped: str | None = None
    missing_chunks: list[int] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    batch: bool = False
    run_id: str | None = None
    cache_hits: int = 0

    @property
    def records(self) -> tuple[Record, ...]:
        """The records, in document order."""
        return self.table.records

    def instances(self) -> list[Any]:
        """Each record as the schema's pydantic model (a dict of its fields without one)."""
        return [
            record.value if record.value is not None else dict(record.fields)
            for record in self.records
        ]

    def rows(self) -> list[dict[str, Any]]:
        """Each record as a row: its fields, then ``pages``, ``quote`` and ``citation``."""
        return self.table.rows()

    @property
    def citations(self) -> VerificationSummary:
        """How many records' citations were verified, corrected and unsupported."""
        statuses = [record.status for record in self.records]
        return VerificationSummary(
            statuses.count("verified"), statuses.count("corrected"), statuses.count("unsupported")
        )

    @property
    def exit_code(self) -> int:
        """0 for a complete result, 3 (:data:`~docanalyze.exit_codes.EXIT_INCOMPLETE`) otherwise."""
        return 0 if self.complete else EXIT_INCOMPLETE

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the rows and the run's account (what the run store keeps)."""
        return {
            "source": self.source,
            "title": self.table.title,
            "columns": list(self.table.columns),
            "records": self.rows(),
            "key": list(self.key),
            "complete": self.complete,
            "stopped": self.stopped,
            "missing_chunks": [index + 1 for index in self.missing_chunks],
            "refusals": self.refusals,
            "failures": self.failures,
            "backend": self.backend,
            "model": self.model,
            "page_count": self.page_count,
            "chunk_count": self.chunk_count,
            "counts": vars(self.counts),
            "usage": vars(self.usage),
            "cost": self.cost,
            "batch": self.batch,
            "notices": self.notices,
            "timings": self.timings,
            "run_id": self.run_id,
            "cache_hits": self.cache_hits,
        }
