"""A corpus run: a report per file of folders and globs (thousands of files), plus an index.

``analyze_corpus(pipeline, ["docs/"], "reports/")`` analyzes every document of ``docs/`` with the
document runner (:mod:`docanalyze.run.documents`): one shared model (one rate limiter, one
adaptive concurrency) and the run store; documents start as that limiter has room
(:mod:`docanalyze.run.admission`), at most ``documents_at_once`` at a time when given, each read
only when its turn comes. This module is the runner's folder sink: each report is written
the moment it is done (``reports/a/b.md`` for ``docs/a/b.pdf``, see
:mod:`docanalyze.corpus.files`) and its line appended to ``reports/index.jsonl`` (see
:mod:`docanalyze.corpus.index`); no report is kept in memory. A file that cannot be analyzed
gets a ``failed`` line and does not stop the others.

Running the same corpus into the same folder again resumes: a file is skipped when its last
index line is ``complete``, its report file is there, its bytes hash to the same ``sha256`` and
the settings that shape a report are the same (never with ``cache="refresh"``). Every other file
runs again, and any reply already paid for comes from the run store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from docanalyze.corpus.files import CorpusFile, expand_inputs
from docanalyze.corpus.folder import file_hash, make_folder, write_atomically
from docanalyze.corpus.index import INDEX_NAME, CorpusIndex, IndexEntry, report_entry
from docanalyze.corpus.progress import FileDone, FileHandler, eta_seconds
from docanalyze.corpus.work import FileTarget, FileWork, failed_entry
from docanalyze.errors import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    ConfigError,
    InputError,
)
from docanalyze.models.base import Model, Usage
from docanalyze.prompting.templates import TEMPLATE_NAMES
from docanalyze.report import formats
from docanalyze.run.admission import Admission, Gauge, admission_for, gauge_of
from docanalyze.run.blocking import to_the_end
from docanalyze.run.context import EventLog
from docanalyze.run.documents import (
    DocumentJob,
    DocumentPipeline,
    DocumentRunner,
    ExecutorFactory,
    InProcess,
    analyze_source,
    model_session,
)

__all__ = [
    "CorpusSummary",
    "FileDone",
    "FileHandler",
    "FileJob",
    "FileTarget",
    "FileWork",
    "FolderSink",
    "ReportWork",
    "analyze_corpus",
    "analyze_corpus_async",
    "analyze_file",
    "corpus_files",
    "failed_entry",
    "settings_fingerprint",
]


@dataclass
class CorpusSummary:
    """What a corpus run did. ``complete`` counts full reports, ``skipped`` included;
    ``incomplete`` the reports written but incomplete; ``failed`` the files without a report."""

    output_dir: Path
    index_path: Path
    total: int = 0
    complete: int = 0
    incomplete: int = 0
    failed: int = 0
    skipped: int = 0
    usage: Usage = field(default_factory=Usage)
    cached: int = 0
    cost: float | None = 0.0
    offline: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every file has a full report."""
        return self.exit_code == 0

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: 0, every report complete; 1 (:data:`EXIT_ERROR`), a file has no
        report; else 3 (:data:`EXIT_INCOMPLETE`), a report is incomplete."""
        if self.failed:
            return EXIT_ERROR
        return EXIT_INCOMPLETE if self.incomplete else 0


async def analyze_corpus_async(
    pipeline: DocumentPipeline,
    paths: Sequence[str] | Sequence[CorpusFile],
    output_dir: str | os.PathLike[str],
    *,
    output_format: str = formats.DEFAULT_FORMAT,
    on_file: FileHandler | None = None,
    documents_at_once: int | None = None,
    executor: ExecutorFactory = InProcess,
    gauge: Gauge | None = None,
    admission: Admission | None = None,
    work: FileWork | None = None,
) -> CorpusSummary:
    """Analyze every file of ``paths`` (folders, globs, files; or the files that
    :func:`docanalyze.corpus.files.expand_inputs` made of them) into ``output_dir``.

    :func:`analyze_corpus` takes the same arguments and runs to the end before it returns.
    ``executor`` makes the run's executor (:class:`~docanalyze.run.documents.InProcess`, or a
    Ray run's, which analyzes each file on a worker: :mod:`docanalyze.ray`). ``output_format``
    names a format of :mod:`docanalyze.report.formats`. Files start as the limits have room
    (:func:`~docanalyze.run.admission.admission_for`: the model's limiters, or ``gauge``'s),
    at most ``documents_at_once`` (default: the options') at once; ``admission`` replaces
    that rule. ``work`` replaces what is done with each file (default: :class:`ReportWork`,
    its report in ``output_format``).
    """
    if work is None:
        work = ReportWork(formats.report_format(output_format).name)
    out = Path(output_dir)
    files = await corpus_files(paths, out)
    if not files:
        raise InputError("no documents to analyze: give folders, globs or files")
    async with model_session(pipeline, work.check) as (model, events):
        make_folder(out)
        at_most = documents_at_once or pipeline.options.documents_at_once
        gauge = gauge or gauge_of(model)
        gate = admission or admission_for(model, at_most, gauge=gauge)
        sink = FolderSink(pipeline, model, out, work, on_file, len(files), gauge)
        runner = DocumentRunner(sink, executor(pipeline, model, events), gate)
        try:
            await runner.run(files)
            sink.summary.seconds = time.monotonic() - sink.started
        finally:
            sink.index.close()
    sink.index.rewrite(file.path for file in files)
    return sink.summary


@dataclass(frozen=True)
class ReportWork:
    """A report per file, in the format ``output_format``."""

    output_format: str = formats.DEFAULT_FORMAT

    def check(self, model: Model) -> None:
        """Any model writes a report."""

    def settings(self, pipeline: DocumentPipeline, model: Model) -> str:
        """:func:`settings_fingerprint`."""
        return settings_fingerprint(pipeline, model)

    def job(self, file: CorpusFile, target: FileTarget) -> FileJob:
        """Analyze the file into its report."""
        return FileJob(file, target)

    def outputs(self, report: str) -> tuple[str, ...]:
        """The report."""
        return (report,)


async def analyze_file(
    pipeline: DocumentPipeline,
    model: Model,
    events: EventLog,
    file: CorpusFile,
    target: FileTarget,
) -> IndexEntry:
    """Read and analyze ``file`` with ``model``, write its report (atomically); its entry.
    A file that cannot be analyzed is a ``failed`` entry, never an exception."""
    outcome = await analyze_source(pipeline, model, events, file.path)
    base = failed_entry(file.path, target, str(outcome.error))
    if outcome.report is None:
        return base
    relative = str(target.report_path)
    text = formats.output_format(target.output_format).render_to(
        outcome.report, target.out / relative
    )
    try:
        await asyncio.to_thread(write_atomically, target.out / relative, text)
    except OSError as error:
        return replace(base, error=f"cannot write {target.out / relative}: {error.strerror}")
    stopped = None if outcome.error is None else str(outcome.error)
    return report_entry(base, outcome.report, relative, stopped)


@dataclass(frozen=True)
class FileJob:
    """One file of a corpus run into its report and index entry, wherever it runs."""

    file: CorpusFile
    target: FileTarget

    async def run(
        self, pipeline: DocumentPipeline, model: Model, events: EventLog, worker: str | None
    ) -> IndexEntry:
        """Analyze the file and write its report; its entry (naming ``worker``, if any)."""
        entry = await analyze_file(pipeline, model, events, self.file, self.target)
        return entry if worker is None else replace(entry, worker=worker)

    def lost(self, why: str) -> IndexEntry:
        """The ``failed`` entry of a file whose work never came back."""
        return failed_entry(self.file.path, self.target, why)


class FolderSink:
    """Where a corpus run's reports go: the folder, the index, the counts, and resume.

    A file done by an earlier run (see the module's docstring) needs no job; every other file's
    job writes its report, and its entry is appended to the index as soon as it comes back."""

    def __init__(
        self,
        pipeline: DocumentPipeline,
        model: Model,
        out: Path,
        work: FileWork,
        on_file: FileHandler | None,
        total: int,
        gauge: Gauge | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.out = out
        self.work = work
        self.suffix = formats.output_format(work.output_format).suffix
        self.on_file = on_file
        self.index = CorpusIndex(out / INDEX_NAME)
        self.settings = work.settings(pipeline, model)
        self.summary = CorpusSummary(
            out, out / INDEX_NAME, total=total, offline=model.features.offline
        )
        self.started = time.monotonic()
        self.in_flight = 0
        self.gauge = gauge

    async def job(self, position: int, file: CorpusFile) -> DocumentJob[IndexEntry] | None:
        """The file's job, or None when an earlier run did it (then it is counted as done)."""
        report_path = file.report_path(self.suffix)
        digest = await asyncio.to_thread(file_hash, file.path)
        previous = self.index.previous.get(file.path)
        if previous is not None and self._done_before(previous, digest, str(report_path)):
            self._done(previous, skipped=True)
            return None
        self.in_flight += 1
        target = FileTarget(self.out, report_path, self.work.output_format, digest, self.settings)
        return self.work.job(file, target)

    def take(self, position: int, entry: IndexEntry) -> None:
        """Append the entry of a file analyzed to the index, and count it."""
        self.in_flight -= 1
        self.index.append(entry)
        self._done(entry, skipped=False)

    def _done(self, entry: IndexEntry, *, skipped: bool) -> None:
        self._count(entry, skipped)
        if self.on_file is not None:
            summary = self.summary
            done = summary.complete + summary.incomplete + summary.failed
            room = self.gauge.room() if self.gauge is not None else None
            eta = eta_seconds(
                summary.total - done,
                done - summary.skipped,
                summary.usage,
                room.per_minute if room is not None else {},
                time.monotonic() - self.started,
            )
            requests = room.in_flight if room is not None else 0
            self.on_file(
                FileDone(
                    entry,
                    skipped,
                    done,
                    summary.total,
                    summary.failed,
                    self.in_flight,
                    requests,
                    eta,
                )
            )

    def _done_before(self, entry: IndexEntry, digest: str | None, report: str) -> bool:
        return (
            self.pipeline.options.cache != "refresh"
            and entry.status == "complete"
            and digest is not None
            and entry.sha256 == digest
            and entry.settings == self.settings
            and entry.report == report
            and all((self.out / output).is_file() for output in self.work.outputs(report))
        )

    def _count(self, entry: IndexEntry, skipped: bool) -> None:
        summary = self.summary
        summary.skipped += skipped
        if entry.status == "complete":
            summary.complete += 1
        elif entry.status == "incomplete":
            summary.incomplete += 1
        else:
            summary.failed += 1
        if skipped:
            return
        summary.usage += Usage(
            requests=entry.requests,
            input_tokens=entry.input_tokens,
            output_tokens=entry.output_tokens,
            estimated=entry.estimated,
        )
        summary.cached += entry.cached
        if summary.cost is not None and not summary.offline:
            summary.cost = None if entry.cost is None else summary.cost + entry.cost


analyze_corpus = to_the_end(analyze_corpus_async)
analyze_corpus.__doc__ = """Analyze every file of ``paths`` into ``output_dir``, to the end:
the arguments of :func:`analyze_corpus_async`."""


async def corpus_files(
    paths: Sequence[str] | Sequence[CorpusFile], out: Path, reserved: Iterable[str] = ()
) -> list[CorpusFile]:
    """The files of ``paths`` (folders, globs, files; or files expanded already), never those
    of ``out``; no file's output takes a ``reserved`` stem (see
    :func:`~docanalyze.corpus.files.expand_inputs`)."""
    given = [path for path in paths if isinstance(path, str)]
    if not given:
        return [file for file in paths if isinstance(file, CorpusFile)]
    if "-" in given:
        raise ConfigError('"-" (stdin) cannot be part of a folder or glob run: give files')
    return await asyncio.to_thread(expand_inputs, given, exclude=out, reserved=reserved)


def settings_fingerprint(
    pipeline: DocumentPipeline, model: Model, extra: Mapping[str, Any] | None = None
) -> str:
    """A hash of what shapes a report: the model, the templates, the variables and budgets
    (and ``extra``: what else shapes the output, such as a record schema)."""
    options = pipeline.options
    shaping = {
        **(extra or {}),
        "model": model.name,
        "templates": {name: pipeline.prompts.source(name) for name in TEMPLATE_NAMES},
        "variables": options.variables,
        "chunk_size": options.chunk_size,
        "chunk_overlap": options.overlap,
        "max_tokens": options.max_tokens,
        "map_max_tokens": options.map_max_tokens,
        "reduce_max_tokens": options.reduce_max_tokens,
        "context_window": options.context_window,
        "fallback_model": options.fallback_model,
        "question": options.question,
        "language": options.language,
    }
    encoded = json.dumps(shaping, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:16]
