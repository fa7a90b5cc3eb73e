"""Records of several documents in memory: a table each, and one table of them all.

:func:`extract_many` runs the documents through the document runner
(:mod:`docanalyze.run.documents`), as :func:`docanalyze.run.several.analyze_many` runs reports:
one shared model (one rate limiter, one adaptive concurrency), documents started as its limits
have room, and a document that fails (unreadable, no text) kept as a failure while the others go
on. :func:`combine_tables` makes the table of them all: every record, its document's name in
the first column (:data:`~docanalyze.records.record.DOCUMENT_COLUMN`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from docanalyze.errors import EXIT_ERROR, EXIT_INCOMPLETE, DocanalyzeError, InputError
from docanalyze.ingest.sources import Source
from docanalyze.models.base import Model
from docanalyze.records.record import RecordTable
from docanalyze.records.result import ExtractResult
from docanalyze.records.run import check_extraction, extract_records
from docanalyze.records.schema import RecordSchema, SchemaSource
from docanalyze.run.admission import Admission, admission_for
from docanalyze.run.context import EventLog
from docanalyze.run.documents import (
    DocumentPipeline,
    DocumentRunner,
    InProcess,
    input_name,
    model_session,
    read_source,
    running,
)
from docanalyze.run.several import DocumentFailure, InMemory

__all__ = [
    "ExtractOutcome",
    "SeveralRecords",
    "combine_tables",
    "extract_document",
    "extract_many",
]


@dataclass(frozen=True)
class ExtractOutcome:
    """How one document's extraction ended: its ``result`` (incomplete ones too), or no result
    and the ``error``."""

    source: str
    result: ExtractResult | None = None
    error: DocanalyzeError | None = None


async def extract_document(
    pipeline: DocumentPipeline,
    model: Model,
    events: EventLog,
    source: Source,
    schema: RecordSchema,
    key: tuple[str, ...],
) -> ExtractOutcome:
    """Read ``source`` and extract its records with ``model``: a :class:`DocanalyzeError` is
    the document's failure (its outcome), never an exception."""
    with running(source):
        try:
            document = await read_source(source, pipeline.options.password)
            result = await extract_records(pipeline, document, model, events, schema, key)
        except DocanalyzeError as error:
            return ExtractOutcome(input_name(source), error=error)
    return ExtractOutcome(input_name(source), result)


def combine_tables(
    fields: tuple[str, ...], title: str, tables: Sequence[tuple[str, RecordTable]]
) -> RecordTable:
    """One table of the ``tables`` (each with its document's name), in their order: every
    record named by its document, which a row shows in its first column."""
    records = tuple(
        replace(record, document=name) for name, table in tables for record in table.records
    )
    return RecordTable(fields, records, tuple(name for name, _ in tables), title)


@dataclass
class SeveralRecords:
    """What :func:`extract_many` produced: ``results``, one per document extracted (incomplete
    ones too), in input order; ``failures``, the documents without a result; ``table``, the
    records of them all with the document's name first (:func:`combine_tables`)."""

    table: RecordTable
    results: list[ExtractResult] = field(default_factory=list)
    failures: list[DocumentFailure] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """The combined table's rows: ``document``, the fields, ``pages``, ``quote``,
        ``citation``."""
        return self.table.rows()

    @property
    def ok(self) -> bool:
        """Whether every document's records were extracted in full."""
        return self.exit_code == 0

    @property
    def exit_code(self) -> int:
        """The CLI's: 0, every result complete; 1 (:data:`EXIT_ERROR`), a document has no
        result; else 3 (:data:`EXIT_INCOMPLETE`), a result is incomplete."""
        if self.failures:
            return EXIT_ERROR
        return EXIT_INCOMPLETE if any(not result.complete for result in self.results) else 0


async def extract_many(
    pipeline: DocumentPipeline,
    sources: Sequence[Source],
    schema: SchemaSource,
    key: Sequence[str] = (),
    *,
    admission: Admission | None = None,
) -> SeveralRecords:
    """Extract the records ``schema`` describes from each of ``sources`` with one shared model.

    The schema and the backend are checked once, before any document is read;
    ``admission`` decides how many documents run at once (default:
    :func:`~docanalyze.run.admission.admission_for` the model, at most the options'
    ``documents_at_once``)."""
    if not sources:
        raise InputError("no documents to extract records from: give one or more paths")
    record_schema, fields = RecordSchema.of(schema), tuple(key)
    check = functools.partial(check_extraction, schema=record_schema, key=fields)
    async with model_session(pipeline, check) as (model, events):
        memory = InMemory(lambda source: _ExtractJob(source, record_schema, fields))
        gate = admission or admission_for(model, pipeline.options.documents_at_once)
        await DocumentRunner(memory, InProcess(pipeline, model, events), gate).run(sources)
    return several_records(memory.results(), record_schema)


def several_records(outcomes: Sequence[ExtractOutcome], schema: RecordSchema) -> SeveralRecords:
    """The result of ``outcomes``, in their order."""
    done = [(outcome.source, outcome.result) for outcome in outcomes if outcome.result]
    failures = [
        DocumentFailure(outcome.source, outcome.error)
        for outcome in outcomes
        if outcome.error is not None
    ]
    named = [(name, result.table) for name, result in done]
    table = combine_tables(schema.field_names, schema.title, named)
    return SeveralRecords(table, [result for _, result in done], failures)


@dataclass(frozen=True)
class _ExtractJob:
    """Extract one document's records, kept in memory."""

    source: Source
    schema: RecordSchema
    key: tuple[str, ...]

    async def run(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, worker: str | None
    ) -> ExtractOutcome:
        return await extract_document(pipeline, model, events, self.source, self.schema, self.key)

    def lost(self, why: str) -> ExtractOutcome:
        return ExtractOutcome(input_name(self.source), error=DocanalyzeError(why))
