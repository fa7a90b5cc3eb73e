"""One report of several documents (``--combine``): every chunk of every document mapped, all
reduced together.

The documents are read through the document runner (:mod:`docanalyze.run.documents`): one that
cannot be read is that document's failure, and the others make the report. Each document's
chunks are mapped with its own ``source`` and pages, and their citations then name it
(``(a.pdf, p. 3)``). A refusal or a request that failed for good stops the run as it stops a run
of one document: its outcome is a :class:`~docanalyze.errors.RefusedRun` (or
:class:`~docanalyze.errors.FailedRun`) with the partial report of every document's extractions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from docanalyze.citations.pages import CITATION
from docanalyze.citations.sections import cite_named_sections
from docanalyze.document import BoilerplateCount, Chunk, Document, Page, Partial
from docanalyze.errors import DocanalyzeError, IncompleteRun
from docanalyze.ingest.chunking import chunks_to_analyze
from docanalyze.ingest.ocr import read_scanned_pages
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.base import Model
from docanalyze.report.result import ChunkResult, Report
from docanalyze.run.backend import prepare_model
from docanalyze.run.context import EventLog, PartStop, RefusalStop, RunContext
from docanalyze.run.documents import (
    DocumentOutcome,
    DocumentPipeline,
    DocumentRunner,
    InProcess,
    input_name,
    running,
)
from docanalyze.run.map import map_chunks
from docanalyze.run.prepare import document_to_analyze, prompt_renderer
from docanalyze.run.record import RunRecorder

__all__ = ["analyze_combined", "cite_document"]


def cite_document(text: str, name: str) -> str:
    """Make every page citation of ``text`` name the document: ``(p. 3)`` -> ``(a.pdf, p. 3)``."""
    return CITATION.sub(
        lambda match: match.group() if match["document"] else f"({name}, {match['cite']})", text
    )


async def analyze_combined(
    pipeline: DocumentPipeline, sources: Sequence[Source], model: Model, events: EventLog
) -> list[DocumentOutcome]:
    """The outcomes of one report of ``sources``: each document that could not be read, in input
    order, then the combined report's (none when no document could be read)."""
    started = time.monotonic()
    reads = _Reads()
    await DocumentRunner(reads, InProcess(pipeline, model, events)).run(sources)
    documents = [
        document_to_analyze(
            await asyncio.to_thread(read_scanned_pages, read, model.features, events.emit),
            pipeline.options,
        )
        for read in reads.documents()
    ]
    if not documents:
        return reads.failures()
    corpus = _corpus(documents)
    recorder = RunRecorder(pipeline.options, corpus, model, injected=not pipeline.owns_model)
    try:
        run = _combined_report(pipeline, documents, corpus, recorder, model, events, started)
        outcome = DocumentOutcome(corpus.source, await recorder.recording(run))
    except IncompleteRun as stop:
        outcome = DocumentOutcome(corpus.source, stop.report, stop)
    finally:
        recorder.close()
    return [*reads.failures(), outcome]


@dataclass(frozen=True)
class _ReadJob:
    """Read one document of the corpus: the document, or its failure."""

    source: Source

    async def run(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, worker: str | None
    ) -> Document | DocumentOutcome:
        try:
            return await asyncio.to_thread(
                resolve_document, self.source, password=pipeline.options.password
            )
        except DocanalyzeError as error:
            return DocumentOutcome(input_name(self.source), error=error)

    def lost(self, why: str) -> Document | DocumentOutcome:
        return DocumentOutcome(input_name(self.source), error=DocanalyzeError(why))


@dataclass
class _Reads:
    """The sink of the reading: each document or its failure, by input position."""

    read: dict[int, Document | DocumentOutcome] = field(default_factory=dict)

    async def job(self, position: int, source: Source) -> _ReadJob:
        return _ReadJob(source)

    def take(self, position: int, result: Document | DocumentOutcome) -> None:
        self.read[position] = result

    def documents(self) -> list[Document]:
        return [r for _, r in sorted(self.read.items()) if isinstance(r, Document)]

    def failures(self) -> list[DocumentOutcome]:
        return [r for _, r in sorted(self.read.items()) if isinstance(r, DocumentOutcome)]


