"""What a corpus run does with each file, where its output goes, and a file's failed entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from docanalyze.corpus.files import CorpusFile
from docanalyze.corpus.index import IndexEntry
from docanalyze.models.base import Model
from docanalyze.run.documents import DocumentJob, DocumentPipeline

__all__ = ["FileTarget", "FileWork", "failed_entry"]


@dataclass(frozen=True)
class FileTarget:
    """Where a file's output goes (``report_path``: its report or its table) and what its index
    entry records of the run."""

    out: Path
    report_path: PurePosixPath
    output_format: str
    digest: str | None
    settings: str


class FileWork(Protocol):
    """What a corpus run does with each file: its report (:class:`~docanalyze.corpus.runner.ReportWork`), or its records
    (:class:`docanalyze.records.corpus.ExtractWork`)."""

    @property
    def output_format(self) -> str:
        """The name of the format of each file's output."""
        ...

    def check(self, model: Model) -> None:
        """Raise a :class:`~docanalyze.errors.DocanalyzeError` before any file is read when
        ``model`` cannot do the work."""
        ...

    def settings(self, pipeline: DocumentPipeline, model: Model) -> str:
        """The fingerprint of what shapes an output: a resume keeps only those made alike."""
        ...

    def job(self, file: CorpusFile, target: FileTarget) -> DocumentJob[IndexEntry]:
        """The work of ``file``: it writes its output and returns its index entry."""
        ...

    def outputs(self, report: str) -> tuple[str, ...]:
        """The files (relative to the output folder) that a file done before must still have,
        ``report`` being the one its index entry names."""
        ...


def failed_entry(file: str, target: FileTarget, error: str | None) -> IndexEntry:
    """The ``failed`` entry of ``file``, with its ``error``."""
    return IndexEntry(
        file=file, status="failed", sha256=target.digest, settings=target.settings, error=error
    )
