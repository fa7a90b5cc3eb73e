"""One runner for many documents: sources in, an executor runs each, a sink keeps the results.

``DocumentRunner(sink, executor, admission).run(sources)`` takes the sources one at a time,
lazily, as the admission gate lets one more document start (:mod:`docanalyze.run.admission`:
as the run's limiter has room, within a ceiling of text held). For each source the sink names the work it needs (none when
an earlier run did it: a resume), the executor runs that work (:class:`InProcess`: here, with
the run's one model; on Ray workers: :mod:`docanalyze.ray.runner`), and the sink takes the
result: in memory (:mod:`docanalyze.run.several`) or into a folder of reports and its index
(:mod:`docanalyze.corpus.runner`).

One failure rule (:func:`analyze_source`): a :class:`DocanalyzeError` of a document is that
document's failure and the others go on; an :class:`IncompleteRun` keeps its partial report.
Any other exception stops the run: the documents in progress are cancelled, and it is raised.

While a document runs, :func:`current_source` names it, so an event handler can tell which
document an event belongs to.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from docanalyze.cost import PriceTable
from docanalyze.document import Chunk, Document, Partial
from docanalyze.errors import DocanalyzeError, IncompleteRun
from docanalyze.events import EventHandler, Notice
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.base import Model
from docanalyze.options import Options
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import PromptSet
from docanalyze.report.result import ChunkResult, Report
from docanalyze.run.admission import (
    DOCUMENTS_AT_ONCE,
    HELD,
    Admission,
    DocumentsAtOnce,
    TextTicket,
    gathering_of,
    gauge_of,
    reading,
    text_estimate,
    text_read,
)
from docanalyze.run.context import EventLog, RunContext
from docanalyze.run.fairness import FairShares

__all__ = [
    "DOCUMENTS_AT_ONCE",
    "Admission",
    "DocumentJob",
    "DocumentOutcome",
    "DocumentPipeline",
    "DocumentRunner",
    "DocumentsAtOnce",
    "Executor",
    "ExecutorFactory",
    "InProcess",
    "Sink",
    "analyze_source",
    "current_source",
    "input_name",
    "model_session",
    "read_source",
    "running",
]

_CURRENT_SOURCE: ContextVar[str | None] = ContextVar("docanalyze_source", default=None)

Source_contra = TypeVar("Source_contra", contravariant=True)
Result = TypeVar("Result")
Result_co = TypeVar("Result_co", covariant=True)
Item = TypeVar("Item")


class DocumentPipeline(Protocol):
    """What a run of several documents uses of the :class:`~docanalyze.run.pipeline.Pipeline`
    that starts it: its settings, its model, and the steps of a run of one document."""

    options: Options
    prompts: PromptSet
    prices: PriceTable
    batch_priced: bool
    on_event: EventHandler | None

    @property
    def owns_model(self) -> bool:
        """Whether the pipeline builds (and closes) its model."""
        ...

    def create_model(self, events: EventLog) -> tuple[Model, list[str]]:
        """The model of the run, with its notices."""
        ...

    async def analyze_document(
        self, document: Document, model: Model, events: EventLog, started: float
    ) -> Report:
        """Run and record one document with ``model``."""
        ...

    def run_context(self, renderer: PromptRenderer, model: Model, events: EventLog) -> RunContext:
        """The state of a run with ``model`` of the prompts of ``renderer``."""
        ...

    async def reduce_and_report(
        self,
        ctx: RunContext,
        chunk_results: list[ChunkResult],
        partials: list[Partial],
        chunk_count: int,
        events: EventLog,
        timings: dict[str, float],
        started: float,
    ) -> Report:
        """Reduce the mapped ``partials``, write the final report and build the Report."""
        ...

    def stopped_run(
        self, ctx: RunContext, chunks: list[Chunk], events: EventLog, timings: dict[str, float]
    ) -> IncompleteRun:
        """The error of a run the model refused part of, or in which requests failed for good,
        with its partial report."""
        ...


def current_source() -> str | None:
    """The document whose work is running now, in a run of several documents (else None)."""
    return _CURRENT_SOURCE.get()


@contextmanager
def running(source: Source) -> Iterator[None]:
    """Name ``source`` as the document being analyzed in this task (for failure messages)."""
    token = _CURRENT_SOURCE.set(input_name(source))
    try:
        yield
    finally:
        _CURRENT_SOURCE.reset(token)


def input_name(source: Source) -> str:
    """How a source is named in results and messages: its path, or ``<text>`` for a text."""
    if isinstance(source, Document):
        return source.source
    text = str(source)
    return text if len(text) <= 200 and "\n" not in text else "<text>"


@dataclass(frozen=True)
class DocumentOutcome:
    """How one document's analysis ended: its ``report`` (partial when ``error`` is an
    :class:`IncompleteRun`), or no report and the ``error``."""

    source: str
    report: Report | None = None
    error: DocanalyzeError | None = None


async def analyze_source(
    pipeline: DocumentPipeline, model: Model, events: EventLog, source: Source
) -> DocumentOutcome:
    """Read and analyze ``source`` with ``model``: the failure rule of every run of several
    documents. A :class:`DocanalyzeError` is the document's failure, never an exception."""
    started = time.monotonic()
    with running(source):
        try:
            document = await read_source(source, pipeline.options.password)
            report = await pipeline.analyze_document(document, model, events, started)
        except IncompleteRun as stop:
            return DocumentOutcome(input_name(source), stop.report, stop)
        except DocanalyzeError as error:
            return DocumentOutcome(input_name(source), error=error)
    return DocumentOutcome(input_name(source), report)


