"""Turning what a caller passes (a path, "-", raw text or a Document) into a Document."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from docanalyze.document import Document
from docanalyze.errors import InputError
from docanalyze.ingest import document_from_text, load_document
from docanalyze.ingest.html import HTML_SUFFIXES

__all__ = ["DOCUMENT_SUFFIXES", "Source", "resolve_document"]

Source = Union[str, "os.PathLike[str]", Document]

DOCUMENT_SUFFIXES = (".pdf", ".docx", *HTML_SUFFIXES, ".txt", ".md", ".markdown", ".text")
"""The file endings docanalyze reads (a folder run picks up these files)."""


def resolve_document(source: Source, *, password: str | None = None) -> Document:
    """Load ``source``: a Document as is; a path or "-" from disk or stdin; other text as text.

    A string is a path when it names an existing file, or looks like one (no line break and a
    document suffix or a path separator), so that a mistyped file name is an error, not text.
    """
    if isinstance(source, Document):
        return source
    if isinstance(source, os.PathLike):
        return load_document(source, password=password)
    if source == "-" or _looks_like_path(source):
        return load_document(source, password=password)
    if not source.strip():
        raise InputError("the text to analyze is empty")
    return document_from_text(source)


def _looks_like_path(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        if Path(text).exists():
            return True
    except OSError:  # e.g. a long line of text is not a valid file name
        return False
    return text.lower().endswith(DOCUMENT_SUFFIXES) or os.sep in text
