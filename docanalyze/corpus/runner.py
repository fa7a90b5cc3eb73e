"""A corpus run: a report per file of folders and globs (thousands of files), plus an index.

``analyze_corpus(pipeline, ["docs/"], "reports/")`` analyzes every document of ``docs/`` with one
shared model (one rate limiter, one adaptive concurrency) and the run store, at most
``documents_at_once`` documents at a time, reading each only when its turn comes. Each report is
written the moment it is done (``reports/a/b.md`` for ``docs/a/b.pdf``, see
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from docanalyze.corpus.files import CorpusFile, expand_inputs
from docanalyze.corpus.index import INDEX_NAME, CorpusIndex, IndexEntry, report_entry
from docanalyze.errors import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    ConfigError,
    DocanalyzeError,
    IncompleteRun,
    InputError,
)
from docanalyze.events import Notice
from docanalyze.ingest.sources import resolve_document
from docanalyze.models.base import Model, Usage
from docanalyze.prompting.templates import TEMPLATE_NAMES
from docanalyze.report import formats
from docanalyze.run.blocking import to_the_end
from docanalyze.run.context import EventLog
from docanalyze.run.several import DOCUMENTS_AT_ONCE, running as running_source

if TYPE_CHECKING:
    from docanalyze.run.pipeline import Pipeline


__all__ = [
    "CorpusRun",
    "CorpusSummary",
    "FileDone",
    "FileHandler",
    "FileTarget",
    "analyze_corpus",
    "analyze_corpus_async",
    "analyze_file",
    "settings_fingerprint",
]


@dataclass(frozen=True)
class FileDone:
    """A file of a corpus run is done: its index ``entry``, whether it was ``skipped`` (done by
    an earlier run), and how far the run is: files ``done`` (skipped ones included) of
    ``total``, ``failed`` so far."""

    entry: IndexEntry
    skipped: bool
    done: int
    total: int
    failed: int
    in_flight: int = 0
    """Files being analyzed now (on a Ray cluster: across the cluster)."""


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


FileHandler = Callable[[FileDone], None]
"""Called after each file's report and index line are written (or the file is skipped)."""


async def analyze_corpus_async(
    pipeline: Pipeline,
    paths: Sequence[str] | Sequence[CorpusFile],
    output_dir: str | os.PathLike[str],
    *,
    output_format: str = formats.DEFAULT_FORMAT,
    on_file: FileHandler | None = None,
    documents_at_once: int = DOCUMENTS_AT_ONCE,
    make_run: Callable[..., CorpusRun] | None = None,
) -> CorpusSummary:
    """Analyze every file of ``paths`` (folders, globs, files; or the files that
    :func:`docanalyze.corpus.files.expand_inputs` made of them) into ``output_dir``.

    :func:`analyze_corpus` takes the same arguments and runs to the end before it returns.
    ``make_run`` makes the run from :class:`CorpusRun`'s arguments (a Ray run's analyzes each
    file on a worker: :mod:`docanalyze.ray`). ``output_format`` names a format of
    :mod:`docanalyze.report.formats`.
    """
    formats.output_format(output_format)
    out = Path(output_dir)
    files = await _corpus_files(paths, out)
    if not files:
        raise InputError("no documents to analyze: give folders, globs or files")
    _make_folder(out)
    events = EventLog(pipeline.on_event)
    model, notices = pipeline.create_model(events)
    for message in notices:
        events.emit(Notice(message))
    run = (make_run or CorpusRun)(pipeline, model, events, out, output_format, on_file, len(files))
    try:
        await run.run(files, documents_at_once)
    finally:
        run.index.close()
        if pipeline.owns_model:
            await model.aclose()
    run.index.rewrite(file.path for file in files)
    return run.summary


@dataclass(frozen=True)
class FileTarget:
    """Where a file's report goes and what its index entry records of the run."""

    out: Path
    report_path: PurePosixPath
    output_format: str
    digest: str | None
    settings: str


async def analyze_file(
    pipeline: Pipeline, model: Model, events: EventLog, file: CorpusFile, target: FileTarget
) -> IndexEntry:
    """Read and analyze ``file`` with ``model``, write its report (atomically); its entry.
    A file that cannot be analyzed is a ``failed`` entry, never an exception."""
    started = time.monotonic()
    base = IndexEntry(
        file=file.path, status="failed", sha256=target.digest, settings=target.settings
    )
    stopped: str | None = None
    try:
        document = await asyncio.to_thread(
            resolve_document, file.path, password=pipeline.options.password
        )
        report = await pipeline.analyze_document(document, model, events, started)
    except IncompleteRun as stop:
        report, stopped = stop.report, str(stop)
    except DocanalyzeError as error:
        return _with_error(base, str(error))
    relative = str(target.report_path)
    text = formats.output_format(target.output_format).render_to(report, target.out / relative)
    try:
        await asyncio.to_thread(_write_atomically, target.out / relative, text)
    except OSError as error:
        return _with_error(base, f"cannot write {target.out / relative}: {error.strerror}")
    return report_entry(base, report, relative, stopped)


