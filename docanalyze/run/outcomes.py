"""What a run records and how it stops early: the event log, the steps, kept extractions, refused
parts.

:class:`CostStop`, :class:`RefusalStop` and :class:`FailureStop` end a run's stages early
(``--max-cost``, a refusal, a request that failed for good); the pipeline catches them and writes
the incomplete report from the :class:`Extraction` list and the :class:`RefusedPart` and
:class:`FailedPart` lists the run kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from docanalyze.document import Partial
from docanalyze.events import Event, EventHandler, Notice, RequestRetried
from docanalyze.models.base import Refusal, Stage, Usage

__all__ = [
    "CostStop",
    "EventLog",
    "Extraction",
    "FailedPart",
    "FailureStop",
    "PartStop",
    "RefusalStop",
    "RefusedPart",
    "Step",
]


class CostStop(Exception):
    """Raised instead of sending a request that could break ``--max-cost`` (caught by the pipeline)."""


class PartStop(Exception):
    """A part of the run got no answer (refused or failed): the run ends with its partial work."""


class RefusalStop(PartStop):
    """Raised when the model refused a reduce or final request, or after the map stage when it
    refused any part (caught by the pipeline, which writes the incomplete report)."""


class FailureStop(PartStop):
    """Raised when a reduce or final request failed for good, or after the map stage when a map
    request did (caught by the pipeline, which writes the incomplete report)."""


@dataclass(frozen=True)
class FailedPart:
    """A request that failed for good: its stage, its chunk and pages (map), its one-line error."""

    stage: str
    error: str
    chunk_index: int | None = None
    first_page: int | None = None
    last_page: int | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON form (:attr:`FailedRun.failures <docanalyze.errors.FailedRun.failures>`)."""
        return {
            "stage": self.stage,
            "chunk": None if self.chunk_index is None else self.chunk_index + 1,
            "first_page": self.first_page,
            "last_page": self.last_page,
            "error": self.error,
        }


@dataclass(frozen=True)
class RefusedPart:
    """A part of the document the model refused: the stage, pages and the API's reasons."""

    stage: Stage
    first_page: int
    last_page: int
    refusal: Refusal
    chunk_index: int | None = None
    model: str = ""

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``--format json``'s ``refused``)."""
        return {
            "stage": self.stage,
            "chunk": None if self.chunk_index is None else self.chunk_index + 1,
            "first_page": self.first_page,
            "last_page": self.last_page,
            "category": self.refusal.category,
            "explanation": self.refusal.explanation,
            "model": self.model,
        }


@dataclass
class EventLog:
    """Forwards a run's events to the caller's handler, keeping notices and counting retries."""

    handler: EventHandler | None = None
    notices: list[str] = field(default_factory=list)
    retries: int = 0
    rate_limited: int = 0

    def emit(self, event: Event) -> None:
        """Record ``event`` and pass it on."""
        if isinstance(event, Notice):
            self.notices.append(event.message)
        elif isinstance(event, RequestRetried):
            self.retries += 1
            self.rate_limited += event.status == 429
        if self.handler is not None:
            self.handler(event)


@dataclass(frozen=True)
class Extraction:
    """A map reply that was kept: the span ``[start, end)`` of the document it covers."""

    chunk_index: int
    start: int
    end: int
    partial: Partial
    model: str


@dataclass
class Step:
    """One step of a stage's progress (a chunk, a reduce group, the report or one of its parts):
    the usage of every request it took so far. It is finished once, when its work is kept."""

    stage: Stage
    level: int = 0
    usage: Usage = field(default_factory=Usage)
