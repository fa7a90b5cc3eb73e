"""Records of a corpus: a table per file of folders and globs, one table of them all, an index.

:func:`extract_corpus` is the corpus runner (:mod:`docanalyze.corpus.runner`) doing
:class:`ExtractWork` with each file: its records are extracted with the run's one model (one
rate limiter) and written, the moment they are done, as a table in the run's format that
mirrors the file's place (``OUT/a/b.jsonl`` for ``docs/a/b.pdf``), with their JSON in
``OUT/.records/`` (what a later run reads back) and the file's line in ``OUT/index.jsonl``
(status, ``records``, pages, chunks, requests, tokens, cost, error). A file that fails is a
``failed`` line; the others go on. When the run ends, ``OUT/records.<suffix>``
(:data:`COMBINED_STEM`) holds the records of every file in the run's order, the file's path in
the first column (``document``); no document's own table takes that name (it gets ``-2``).

Running again into the same folder resumes as a report corpus does: a file is skipped when its
last line is ``complete``, its bytes and the settings are the same (the schema, ``--key`` and
``--unsupported`` among them) and its table and JSON are there; its records still go into the
combined table.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from docanalyze.corpus.files import CorpusFile
from docanalyze.corpus.folder import write_atomically
from docanalyze.corpus.index import INDEX_NAME, CorpusIndex, IndexEntry
from docanalyze.corpus.progress import FileHandler
from docanalyze.corpus.runner import (
    CorpusSummary,
    analyze_corpus_async,
    corpus_files,
    settings_fingerprint,
)
from docanalyze.corpus.work import FileTarget, failed_entry
from docanalyze.cost import input_tokens_with_cache
from docanalyze.models.base import Model
from docanalyze.records.record import Record, RecordTable
from docanalyze.records.result import ExtractResult
from docanalyze.records.run import check_extraction
from docanalyze.records.schema import RecordSchema, SchemaSource
from docanalyze.records.several import combine_tables, extract_document
from docanalyze.report.formats import DEFAULT_TABLE_FORMAT, table_format
from docanalyze.run.admission import Gauge
from docanalyze.run.blocking import to_the_end
from docanalyze.run.context import EventLog
from docanalyze.run.documents import DocumentPipeline, ExecutorFactory, InProcess

__all__ = [
    "COMBINED_STEM",
    "KEPT_FOLDER",
    "CorpusRecords",
    "ExtractFileJob",
    "ExtractWork",
    "extract_corpus",
    "extract_corpus_async",
]

COMBINED_STEM = "records"
"""The combined table's name in the output folder, before its format's suffix."""
KEPT_FOLDER = ".records"
"""Where each file's records are kept as JSON, for the combined table of a later run."""


@dataclass
class CorpusRecords(CorpusSummary):
    """What a corpus extraction did (a :class:`CorpusSummary`), the combined ``table_path``
    and how many ``records`` it holds."""

    table_path: Path | None = None
    records: int = 0


@dataclass(frozen=True)
class ExtractWork:
    """Each file's records under ``schema`` (merged under ``key``), as a table in
    ``output_format`` and as JSON (see the module)."""

    output_format: str
    schema: RecordSchema
    key: tuple[str, ...] = ()

    def check(self, model: Model) -> None:
        """A :class:`~docanalyze.errors.ConfigError` when ``model`` cannot extract
        (:func:`~docanalyze.records.run.check_extraction`)."""
        check_extraction(model, self.schema, self.key)

    def settings(self, pipeline: DocumentPipeline, model: Model) -> str:
        """The fingerprint of the run's settings, the schema, key and ``--unsupported`` among
        them."""
        shaping = {
            "schema": dict(self.schema.schema),
            "key": list(self.key),
            "unsupported": pipeline.options.unsupported,
        }
        return settings_fingerprint(pipeline, model, shaping)

    def job(self, file: CorpusFile, target: FileTarget) -> ExtractFileJob:
        """Extract the file's records into its table."""
        return ExtractFileJob(file, target, self.schema, self.key)

    def outputs(self, report: str) -> tuple[str, ...]:
        """The file's table and its records' JSON."""
        return (report, kept_path(report))


@dataclass(frozen=True)
class ExtractFileJob:
    """One file of a corpus extraction into its table and index entry, wherever it runs."""

    file: CorpusFile
    target: FileTarget
    schema: RecordSchema
    key: tuple[str, ...]

    async def run(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, worker: str | None
    ) -> IndexEntry:
        """Extract the records and write the table; the entry (naming ``worker``, if any)."""
        path = self.file.path
        outcome = await extract_document(pipeline, model, events, path, self.schema, self.key)
        entry = failed_entry(path, self.target, str(outcome.error))
        if outcome.result is not None:
            entry = await asyncio.to_thread(_written, outcome.result, entry, self.target)
        return entry if worker is None else replace(entry, worker=worker)

    def lost(self, why: str) -> IndexEntry:
        """The ``failed`` entry of a file whose work never came back."""
        return failed_entry(self.file.path, self.target, why)