async def read_source(source: Source, password: str | None) -> Document:
    """Read ``source`` in a run of several documents: as a reader is free, its text then
    counted against the run's ceiling of text held (:mod:`docanalyze.run.admission`)."""
    async with reading():
        document = await asyncio.to_thread(resolve_document, source, password=password)
    text_read(len(document.text))
    return document


class DocumentJob(Protocol[Result_co]):
    """The work one document needs, as a sink describes it: run wherever the executor runs it
    (it may be sent to another process, so it holds data, not the run's objects)."""

    async def run(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, worker: str | None
    ) -> Result_co:
        """Do the work with ``pipeline`` and ``model``; ``worker`` names where (None: here)."""
        ...

    def lost(self, why: str) -> Result_co:
        """The result when the work could not be run at all (a Ray task that kept dying)."""
        ...


class Executor(Protocol):
    """Runs each document's job: in this process, or on the workers of a cluster."""

    async def run(self, job: DocumentJob[Result]) -> Result:
        """The job's result."""
        ...


class ExecutorFactory(Protocol):
    """Makes a run's executor from its pipeline, its model and its event log."""

    def __call__(self, pipeline: DocumentPipeline, model: Model, events: EventLog) -> Executor:
        """The executor of this run."""
        ...


class InProcess:
    """The executor of one process: every job runs here, with the run's one model (one rate
    limiter, one adaptive concurrency, shared fairly among the documents in flight:
    :mod:`docanalyze.run.fairness`), each with its own event log; with a batch model, each job
    runs as a document of its gathering (:mod:`docanalyze.models.batches.gathering`)."""

    def __init__(self, pipeline: DocumentPipeline, model: Model, events: EventLog) -> None:
        self.pipeline = pipeline
        self.model = model
        self.events = events
        gauge = gauge_of(model)
        self.shares = None if gauge is None or model.features.batches else FairShares(gauge)
        self.gathering = gathering_of(model)

    async def run(self, job: DocumentJob[Result]) -> Result:
        """Run ``job`` here."""
        events = EventLog(self.events.handler, notices=list(self.events.notices))
        if self.shares is None:
            with self._document():
                return await job.run(self.pipeline, self.model, events, None)
        with self.shares.document(self.model) as model:
            return await job.run(self.pipeline, model, events, None)

    def _document(self) -> AbstractContextManager[None]:
        return nullcontext() if self.gathering is None else self.gathering.document()


class Sink(Protocol[Source_contra, Result]):
    """Where the results of a run go: it names each source's job and takes its result."""

    async def job(self, position: int, source: Source_contra) -> DocumentJob[Result] | None:
        """The work ``source`` (the ``position``-th, from 0) needs, or None when an earlier run
        did it (the sink accounts for it itself)."""
        ...

    def take(self, position: int, result: Result) -> None:
        """Keep the result of the ``position``-th source's job."""
        ...


class DocumentRunner(Generic[Item, Result]):
    """Runs many documents: each source's job through ``executor`` into ``sink``, as
    ``admission`` (default: :class:`~docanalyze.run.admission.DocumentsAtOnce`) lets them
    start; each source counts against its ceiling of text by its
    :func:`~docanalyze.run.admission.text_estimate`, then by its text once read."""

    def __init__(
        self,
        sink: Sink[Item, Result],
        executor: Executor,
        admission: Admission | None = None,
    ) -> None:
        self.sink = sink
        self.executor = executor
        self.admission = admission or DocumentsAtOnce()

    async def run(self, sources: Iterable[Item]) -> None:
        """Run every source; the next one is taken only once it may start. An exception that
        is no document's failure cancels the documents in progress and is raised."""
        tasks: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []

        def finished(task: asyncio.Task[None], ticket: TextTicket) -> None:
            tasks.discard(task)
            self.admission.done(ticket.size)
            error = None if task.cancelled() else task.exception()
            if error is not None:
                errors.append(error)

        try:
            for position, source in enumerate(sources):
                size = text_estimate(source)
                await self.admission.admit(size)
                if errors:
                    self.admission.done(size)
                    break
                ticket = TextTicket(self.admission, size)
                task = asyncio.create_task(self._one(position, source, ticket))
                tasks.add(task)
                task.add_done_callback(functools.partial(finished, ticket=ticket))
            while tasks and not errors:
                await asyncio.wait(set(tasks), return_when=asyncio.FIRST_EXCEPTION)
            if errors:
                raise errors[0]
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(set(tasks))

    async def _one(self, position: int, source: Item, ticket: TextTicket) -> None:
        HELD.set(ticket)  # this task's own context: analyze_source counts the text it reads
        job = await self.sink.job(position, source)
        if job is not None:
            self.sink.take(position, await self.executor.run(job))


@asynccontextmanager
async def model_session(
    pipeline: DocumentPipeline, check: Callable[[Model], None] | None = None
) -> AsyncIterator[tuple[Model, EventLog]]:
    """The model of a run of several documents and the run's event log (its notices emitted,
    once ``check`` let the model do the run's work); the model is closed at the end when the
    pipeline built it."""
    events = EventLog(pipeline.on_event)
    model, notices = pipeline.create_model(events)
    try:
        if check is not None:
            check(model)
        for message in notices:
            events.emit(Notice(message))
        yield model, events
    finally:
        if pipeline.owns_model:
            await model.aclose()
