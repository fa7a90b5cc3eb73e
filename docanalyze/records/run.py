"""One extraction run: read, check the schema, extract every chunk, merge, resolve, check.

:func:`extract_records` is what :meth:`Pipeline.extract <docanalyze.run.pipeline.Pipeline.extract>`
runs for each document: the schema is checked before any request (a keyword the API does not
support is a one-line error naming it), a backend without structured output is a one-line error
saying what is needed, every reply is stored at once, and a run that stops early (``--max-cost``,
a refused or failed chunk) returns the records it has, marked incomplete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from docanalyze.citations.verify import UnsupportedMode
from docanalyze.cost import PriceTable
from docanalyze.document import Document
from docanalyze.errors import ConfigError
from docanalyze.events import EventHandler, Notice
from docanalyze.ingest.sources import Source, resolve_document
from docanalyze.models.anthropic.environment import API_KEY_ENV, has_api_key
from docanalyze.models.base import Model, ModelLimits
from docanalyze.options import Options
from docanalyze.prompting.renderer import PromptRenderer
from docanalyze.prompting.templates import PromptSet
from docanalyze.records.extraction import ChunkRecords, extract_chunks
from docanalyze.records.merge import Conflict, merge_records, ordered
from docanalyze.records.record import Record, RecordTable
from docanalyze.records.resolution import resolve_conflicts
from docanalyze.records.result import ExtractCounts, ExtractResult
from docanalyze.records.schema import RecordSchema, SchemaSource, check_key
from docanalyze.run.backend import prepare_model
from docanalyze.run.context import CostStop, EventLog, RunContext
from docanalyze.run.incomplete import cost_stop_note, failure_note, refusal_note
from docanalyze.run.prepare import prepare_run
from docanalyze.run.record import RunRecorder


class ExtractionSetup(Protocol):
    """What an extraction reads of its :class:`~docanalyze.run.pipeline.Pipeline`."""

    @property
    def options(self) -> Options: ...
    @property
    def prompts(self) -> PromptSet: ...
    @property
    def prices(self) -> PriceTable: ...
    @property
    def owns_model(self) -> bool: ...
    @property
    def batch_priced(self) -> bool: ...
    @property
    def on_event(self) -> EventHandler | None: ...
    def create_model(self, events: EventLog) -> tuple[Model, list[str]]: ...
    def run_context(
        self, renderer: PromptRenderer, model: Model, events: EventLog
    ) -> RunContext: ...


__all__ = ["ExtractionSetup", "check_extraction", "extract_records", "extract_source"]

RECORDS_KEPT = "The records of the other chunks are kept"
"""What an incomplete extraction's note says it wrote (its table is of the chunks answered)."""


def check_extraction(model: ModelLimits, schema: RecordSchema, key: Sequence[str]) -> None:
    """Raise a :class:`ConfigError` before any request when ``model`` cannot answer in a schema
    (the offline analyzer: it needs Claude) or ``key`` names a field the schema lacks."""
    check_key(schema, key)
    if not model.features.structured_output:
        offline = (
            " (the offline analyzer only quotes the document)" if model.features.offline else ""
        )
        fix = (
            f"drop --backend {model.features.backend} to extract with Claude"
            if has_api_key()
            else f"set {API_KEY_ENV} to extract with Claude"
        )
        raise ConfigError(
            f"docanalyze extract needs a model that answers in a JSON schema, and the "
            f"{model.features.backend} backend does not{offline}: {fix}"
        )
    if model.rules_of(model.name).structured_outputs is False:
        raise ConfigError(
            f"{model.name} does not answer in a JSON schema (the Models API says so): "
            f"choose another --model for docanalyze extract"
        )


async def extract_source(
    setup: ExtractionSetup, source: Source, schema: SchemaSource, key: tuple[str, ...]
) -> ExtractResult:
    """Check ``schema`` and the backend, read ``source`` and extract its records with a model
    of ``setup`` (closed at the end when ``setup`` built it)."""
    record_schema = RecordSchema.of(schema)  # checked before anything is read or sent
    events = EventLog(setup.on_event)
    model, backend_notices = setup.create_model(events)
    try:
        check_extraction(model, record_schema, key)
        for message in backend_notices:
            events.emit(Notice(message))
        document = await asyncio.to_thread(
            resolve_document, source, password=setup.options.password
        )
        return await extract_records(setup, document, model, events, record_schema, key)
    finally:
        if setup.owns_model:
            await model.aclose()


