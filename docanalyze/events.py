"""What a running pipeline tells its caller: notices and progress.

The core never prints. It calls the ``on_event`` callback it was given (the CLI turns events into
a progress display and stderr lines) and also keeps every notice in the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from docanalyze.models.base import Stage, Usage

__all__ = ["Event", "EventHandler", "Notice", "StageStarted", "StepFinished"]


@dataclass(frozen=True)
class Notice:
    """Something the user should know, such as the backend chosen or a truncated report."""

    message: str


@dataclass(frozen=True)
class StageStarted:
    """A stage began: ``steps`` requests are planned (a reduce ``level`` counts from 1)."""

    stage: Stage
    steps: int
    level: int = 0


@dataclass(frozen=True)
class StepFinished:
    """One step (a chunk's extraction, a reduce group, the final report) is done."""

    stage: Stage
    usage: Usage
    level: int = 0


@dataclass(frozen=True)
class RequestRetried:
    """A request failed in a way worth retrying and will be sent again after ``delay`` seconds.

    ``reason`` is short and safe to show ("429", "529", "timeout", "connection").
    """

    reason: str
    delay: float
    status: int | None = None


@dataclass(frozen=True)
class ReportText:
    """A piece of the final report as it streams in (only with ``Options.stream``).

    ``restart`` means the stream broke and is retried: discard the text received so far.
    """

    text: str
    restart: bool = False


Event = Notice | StageStarted | StepFinished | RequestRetried | ReportText
EventHandler = Callable[[Event], None]
