"""Several documents through one model: a report each, or one report of them all (``combine``).

All documents share one model instance (one rate limiter, one adaptive concurrency) and the run
store. At most :data:`DOCUMENTS_AT_ONCE` documents run at once; the model bounds the requests in
flight across all of them. A document that fails (unreadable, no text, a budget error) does not
stop the others: its error is kept in :attr:`SeveralResult.failures`.

While a document runs, :func:`current_source` names it, so an event handler can tell which
document an event belongs to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Protocol

from docanalyze.citations.pages import CITATION
from docanalyze.document import Document, Page, Partial
from docanalyze.errors import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    DocanalyzeError,
    IncompleteRun,
    InputError,
)
from docanalyze.events import EventHandler, Notice
from docanalyze.ingest.chunking import chunks_to_analyze
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.base import Model
from docanalyze.options import Options, check_run_shape
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import PromptSet
from docanalyze.report.result import ChunkResult, Report
from docanalyze.run.backend import prepare_model
from docanalyze.run.context import EventLog, RunContext
from docanalyze.run.map import map_chunks
from docanalyze.run.prepare import prompt_renderer
from docanalyze.run.record import RunRecorder

__all__ = [
    "DOCUMENTS_AT_ONCE",
    "DocumentFailure",
    "DocumentPipeline",
    "SeveralResult",
    "analyze_many",
    "cite_document",
    "current_source",
    "running",
]

DOCUMENTS_AT_ONCE = 4
"""How many documents are read and analyzed at the same time."""

_CURRENT_SOURCE: ContextVar[str | None] = ContextVar("docanalyze_source", default=None)


def current_source() -> str | None:
    """The document whose work is running now, in a run of several documents (else None)."""
    return _CURRENT_SOURCE.get()


@dataclass(frozen=True)
class DocumentFailure:
    """A document that could not be analyzed: its name as given and the error."""

    source: str
    error: DocanalyzeError

    @property
    def message(self) -> str:
        """The one-line error."""
        return str(self.error)


@dataclass
class SeveralResult:
    """What a run of several documents produced.

    ``reports`` holds one report per document analyzed, in input order, each with the input it
    came from in ``inputs``; with ``combine``, the one combined report. A report stopped early
    (``max_cost``, a refusal) is in ``reports``, marked incomplete, and its error in ``failures``.
    """

    reports: list[Report] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    failures: list[DocumentFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every document was analyzed in full (:attr:`exit_code` is 0)."""
        return self.exit_code == 0

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: 0, every report complete; 1 (:data:`EXIT_ERROR`), a document has
        no report; else 3 (:data:`EXIT_INCOMPLETE`), a report is incomplete."""
        if any(not isinstance(failure.error, IncompleteRun) for failure in self.failures):
            return EXIT_ERROR
        return EXIT_INCOMPLETE if any(not report.complete for report in self.reports) else 0


class DocumentPipeline(Protocol):
    """What a run of several documents uses of the :class:`~docanalyze.run.pipeline.Pipeline`
    that starts it: its settings, its model, and the steps of a run of one document."""

    options: Options
    prompts: PromptSet
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


def cite_document(text: str, name: str) -> str:
    """Make every page citation of ``text`` name the document: ``(p. 3)`` -> ``(a.pdf, p. 3)``."""
    return CITATION.sub(
        lambda match: match.group() if match["document"] else f"({name}, {match['cite']})", text
    )


async def analyze_many(
    pipeline: DocumentPipeline, sources: Sequence[Source], *, combine: bool = False
) -> SeveralResult:
    """Analyze ``sources`` with ``pipeline``'s options and one shared model.

    Without ``combine``: one report per document. With ``combine``: the documents are one corpus:
    every chunk of every document is mapped (its citations then name its document, e.g.
    ``(a.pdf, p. 3)``), everything is reduced together, and one report is written.
    """
    if not sources:
        raise InputError("no documents to analyze: give one or more paths")
    check_run_shape(pipeline.options, combine=combine)
    events = EventLog(pipeline.on_event)
    model, notices = pipeline.create_model(events)
    for message in notices:
        events.emit(Notice(message))
    try:
        if combine:
            return await _combined(pipeline, sources, model, events)
        return await _each(pipeline, sources, model, events)
    finally:
        if pipeline.owns_model:
            await model.aclose()


async def _each(
    pipeline: DocumentPipeline, sources: Sequence[Source], model: Model, shared_events: EventLog
) -> SeveralResult:
    gate = asyncio.Semaphore(DOCUMENTS_AT_ONCE)

    async def run_one(source: Source) -> Report | DocanalyzeError:
        async with gate:
            with running(source):
                events = EventLog(shared_events.handler, notices=list(shared_events.notices))
                started = time.monotonic()
                try:
                    document = await _read(pipeline, source)
                    return await pipeline.analyze_document(document, model, events, started)
                except DocanalyzeError as error:
                    return error

    outcomes = await asyncio.gather(*(run_one(source) for source in sources))
    result = SeveralResult()
    for source, outcome in zip(sources, outcomes):
        if isinstance(outcome, IncompleteRun):
            result.reports.append(outcome.report)
            result.inputs.append(_input_name(source))
        if isinstance(outcome, DocanalyzeError):
            result.failures.append(DocumentFailure(_input_name(source), outcome))
        else:
            result.reports.append(outcome)
            result.inputs.append(_input_name(source))
    return result


async def _combined(
    pipeline: DocumentPipeline, sources: Sequence[Source], model: Model, events: EventLog
) -> SeveralResult:
    started = time.monotonic()
    result = SeveralResult()
    documents = await _read_all(pipeline, sources, result)
    if not documents:
        return result
    corpus = _corpus(documents)
    recorder = RunRecorder(pipeline.options, corpus, model, injected=not pipeline.owns_model)
    try:
        run_model = recorder.model(model)
        report = await recorder.recording(
            _combined_report(pipeline, documents, corpus, run_model, events, started, recorder)
        )
    finally:
        recorder.close()
    result.reports.append(report)
    result.inputs.append(corpus.source)
    return result


async def _read_all(
    pipeline: DocumentPipeline, sources: Sequence[Source], result: SeveralResult
) -> list[Document]:
    """The readable documents, in input order; the others go to ``result.failures``."""
    gate = asyncio.Semaphore(DOCUMENTS_AT_ONCE)

    async def read(source: Source) -> Document | DocanalyzeError:
        async with gate:
            try:
                return await _read(pipeline, source)
            except DocanalyzeError as error:
                return error

    documents: list[Document] = []
    for source, outcome in zip(sources, await asyncio.gather(*(read(s) for s in sources))):
        if isinstance(outcome, DocanalyzeError):
            result.failures.append(DocumentFailure(_input_name(source), outcome))
        else:
            documents.append(outcome)
    return documents


async def _combined_report(
    pipeline: DocumentPipeline,
    documents: list[Document],
    corpus: Document,
    model: Model,
    events: EventLog,
    started: float,
    recorder: RunRecorder,
) -> Report:
    """Map every document's chunks (with its own ``source``), then reduce them all together."""
    await prepare_model(model, recorder.store, events.emit)
    renderer = prompt_renderer(
        corpus, pipeline.options, pipeline.prompts, model, cache_prompts=True
    )
    ctx = pipeline.run_context(renderer, model, events)
    timings: dict[str, float] = {"read": time.monotonic() - started}
    names = _citation_names(documents)
    ctx.cited_documents = {name: document.pages for name, document in zip(names, documents)}
    mark = time.monotonic()
    mapped = await asyncio.gather(
        *(_map_document(pipeline, ctx, document, names[i]) for i, document in enumerate(documents))
    )
    timings["map"] = time.monotonic() - mark
    chunk_results = [result for results, _ in mapped for result in results]
    partials = [partial for _, document_partials in mapped for partial in document_partials]
    return await pipeline.reduce_and_report(
        ctx, chunk_results, partials, len(chunk_results), events, timings, started
    )


