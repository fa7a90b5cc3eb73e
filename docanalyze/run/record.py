"""Recording a run in the run store: what was asked, how it ended, what it cost."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, TypeVar

from docanalyze.document import Document
from docanalyze.errors import DocanalyzeError, FailedRun, IncompleteRun, RefusedRun
from docanalyze.models.base import Model, Usage
from docanalyze.models.stored import StoredModel
from docanalyze.options import Options
from docanalyze.store import RunStore

__all__ = ["RecordedResult", "RunRecorder"]


class RecordedResult(Protocol):
    """What the run store keeps of a run's result (a :class:`Report`, or an extraction's
    records): its usage, cost, whether it is complete, and its JSON form; the run's id and
    store hits are written back to it."""

    run_id: str | None
    cache_hits: int
    usage: Usage
    cost: float | None
    complete: bool

    def to_dict(self) -> dict[str, Any]: ...


Result = TypeVar("Result", bound=RecordedResult)


class RunRecorder:
    """Opens the store, starts a run record, wraps the model, and records how the run ended.

    Replies are cached only for a backend the pipeline built (not for an injected ``client``)
    and never for the offline extractive analyzer, which costs nothing to ask again.
    """

    def __init__(self, options: Options, document: Document, model: Model, *, injected: bool):
        self.store = RunStore(options.store_path)
        self.run_id = self.store.start_run(
            [{"source": document.source, "sha256": _content_hash(document)}],
            _options_record(options),
            model.name,
        )
        self.stored: StoredModel | None = None
        if not injected and not model.features.offline and options.cache != "off":
            self.stored = StoredModel(model, self.store, self.run_id, mode=options.cache)

    def model(self, model: Model) -> Model:
        """The model to use for the run: answers from the store when caching is on."""
        return self.stored if self.stored is not None else model

    @property
    def cache_hits(self) -> int:
        return self.stored.hits if self.stored is not None else 0

    def finished(
        self, result: RecordedResult, status: str = "complete", error: str | None = None
    ) -> None:
        """Record a run that produced its result (a report, or records: complete, or stopped
        with partial work)."""
        result.run_id = self.run_id
        result.cache_hits = self.cache_hits
        self.store.finish_run(
            self.run_id,
            status,
            requests=result.usage.requests,
            cached=self.cache_hits,
            usage=result.usage,
            cost=result.cost,
            error=error,
            result=result.to_dict(),
        )

    def ended_without_report(self, status: str, error: str | None = None) -> None:
        """Record a run that failed or was interrupted; its stored replies stay for a resume."""
        spent = self.stored.spent if self.stored is not None else Usage()
        self.store.finish_run(
            self.run_id,
            status,
            requests=spent.requests,
            cached=self.cache_hits,
            usage=spent,
            cost=None,
            error=error,
        )

    async def recording(
        self, run: Awaitable[Result], why: Callable[[Result], str | None] = lambda _: None
    ) -> Result:
        """Await ``run`` and record how it ended: complete, stopped early with a partial report
        (``--max-cost``, a refusal), failed, or interrupted (Ctrl-C). Every paid reply is in the
        store already; the error, if any, is raised again. A result that says itself it is
        incomplete (records) is recorded so, with ``why(result)``."""
        try:
            report = await run
        except IncompleteRun as stop:
            status = _stop_status(stop)
            self.finished(stop.report, status, str(stop))
            raise
        except DocanalyzeError as error:
            self.ended_without_report("failed", str(error))
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.ended_without_report("interrupted")
            raise
        self.finished(report, "complete" if report.complete else "incomplete", why(report))
        return report

    def close(self) -> None:
        self.store.close()


def _stop_status(stop: IncompleteRun) -> str:
    """How the store names a run that ended with a partial report."""
    if isinstance(stop, RefusedRun):
        return "refused"
    return "incomplete" if isinstance(stop, FailedRun) else "stopped"


def _content_hash(document: Document) -> str:
    return hashlib.sha256(document.text.encode("utf-8")).hexdigest()


def _options_record(options: Options) -> dict[str, Any]:
    record = asdict(options)
    for name, value in record.items():
        if isinstance(value, Path):
            record[name] = str(value)
    record.pop("password", None)
    return record
