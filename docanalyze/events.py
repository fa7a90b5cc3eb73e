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


Event = Notice | StageStarted | StepFinished
EventHandler = Callable[[Event], None]