async def _map_document(
    pipeline: DocumentPipeline, corpus_ctx: RunContext, document: Document, name: str
) -> tuple[list[ChunkResult], list[Partial]]:
    """Map one document of a corpus: its own ``source`` and pages, citations naming it.

    Its context shares the corpus run's usage ledger and stage models, so usage adds up.
    """
    with running(document.source):
        chunks = await asyncio.to_thread(
            chunks_to_analyze,
            document,
            chunk_size=pipeline.options.chunk_size,
            chunk_overlap=pipeline.options.overlap,
        )
        renderer = replace(corpus_ctx.renderer, document=document)
        ctx = replace(corpus_ctx, renderer=renderer, extractions=[])
        results, partials = await map_chunks(ctx, chunks)
    return (
        [replace(r, text=cite_document(r.text, name), source=document.source) for r in results],
        [
            replace(
                p,
                text=cite_document(p.text, name),
                points=tuple(replace(point, document=name) for point in p.points),
            )
            for p in partials
        ],
    )


async def _read(pipeline: DocumentPipeline, source: Source) -> Document:
    return await asyncio.to_thread(resolve_document, source, password=pipeline.options.password)


def _corpus(documents: list[Document]) -> Document:
    """One document holding every page of ``documents``, numbered on: the combined run's record."""
    pages = [page.text for document in documents for page in document.pages]
    return Document(
        source=", ".join(document.source for document in documents),
        pages=tuple(Page(number, text) for number, text in enumerate(pages, 1)),
    )


def _citation_names(documents: list[Document]) -> list[str]:
    """How citations name each document: its file name, or its whole source if that is shared."""
    names = [PurePath(document.source).name or document.source for document in documents]
    return [
        name if names.count(name) == 1 else document.source
        for name, document in zip(names, documents)
    ]


def _input_name(source: Source) -> str:
    if isinstance(source, Document):
        return source.source
    text = str(source)
    return text if len(text) <= 200 and "\n" not in text else "<text>"


@contextmanager
def running(source: Source) -> Iterator[None]:
    """Name ``source`` as the document being analyzed in this task (for failure messages)."""
    token = _CURRENT_SOURCE.set(_input_name(source))
    try:
        yield
    finally:
        _CURRENT_SOURCE.reset(token)