@dataclass
class _Mapped:
    """One document's map stage in a combined run: its chunks, its own context (whose
    extractions a stopped run reports), and its cited results unless a refusal or a failed request stopped it."""

    name: str
    source: str
    chunks: list[Chunk]
    ctx: RunContext
    results: list[ChunkResult] = field(default_factory=list)
    partials: list[Partial] = field(default_factory=list)
    stopped: bool = False


async def _combined_report(
    pipeline: DocumentPipeline,
    documents: list[Document],
    corpus: Document,
    recorder: RunRecorder,
    model: Model,
    events: EventLog,
    started: float,
) -> Report:
    """Map every document's chunks (with its own ``source``), then reduce them all together."""
    model = recorder.model(model)
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
        *(_map_document(pipeline, ctx, document, name) for document, name in zip(documents, names))
    )
    timings["map"] = time.monotonic() - mark
    try:
        if any(part.stopped for part in mapped):
            raise RefusalStop
        chunk_results = [result for part in mapped for result in part.results]
        partials = [partial for part in mapped for partial in part.partials]
        report = await pipeline.reduce_and_report(
            ctx, chunk_results, partials, len(chunk_results), events, timings, started
        )
    except PartStop:
        await ctx.wait_for_requests_in_flight()
        timings["total"] = time.monotonic() - started
        raise _stopped_run(pipeline, ctx, mapped, events, timings) from None
    return _cited_by_section(report, dict(zip(names, documents)))


async def _map_document(
    pipeline: DocumentPipeline, corpus_ctx: RunContext, document: Document, name: str
) -> _Mapped:
    """Map one document of a corpus: its own ``source`` and pages, citations naming it.

    Its context shares the corpus run's usage ledger, refusals and stage models, so they add up.
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
        mapped = _Mapped(name, document.source, chunks, ctx)
        try:
            results, partials = await map_chunks(ctx, chunks)
        except PartStop:
            mapped.stopped = True
            return mapped
    mapped.results = [
        replace(r, text=cite_document(r.text, name), source=document.source) for r in results
    ]
    mapped.partials = [
        replace(
            p,
            text=cite_document(p.text, name),
            points=tuple(replace(point, document=name) for point in p.points),
        )
        for p in partials
    ]
    return mapped


def _stopped_run(
    pipeline: DocumentPipeline,
    ctx: RunContext,
    mapped: list[_Mapped],
    events: EventLog,
    timings: dict[str, float],
) -> IncompleteRun:
    """The refused (or failed) combined run, its partial report listing every document's
    extractions (cited, with their document), chunks numbered on from one document to the next."""
    chunks: list[Chunk] = []
    sources: list[str] = []
    extractions = []
    for part in mapped:
        offset = len(chunks)
        chunks += [replace(chunk, index=offset + chunk.index) for chunk in part.chunks]
        sources += [part.source] * len(part.chunks)
        extractions += [
            replace(
                extraction,
                chunk_index=offset + extraction.chunk_index,
                partial=replace(
                    extraction.partial, text=cite_document(extraction.partial.text, part.name)
                ),
            )
            for extraction in part.ctx.extractions
        ]
    stop = pipeline.stopped_run(replace(ctx, extractions=extractions), chunks, events, timings)
    stop.report.chunks = [replace(c, source=sources[c.index]) for c in stop.report.chunks]
    return stop


def _cited_by_section(report: Report, named: dict[str, Document]) -> Report:
    """``report`` with its citations of each Word or HTML document written as sections."""
    report.text = cite_named_sections(report.text, named)
    report.chunks = [replace(c, text=cite_named_sections(c.text, named)) for c in report.chunks]
    return report


def _corpus(documents: list[Document]) -> Document:
    """One document holding every page of ``documents``, numbered on: the combined run's record."""
    pages = [page.text for document in documents for page in document.pages]
    counts = [document.boilerplate for document in documents if document.boilerplate]
    return Document(
        source=", ".join(document.source for document in documents),
        pages=tuple(Page(number, text) for number, text in enumerate(pages, 1)),
        boilerplate=sum(counts, BoilerplateCount()) if counts else None,
    )


def _citation_names(documents: list[Document]) -> list[str]:
    """How citations name each document: its file name, or its whole source if that is shared."""
    names = [PurePath(document.source).name or document.source for document in documents]
    return [
        name if names.count(name) == 1 else document.source
        for name, document in zip(names, documents)
    ]
