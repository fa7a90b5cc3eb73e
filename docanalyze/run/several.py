"""Several documents in memory: a report each, or one report of them all (``combine``).

All documents share one model instance (one rate limiter, one adaptive concurrency) and the run
store. They go through the document runner (:mod:`docanalyze.run.documents`), whose sink here
keeps every outcome in memory: documents start as the shared limits have room
(:mod:`docanalyze.run.admission`; at most ``documents_at_once`` when the options say), and a
document that fails (unreadable, no text, a budget error) does not stop the others: its error
is kept in :attr:`SeveralResult.failures`. ``combine`` is :mod:`docanalyze.run.combine`.

While a document runs, :func:`current_source` names it, so an event handler can tell which
document an event belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from docanalyze.errors import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    DocanalyzeError,
    IncompleteRun,
    InputError,
)
from docanalyze.ingest.sources import Source
from docanalyze.models.base import Model
from docanalyze.options import check_run_shape
from docanalyze.report.result import Report
from docanalyze.run.admission import DOCUMENTS_AT_ONCE, Admission, admission_for
from docanalyze.run.combine import analyze_combined, cite_document
from docanalyze.run.context import EventLog
from docanalyze.run.documents import (
    DocumentJob,
    DocumentOutcome,
    DocumentPipeline,
    DocumentRunner,
    InProcess,
    analyze_source,
    current_source,
    input_name,
    model_session,
    running,
)

__all__ = [
    "DOCUMENTS_AT_ONCE",
    "DocumentFailure",
    "DocumentPipeline",
    "InMemory",
    "SeveralResult",
    "analyze_many",
    "cite_document",
    "current_source",
    "running",
    "several_result",
]

Result = TypeVar("Result")


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


def several_result(outcomes: Sequence[DocumentOutcome]) -> SeveralResult:
    """The result of ``outcomes``, in their order: each report (partial ones too) with its input,
    each error (an incomplete report's too) as a failure."""
    result = SeveralResult()
    for outcome in outcomes:
        if outcome.report is not None:
            result.reports.append(outcome.report)
            result.inputs.append(outcome.source)
        if outcome.error is not None:
            result.failures.append(DocumentFailure(outcome.source, outcome.error))
    return result


async def analyze_many(
    pipeline: DocumentPipeline,
    sources: Sequence[Source],
    *,
    combine: bool = False,
    admission: Admission | None = None,
) -> SeveralResult:
    """Analyze ``sources`` with ``pipeline``'s options and one shared model.

    Without ``combine``: one report per document, ``admission`` deciding how many run at once
    (default: :func:`~docanalyze.run.admission.admission_for` the model: as its limits have
    room, at most the options' ``documents_at_once``). With ``combine``: the documents are one corpus: every
    chunk of every document is mapped (its citations then name its document, e.g.
    ``(a.pdf, p. 3)``), everything is reduced together, and one report is written.
    """
    if not sources:
        raise InputError("no documents to analyze: give one or more paths")
    check_run_shape(pipeline.options, combine=combine)
    async with model_session(pipeline) as (model, events):
        if combine:
            return several_result(await analyze_combined(pipeline, sources, model, events))
        memory = InMemory(_ReportJob)
        gate = admission or admission_for(model, pipeline.options.documents_at_once)
        await DocumentRunner(memory, InProcess(pipeline, model, events), gate).run(sources)
    return several_result(memory.results())


@dataclass(frozen=True)
class _ReportJob:
    """Analyze one document: its outcome, kept in memory."""

    source: Source

    async def run(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, worker: str | None
    ) -> DocumentOutcome:
        return await analyze_source(pipeline, model, events, self.source)

    def lost(self, why: str) -> DocumentOutcome:
        return DocumentOutcome(input_name(self.source), error=DocanalyzeError(why))


@dataclass
class InMemory(Generic[Result]):
    """The in-memory sink: each source's job is ``job_of`` it, each result kept by input
    position."""

    job_of: Callable[[Source], DocumentJob[Result]]
    kept: dict[int, Result] = field(default_factory=dict)

    async def job(self, position: int, source: Source) -> DocumentJob[Result]:
        return self.job_of(source)

    def take(self, position: int, result: Result) -> None:
        self.kept[position] = result

    def results(self) -> list[Result]:
        """The results, in input order."""
        return [result for _, result in sorted(self.kept.items())]
