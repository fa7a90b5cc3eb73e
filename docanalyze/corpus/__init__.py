"""Folders of files: one report per document, an index, resumable runs."""

from docanalyze.corpus.runner import (
    REPORT_SUFFIXES,
    CorpusSummary,
    FileDone,
    FileHandler,
    analyze_corpus,
    analyze_corpus_async,
)

__all__ = [
    "REPORT_SUFFIXES",
    "CorpusSummary",
    "FileDone",
    "FileHandler",
    "analyze_corpus",
    "analyze_corpus_async",
]