async def extract_records(
    pipeline: ExtractionSetup,
    document: Document,
    model: Model,
    events: EventLog,
    schema: RecordSchema,
    key: tuple[str, ...],
) -> ExtractResult:
    """Extract ``document``'s records with ``model`` (the caller owns and closes it, and has
    checked it with :func:`check_extraction`), recorded in the run store like a report's run."""
    started = time.monotonic()
    recorder = RunRecorder(pipeline.options, document, model, injected=not pipeline.owns_model)
    try:
        result = await recorder.recording(
            _recorded(pipeline, recorder, document, model, events, schema, key),
            lambda result: result.stopped,
        )
    finally:
        recorder.close()
    result.timings["total"] = time.monotonic() - started
    return result


async def _recorded(
    pipeline: ExtractionSetup,
    recorder: RunRecorder,
    document: Document,
    model: Model,
    events: EventLog,
    schema: RecordSchema,
    key: tuple[str, ...],
) -> ExtractResult:
    await prepare_model(model, recorder.store, events.emit)
    model = recorder.model(model)
    options = pipeline.options
    prepared = await asyncio.to_thread(
        prepare_run, document, options, pipeline.prompts, model, emit=events.emit
    )
    ctx = pipeline.run_context(prepared.renderer, model, events)
    mark = time.monotonic()
    chunk_records, cost_stopped = await extract_chunks(ctx, prepared.chunks, schema, key)
    stopped = _cost_note(ctx) if cost_stopped else None
    timings = {"map": time.monotonic() - mark}
    found = [item for chunk in chunk_records for item in chunk.found]
    merged = merge_records(found, key)
    mark = time.monotonic()
    records, resolved, unresolved = list(merged.records), 0, 0
    conflicts: Sequence[Conflict] = merged.conflicts
    if stopped is None:
        outcome = await resolve_conflicts(ctx, schema, conflicts, key)
        records += outcome.records
        resolved, unresolved = outcome.resolved, outcome.unresolved
        conflicts = ()
        if isinstance(outcome.stop, CostStop):
            stopped = _cost_note(ctx)
        elif outcome.stop is not None:
            stopped = failure_note(ctx.failures, RECORDS_KEPT)
    records += [member for conflict in conflicts for member in conflict.members]
    unresolved += len(conflicts)
    timings["resolve"] = time.monotonic() - mark
    await ctx.wait_for_requests_in_flight()
    if stopped is None and (ctx.refusals or ctx.failures):
        stopped = (
            refusal_note(ctx.refusals, RECORDS_KEPT)
            if ctx.refusals
            else failure_note(ctx.failures, RECORDS_KEPT)
        )
    kept, dropped = _unsupported(ordered(records), pipeline.options.unsupported)
    table = RecordTable(
        schema.field_names,
        tuple(_with_value(schema, record) for record in kept),
        (document.source,),
        schema.title,
    )
    counts = ExtractCounts(
        len(found), merged.overlap_repeats, merged.key_merges, resolved, unresolved, dropped
    )
    result = _result(pipeline, ctx, events, document, table, key, counts, chunk_records)
    result.complete, result.stopped, result.timings = stopped is None, stopped, timings
    return result


def _result(
    pipeline: ExtractionSetup,
    ctx: RunContext,
    events: EventLog,
    document: Document,
    table: RecordTable,
    key: tuple[str, ...],
    counts: ExtractCounts,
    chunk_records: Sequence[ChunkRecords],
) -> ExtractResult:
    chunk_count = len(chunk_records)
    return ExtractResult(
        source=document.source,
        table=table,
        key=key,
        backend=ctx.model.features.backend,
        model=", ".join(sorted(ctx.models_used)) or ctx.model.name,
        page_count=document.page_count,
        chunk_count=chunk_count,
        usage=ctx.usage,
        cost=ctx.ledger.total_cost(pipeline.prices),
        counts=counts,
        missing_chunks=[chunk.chunk.index for chunk in chunk_records if not chunk.answered],
        refusals=[part.to_dict() for part in ctx.refusals],
        failures=[part.to_dict() for part in ctx.failures],
        notices=list(events.notices),
        batch=pipeline.batch_priced,
    )


def _cost_note(ctx: RunContext) -> str:
    budget = ctx.cost_budget
    assert budget is not None, "only a cost budget stops a run"
    return cost_stop_note(budget.limit, budget.spent, RECORDS_KEPT)


def _unsupported(
    records: Sequence[Record], mode: UnsupportedMode | str
) -> tuple[list[Record], int]:
    """The records kept (all, or, with ``--unsupported drop``, the supported ones) and how
    many were dropped."""
    if mode != "drop":
        return list(records), 0
    kept = [record for record in records if record.status != "unsupported"]
    return kept, len(records) - len(kept)


def _with_value(schema: RecordSchema, record: Record) -> Record:
    """``record`` with its fields as the schema's pydantic model, when it is one."""
    if schema.model is None:
        return record
    return replace(record, value=schema.instance(record.fields))