def kept_path(report: str) -> str:
    """Where the records of the table ``report`` are kept as JSON, in the output folder."""
    return f"{KEPT_FOLDER}/{report}.json"


async def extract_corpus_async(
    pipeline: DocumentPipeline,
    paths: Sequence[str] | Sequence[CorpusFile],
    output_dir: str | os.PathLike[str],
    schema: SchemaSource,
    *,
    key: Sequence[str] = (),
    output_format: str = DEFAULT_TABLE_FORMAT,
    on_file: FileHandler | None = None,
    documents_at_once: int | None = None,
    executor: ExecutorFactory = InProcess,
    gauge: Gauge | None = None,
) -> CorpusRecords:
    """Extract the records ``schema`` describes from every file of ``paths`` (folders, globs,
    files) into ``output_dir`` (see the module); :func:`extract_corpus` runs it to the end.

    The other arguments are those of :func:`~docanalyze.corpus.runner.analyze_corpus_async`
    (``executor``: on Ray, see :func:`docanalyze.ray.runner.extract_on_ray`)."""
    work = ExtractWork(table_format(output_format).name, RecordSchema.of(schema), tuple(key))
    out = Path(output_dir)
    files = await corpus_files(paths, out, reserved=(COMBINED_STEM,))
    summary = await analyze_corpus_async(
        pipeline,
        files,
        out,
        on_file=on_file,
        documents_at_once=documents_at_once,
        executor=executor,
        gauge=gauge,
        work=work,
    )
    table = await asyncio.to_thread(_combined, out, files, work)
    target = out / f"{COMBINED_STEM}{table_format(output_format).suffix}"
    text = table_format(output_format).render_table_to(table, target)
    await asyncio.to_thread(write_atomically, target, text)
    return CorpusRecords(**vars(summary), table_path=target, records=len(table.records))


extract_corpus = to_the_end(extract_corpus_async)
extract_corpus.__doc__ = """Extract the records of every file of ``paths`` into ``output_dir``,
to the end: the arguments of :func:`extract_corpus_async`."""


def _written(result: ExtractResult, base: IndexEntry, target: FileTarget) -> IndexEntry:
    """Write ``result``'s table and its records' JSON (each whole, or absent); its entry."""
    relative = str(target.report_path)
    table_path = target.out / relative
    try:
        text = table_format(target.output_format).render_table_to(result.table, table_path)
        write_atomically(target.out / kept_path(relative), _records_json(result.records))
        write_atomically(table_path, text)
    except OSError as error:
        return replace(base, error=f"cannot write {table_path}: {error.strerror}")
    usage = result.usage
    return replace(
        base,
        status="complete" if result.complete else "incomplete",
        report=relative,
        pages=result.page_count,
        chunks=result.chunk_count,
        requests=usage.requests,
        cached=result.cache_hits,
        input_tokens=input_tokens_with_cache(usage),
        output_tokens=usage.output_tokens,
        cost=result.cost,
        error=result.stopped,
        run_id=result.run_id,
        estimated=usage.estimated,
        records=len(result.records),
    )


def _combined(out: Path, files: Sequence[CorpusFile], work: ExtractWork) -> RecordTable:
    """The table of every file with a table, in the run's order, from its kept JSON."""
    entries = CorpusIndex(out / INDEX_NAME).previous
    tables = []
    for file in files:
        entry = entries.get(file.path)
        if entry is not None and entry.report is not None and entry.status != "failed":
            kept = (out / kept_path(entry.report)).read_text(encoding="utf-8")
            records = tuple(_record(item) for item in json.loads(kept))
            tables.append((file.path, RecordTable(work.schema.field_names, records)))
    return combine_tables(work.schema.field_names, work.schema.title, tables)


def _records_json(records: Sequence[Record]) -> str:
    items = [
        {
            "fields": dict(record.fields),
            "pages": list(record.pages),
            "quotes": list(record.quotes),
            "status": record.status,
            "cited_pages": list(record.cited_pages),
            "spans": [list(span) for span in record.spans],
            "chunks": list(record.chunks),
            "resolved": record.resolved,
        }
        for record in records
    ]
    return json.dumps(items, ensure_ascii=False, indent=1) + "\n"


def _record(item: dict[str, Any]) -> Record:
    return Record(
        fields=item["fields"],
        pages=tuple(item["pages"]),
        quotes=tuple(item["quotes"]),
        status=item["status"],
        cited_pages=tuple(item["cited_pages"]),
        spans=tuple((start, end) for start, end in item["spans"]),
        chunks=tuple(item["chunks"]),
        resolved=item["resolved"],
    )
