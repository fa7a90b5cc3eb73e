"""The public entry points: :class:`Pipeline`, :func:`analyze` and :func:`analyze_async`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from docanalyze.citations.sections import cite_sections
from docanalyze.cost import CostBudget, PriceTable
from docanalyze.document import Chunk, Document, Partial
from docanalyze.errors import (
    ConfigError,
    CostLimitReached,
    FailedRun,
    IncompleteRun,
    RefusedRun,
)
from docanalyze.events import EventHandler, Notice
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.anthropic.catalog import BATCH_DISCOUNT
from docanalyze.models.base import Model
from docanalyze.options import Options
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import TEMPLATE_NAMES, PromptSet
from docanalyze.report.result import ChunkResult, Report
from docanalyze.run.backend import calibrate_model, create_model, prepare_model
from docanalyze.run.blocking import run_to_the_end
from docanalyze.run.context import (
    CostStop,
    EventLog,
    PartStop,
    RunContext,
    unknown_price_message,
)
from docanalyze.run.final import write_final
from docanalyze.run.incomplete import (
    PartialWork,
    collect_partial_work,
    cost_stop_note,
    failure_message,
    failure_note,
    incomplete_report_text,
    refusal_message,
    refusal_note,
    stop_message,
)
from docanalyze.run.map import map_chunks, map_prompt
from docanalyze.run.prepare import prepare_run
from docanalyze.run.record import RunRecorder
from docanalyze.run.reduce import reduce_until_final_fits
from docanalyze.run.sections import lay_out_final

if TYPE_CHECKING:
    from docanalyze.records.result import ExtractResult
    from docanalyze.records.schema import SchemaSource
    from docanalyze.records.several import SeveralRecords
    from docanalyze.run.several import SeveralResult
    from docanalyze.store import RunStore

__all__ = ["Pipeline", "analyze", "analyze_async"]


class Pipeline:
    """A configured analysis, reusable across documents.

    ``Pipeline(chunk_size=8000, model="claude-sonnet-5-5").analyze("contract.pdf")`` reads the
    document, maps every chunk, reduces hierarchically and returns a :class:`Report`. Options are
    the fields of :class:`Options`, given as an object, as keywords, or both (keywords win).
    ``client`` replaces the backend with any object that implements the model protocol;
    ``on_event`` receives notices and progress; ``prices`` replaces the price table (default:
    :meth:`docanalyze.cost.PriceTable.default`, which reads ``DOCANALYZE_PRICES``).

    With ``max_cost``, a run that would exceed it stops early and raises
    :class:`docanalyze.errors.CostLimitReached`, which carries the partial report. A run the
    model refused part of (and no ``fallback_model`` answered) raises
    :class:`docanalyze.errors.RefusedRun`, which carries the partial report too, and one in which
    a request failed for good (after its retries) once others had been answered raises
    :class:`docanalyze.errors.FailedRun`, with the partial report.
    """

    def __init__(
        self,
        options: Options | None = None,
        *,
        client: Model | None = None,
        on_event: EventHandler | None = None,
        prices: PriceTable | None = None,
        **overrides: Any,
    ) -> None:
        self.options = replace(options or Options(), **overrides)
        self.prompts = PromptSet.load(self.options.prompts_dir, self.options.variables)
        self.prices = prices if prices is not None else PriceTable.default()
        self.batch_priced = self.options.batch and client is None
        """Whether requests go through the Message Batches API, so cost the batch price."""
        if self.batch_priced:
            self.prices = self.prices.discounted(BATCH_DISCOUNT)
        self._client = client
        self.on_event = on_event

    def analyze(self, source: Source) -> Report:
        """Analyze a path, "-" for stdin, a text, or a :class:`Document`."""
        return run_to_the_end(self.analyze_async(source))

    async def analyze_async(self, source: Source) -> Report:
        """The asynchronous form of :meth:`analyze`."""
        events = EventLog(self.on_event)
        started = time.monotonic()
        document = await asyncio.to_thread(resolve_document, source, password=self.options.password)
        model, backend_notices = (
            (self._client, []) if self._client else _create_model(self.options, events)
        )
        for message in backend_notices:
            events.emit(Notice(message))
        try:
            return await self.analyze_document(document, model, events, started)
        finally:
            if self._client is None:
                await model.aclose()

    def extract(
        self, source: Source, schema: SchemaSource, *, key: Sequence[str] = ()
    ) -> ExtractResult:
        """The records ``schema`` describes in a document, each cited and checked, merged
        across chunks (and under ``key``); see :mod:`docanalyze.records`. ``schema`` is a JSON
        Schema file or dict of one record, or a pydantic model (records then carry instances)."""
        return run_to_the_end(self.extract_async(source, schema, key=key))

    async def extract_async(
        self, source: Source, schema: SchemaSource, *, key: Sequence[str] = ()
    ) -> ExtractResult:
        """The asynchronous form of :meth:`extract`."""
        from docanalyze.records.run import extract_source

        return await extract_source(self, source, schema, tuple(key))

    def extract_many(
        self, sources: Sequence[Source], schema: SchemaSource, *, key: Sequence[str] = ()
    ) -> SeveralRecords:
        """Each document's records, and a table of them all: :mod:`docanalyze.records.several`."""
        return run_to_the_end(self.extract_many_async(sources, schema, key=key))

    async def extract_many_async(
        self, sources: Sequence[Source], schema: SchemaSource, *, key: Sequence[str] = ()
    ) -> SeveralRecords:
        """The asynchronous form of :meth:`extract_many`."""
        from docanalyze.records.several import extract_many

        return await extract_many(self, sources, schema, key)

    def analyze_many(self, sources: Sequence[Source], *, combine: bool = False) -> SeveralResult:
        """Analyze several documents with one model; see :func:`docanalyze.run.several.analyze_many`."""
        return run_to_the_end(self.analyze_many_async(sources, combine=combine))

    async def analyze_many_async(
        self, sources: Sequence[Source], *, combine: bool = False
    ) -> SeveralResult:
        """The asynchronous form of :meth:`analyze_many`."""
        from docanalyze.run.several import analyze_many

        return await analyze_many(self, sources, combine=combine)

    def create_model(self, events: EventLog) -> tuple[Model, list[str]]:
        """The model of a run: the injected ``client``, or a new backend with its notices."""
        return (self._client, []) if self._client else _create_model(self.options, events)

    @property
    def owns_model(self) -> bool:
        """Whether the pipeline builds (and closes) its model, rather than using ``client``."""
        return self._client is None

    async def analyze_document(
        self, document: Document, model: Model, events: EventLog, started: float
    ) -> Report:
        """Run and record one document with a model the caller owns (and closes)."""
        recorder = RunRecorder(self.options, document, model, injected=self._client is not None)
        try:  # the store records how the run ended; every paid reply is in it already
            return await recorder.recording(
                self._prepared_run(recorder, document, model, events, started)
            )
        finally:
            recorder.close()

    async def _prepared_run(
        self,
        recorder: RunRecorder,
        document: Document,
        model: Model,
        events: EventLog,
        started: float,
    ) -> Report:
        await prepare_model(model, recorder.store, events.emit)
        return await self._run(document, recorder.model(model), events, started, recorder.store)

    async def _run(
        self,
        document: Document,
        model: Model,
        events: EventLog,
        started: float,
        store: RunStore | None = None,
    ) -> Report:
        prepared = await asyncio.to_thread(
            prepare_run,
            document,
            self.options,
            self.prompts,
            model,
            cache_prompts=True,
            emit=events.emit,
        )
        chunks, renderer = prepared.chunks, prepared.renderer
        ctx = self.run_context(renderer, model, events)
        await calibrate_model(
            model,
            store,
            [map_prompt(renderer, chunk, chunk.start, chunk.end).prompt for chunk in chunks[:3]],
            events.emit,
        )
        timings: dict[str, float] = {"read": time.monotonic() - started}
        try:
            return await self._stages(ctx, chunks, events, timings, started)
        except CostStop:
            await ctx.wait_for_requests_in_flight()
            timings["total"] = time.monotonic() - started
            raise self._cost_limit_reached(ctx, chunks, events, timings) from None
        except PartStop:
            await ctx.wait_for_requests_in_flight()
            timings["total"] = time.monotonic() - started
            raise self.stopped_run(ctx, chunks, events, timings) from None

    def run_context(self, renderer: PromptRenderer, model: Model, events: EventLog) -> RunContext:
        """The state of a run with ``model`` of the prompts of ``renderer``: prices and the
        ``--max-cost`` budget."""
        return RunContext(
            renderer,
            model,
            events.emit,
            prices=self.prices,
            cost_budget=self._cost_budget(model),
            fallback_model=self.options.fallback_model,
            unsupported="drop" if self.options.unsupported == "drop" else "mark",
        )

    def _cost_budget(self, model: Model) -> CostBudget | None:
        """The ``--max-cost`` budget; every model that may answer must have a known price."""
        if self.options.max_cost is None:
            return None
        template_models = (self.prompts.settings(name).model for name in TEMPLATE_NAMES)
        for name in (model.name, self.options.fallback_model, *template_models):
            if name and self.prices.get(name) is None:
                raise ConfigError(f"--max-cost needs prices: {unknown_price_message(name)}")
        return CostBudget(self.options.max_cost)

    async def _stages(
        self,
        ctx: RunContext,
        chunks: list[Chunk],
        events: EventLog,
        timings: dict[str, float],
        started: float,
    ) -> Report:
        mark = time.monotonic()
        chunk_results, partials = await map_chunks(ctx, chunks)
        timings["map"] = time.monotonic() - mark
        return await self.reduce_and_report(
            ctx, chunk_results, partials, len(chunks), events, timings, started
        )

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
        mark = time.monotonic()
        partials, levels = await reduce_until_final_fits(ctx, partials, chunk_count)
        timings["reduce"] = time.monotonic() - mark

        mark = time.monotonic()
        layout = lay_out_final(ctx.renderer, partials, chunk_count, self.options.final)
        final = await write_final(ctx, layout, stream=self.options.stream)
        timings["final"] = time.monotonic() - mark
        timings["total"] = time.monotonic() - started
        report = self._report(
            ctx, events, final.text, chunk_results, levels, timings, final.truncated
        )
        report.citations = final.citations
        return report

    def _cost_limit_reached(
        self,
        ctx: RunContext,
        chunks: list[Chunk],
        events: EventLog,
        timings: dict[str, float],
    ) -> CostLimitReached:
        """The error of a run stopped by ``--max-cost``, with the partial report it carries."""
        budget = ctx.cost_budget
        assert budget is not None, "only a cost budget stops a run"
        work = collect_partial_work(chunks, ctx.extractions)
        why = cost_stop_note(budget.limit, budget.spent)
        report = self._incomplete_report(ctx, events, work, why, timings)
        return CostLimitReached(
            stop_message(work, budget.limit, budget.spent, budget.refused), report
        )

    def stopped_run(
        self,
        ctx: RunContext,
        chunks: list[Chunk],
        events: EventLog,
        timings: dict[str, float],
    ) -> IncompleteRun:
        """The error of a run the model refused part of (:class:`RefusedRun`), or in which
        requests failed for good (:class:`FailedRun`), with the partial report it carries."""
        work = collect_partial_work(chunks, ctx.extractions)
        if ctx.failures and not ctx.refusals:
            why = failure_note(ctx.failures)
            report = self._incomplete_report(ctx, events, work, why, timings)
            failures = [part.to_dict() for part in ctx.failures]
            return FailedRun(failure_message(work, ctx.failures), report, failures)
        report = self._incomplete_report(ctx, events, work, refusal_note(ctx.refusals), timings)
        report.refusals = [part.to_dict() for part in ctx.refusals]
        return RefusedRun(refusal_message(work, ctx.refusals), report)

    def _incomplete_report(
        self,
        ctx: RunContext,
        events: EventLog,
        work: PartialWork,
        why: str,
        timings: dict[str, float],
    ) -> Report:
        text = incomplete_report_text(ctx.document.source, work, why)
        report = self._report(ctx, events, text, work.chunks, 0, timings, False)
        report.complete = False
        report.missing_chunks = [chunk.index for chunk in work.missing]
        return report

    def _report(
        self,
        ctx: RunContext,
        events: EventLog,
        text: str,
        chunk_results: list[ChunkResult],
        levels: int,
        timings: dict[str, float],
        truncated: bool,
    ) -> Report:
        model = ctx.model
        document = ctx.document  # a Word or HTML document is cited by its sections
        return Report(
            source=document.source,
            text=cite_sections(text, document),
            backend=model.features.backend,
            model=", ".join(sorted(ctx.models_used)) or model.name,
            page_count=document.page_count,
            chunks=[replace(c, text=cite_sections(c.text, document)) for c in chunk_results],
            usage=ctx.usage,
            reduce_levels=levels,
            truncated=truncated,
            complete=not truncated,
            timings=timings,
            notices=list(events.notices),
            usage_by_model=dict(ctx.ledger.by_model),
            usage_by_stage=dict(ctx.ledger.by_stage),
            cost=ctx.ledger.total_cost(self.prices),
            cost_by_model=ctx.ledger.cost_by_model(self.prices),
            cache_savings=ctx.ledger.cache_savings(self.prices),
            prices_checked=self.prices.checked,
            stage_models={part: sorted(names) for part, names in ctx.stage_models.items()},
            retries=events.retries,
            rate_limited=events.rate_limited,
            batch=self.batch_priced and not model.features.offline,
            offline=model.features.offline,
            boilerplate=ctx.document.boilerplate,
        )


def _create_model(options: Options, events: EventLog) -> tuple[Model, list[str]]:
    """The backend for ``options``; its retry and fallback events go to the run's event log."""
    return create_model(options, on_event=events.emit)


def analyze(path_or_text: Source, **options: Any) -> Report:
    """Analyze one document and return its :class:`Report`. Options as for :class:`Pipeline`."""
    return Pipeline(**options).analyze(path_or_text)


async def analyze_async(path_or_text: Source, **options: Any) -> Report:
    """The asynchronous form of :func:`analyze`."""
    return await Pipeline(**options).analyze_async(path_or_text)