class CorpusRun:
    """The state of one corpus run: the index, the counts, and what each file needs.

    :meth:`analyze` does one file's work; a run on a Ray cluster
    (:mod:`docanalyze.ray`) sends it to a worker instead."""

    def __init__(
        self,
        pipeline: Pipeline,
        model: Model,
        events: EventLog,
        out: Path,
        output_format: str,
        on_file: FileHandler | None,
        total: int,
    ) -> None:
        self.pipeline = pipeline
        self.model = model
        self.events = events
        self.out = out
        self.suffix = formats.output_format(output_format).suffix
        self.output_format = output_format
        self.on_file = on_file
        self.index = CorpusIndex(out / INDEX_NAME)
        self.settings = settings_fingerprint(pipeline, model)
        self.summary = CorpusSummary(
            out, out / INDEX_NAME, total=total, offline=model.features.offline
        )
        self.started = time.monotonic()
        self.in_flight = 0

    async def run(self, files: Sequence[CorpusFile], documents_at_once: int) -> None:
        """Each file in turn on ``documents_at_once`` workers; files are read only when due."""
        queue = iter(files)
        workers = max(1, min(documents_at_once, len(files)))
        await asyncio.gather(*(self._worker(queue) for _ in range(workers)))
        self.summary.seconds = time.monotonic() - self.started

    async def _worker(self, queue: Iterator[CorpusFile]) -> None:
        for file in queue:
            entry, skipped = await self._one(file)
            self._count(entry, skipped)
            if not skipped:
                self.index.append(entry)
            if self.on_file is not None:
                summary = self.summary
                done = summary.complete + summary.incomplete + summary.failed
                self.on_file(
                    FileDone(entry, skipped, done, summary.total, summary.failed, self.in_flight)
                )

    async def _one(self, file: CorpusFile) -> tuple[IndexEntry, bool]:
        """The file's entry, and whether it was skipped (already done)."""
        report_path = file.report_path(self.suffix)
        digest = await asyncio.to_thread(_file_hash, file.path)
        previous = self.index.previous.get(file.path)
        if previous is not None and self._done_before(previous, digest, str(report_path)):
            return previous, True
        self.in_flight += 1
        try:
            with running_source(file.path):
                return await self.analyze(file, digest, report_path), False
        finally:
            self.in_flight -= 1

    def _done_before(self, entry: IndexEntry, digest: str | None, report: str) -> bool:
        return (
            self.pipeline.options.cache != "refresh"
            and entry.status == "complete"
            and digest is not None
            and entry.sha256 == digest
            and entry.settings == self.settings
            and entry.report == report
            and (self.out / report).is_file()
        )

    async def analyze(
        self, file: CorpusFile, digest: str | None, report_path: PurePosixPath
    ) -> IndexEntry:
        """Analyze ``file`` into its report; its index entry (a Ray run does this on a worker)."""
        return await analyze_file(
            self.pipeline,
            self.model,
            EventLog(self.events.handler, notices=list(self.events.notices)),
            file,
            FileTarget(self.out, report_path, self.output_format, digest, self.settings),
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
        )
        summary.cached += entry.cached
        if summary.cost is not None and not summary.offline:
            summary.cost = None if entry.cost is None else summary.cost + entry.cost


analyze_corpus = to_the_end(analyze_corpus_async)
analyze_corpus.__doc__ = """Analyze every file of ``paths`` into ``output_dir``, to the end:
the arguments of :func:`analyze_corpus_async`."""


async def _corpus_files(paths: Sequence[str] | Sequence[CorpusFile], out: Path) -> list[CorpusFile]:
    given = [path for path in paths if isinstance(path, str)]
    if not given:
        return [file for file in paths if isinstance(file, CorpusFile)]
    if "-" in given:
        raise ConfigError('"-" (stdin) cannot be part of a folder or glob run: give files')
    return await asyncio.to_thread(expand_inputs, given, exclude=out)


def settings_fingerprint(pipeline: Pipeline, model: Model) -> str:
    """A hash of what shapes a report: the model, the templates, the variables and budgets."""
    options = pipeline.options
    shaping = {
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


def _with_error(base: IndexEntry, error: str) -> IndexEntry:
    return IndexEntry(
        file=base.file, status="failed", sha256=base.sha256, settings=base.settings, error=error
    )


def _file_hash(path: str) -> str | None:
    """The sha256 of the file's bytes, or None when it cannot be read (reading will say why)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file: the report is whole, or absent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)


def _make_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file: the reports of several documents need a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create the output folder {out}: {error.strerror}") from error
