"""What a running pipeline tells its caller: notices and progress.

The core never prints. It calls the ``on_event`` callback it was given (the CLI turns events into
a progress display and stderr lines) and also keeps every notice in the report.

Progress counts steps, not requests: a stage announces its ``steps`` (:class:`StageStarted`) and
then finishes each exactly once (:class:`StepFinished`), however many requests a step took. A
reply asked again (:class:`RequestReasked`) and a failed attempt sent again
(:class:`RequestRetried`) are events of their own; :class:`Waiting` says what holds the run up,
and again, ``done``, when it no longer does.
A run that stops early has finished fewer steps than it announced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from docanalyze.models.base import Stage, Usage

__all__ = [
    "Event",
    "EventHandler",
    "Notice",
    "ProgressStage",
    "ReportText",
    "RequestReasked",
    "RequestRetried",
    "StageStarted",
    "StepFinished",
    "Waiting",
    "waiting_on",
]


@dataclass(frozen=True)
class Notice:
    """Something the user should know, such as the backend chosen or a truncated report."""

    message: str


ProgressStage = Literal["ocr"] | Stage
"""A stage progress shows: the model's stages, and ``"ocr"`` (reading page images before them,
one step a page)."""


@dataclass(frozen=True)
class StageStarted:
    """A stage began: ``steps`` requests are planned (a reduce ``level`` counts from 1).
    ``label``: what progress calls it, when not its stage's name (an extraction's map stage
    is ``extract records``)."""

    stage: ProgressStage
    steps: int
    level: int = 0
    label: str | None = None


@dataclass(frozen=True)
class StepFinished:
    """One step of a stage is done: a chunk extracted, a reduce group merged, the report or
    one of its parts written. Sent once per step; ``usage`` counts every request the step
    took (re-asks included)."""

    stage: ProgressStage
    usage: Usage
    level: int = 0


@dataclass(frozen=True)
class RequestReasked:
    """A reply was no answer and its step asks again: ``reason`` is ``"max_tokens"`` (cut:
    asked with more room, or in two halves), ``"thinking"`` (cut while thinking: more room to
    think), ``"refused"`` (asked of the fallback model) or ``"off-schema"`` (an extraction's
    reply that ended but does not follow its schema: asked again with what was wrong)."""

    stage: Stage
    reason: str
    level: int = 0


@dataclass(frozen=True)
class Waiting:
    """The run waits before it can go on: on ``what`` (``"the Models API"``, ``"count_tokens"``,
    ``"a rate-limit pause"``, ``"the first request, which writes the prompt cache"``), for
    ``seconds`` when that is known. ``done``: the wait on ``what`` is over."""

    what: str
    seconds: float | None = None
    done: bool = False


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
    """A piece of the final report as it streams in (only with ``Options.stream``): one or
    more of its lines, each sent once its citations are checked.

    ``restart`` means the stream broke and is retried: discard the text received so far.
    """

    text: str
    restart: bool = False


@contextmanager
def waiting_on(on_event: Callable[[Waiting], None] | None, what: str) -> Iterator[None]:
    """Tell ``on_event`` (if any) that the run waits on ``what`` for the body of the block, and
    that the wait is over when the block ends."""
    if on_event is not None:
        on_event(Waiting(what))
    try:
        yield
    finally:
        if on_event is not None:
            on_event(Waiting(what, done=True))


Event = (
    Notice | StageStarted | StepFinished | RequestReasked | RequestRetried | Waiting | ReportText
)
EventHandler = Callable[[Event], None]
