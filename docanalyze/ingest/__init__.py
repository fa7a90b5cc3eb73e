"""Loading documents: PDF, Word, HTML, text and Markdown files, or standard input, into a
:class:`Document`.

The format is decided by content first: bytes that start with ``%PDF-`` are a PDF, a ZIP archive
holding ``word/document.xml`` is a Word file, a ``.html``/``.htm`` file or one that starts with
``<!DOCTYPE html`` or ``<html`` is an HTML page (:mod:`docanalyze.ingest.markup`), anything else
must decode as text. Every page's text is normalized with
:func:`~docanalyze.ingest.normalize.normalize_page_text`. Problems the user can fix raise
:class:`~docanalyze.errors.InputError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from docanalyze.document import Document, Page
from docanalyze.errors import InputError
from docanalyze.ingest.markup import markup_document
from docanalyze.ingest.normalize import normalize_page_text
from docanalyze.ingest.text import SUPPORTED_FORMATS, decode_text, split_text_pages

__all__ = ["STDIN", "document_from_text", "load_document", "normalize_page_text"]

STDIN = "-"
"""The source name that means: read the document from standard input."""

_STDIN_NAME = "<stdin>"
_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024
"""PDF readers accept up to this many bytes of junk before the ``%PDF-`` header."""


def load_document(source: str | os.PathLike[str], *, password: str | None = None) -> Document:
    """Read a PDF, Word, HTML, text or Markdown file (or standard input, for ``"-"``) into a Document.

    ``password`` opens an encrypted PDF. Pages are numbered from 1; a text file is split into
    pages at form feeds, a Word or HTML file into sections. Raises :class:`InputError` when the file is missing, unreadable, empty,
    not a document, broken, encrypted without the right password, or has no text.
    """
    given = os.fspath(source)
    if given == STDIN:
        return document_from_bytes(sys.stdin.buffer.read(), _STDIN_NAME, password=password)
    data = _read_file(Path(given), _display_name(given))
    return document_from_bytes(data, given, password=password)


def document_from_text(text: str, source: str = "<text>") -> Document:
    """A Document from text already in memory; form feeds separate pages."""
    pages = [normalize_page_text(page) for page in split_text_pages(text)]
    return Document(source=source, pages=_numbered(pages))


def document_from_bytes(data: bytes, source: str, *, password: str | None = None) -> Document:
    """A Document from a file's bytes; ``source`` is kept as its name and used in errors."""
    name = _display_name(source)
    if not data:
        raise InputError(f"{name} is empty: give a {SUPPORTED_FORMATS} file with text in it")
    if _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW]:
        return _pdf_document(data, source, name, password)
    markup = markup_document(data, source, name)
    if markup is not None:
        return markup
    if source.lower().endswith(".pdf"):
        raise InputError(
            f"{name} is not a readable PDF (it has no PDF header): re-export or repair it"
        )
    document = document_from_text(decode_text(data, name), source)
    if not any(page.text for page in document.pages):
        raise InputError(f"{name} has only blank space: give a file with text in it")
    return document


def _pdf_document(data: bytes, source: str, name: str, password: str | None) -> Document:
    from docanalyze.ingest.pdf import extract_pdf_pages  # the PDF libraries load for PDFs only

    pages = [
        Page(number, normalize_page_text(page.text), scan=page.scan)
        for number, page in enumerate(extract_pdf_pages(data, name, password), start=1)
    ]
    if not pages:
        raise InputError(f"{name} is a PDF with no pages: re-export it")
    if not any(page.text or page.scanned for page in pages):
        raise InputError(
            f"{name}: no extractable text on any of its {len(pages)} pages, and no page "
            "image large enough to hold text: give a PDF with text in it"
        )
    return Document(source=source, pages=tuple(pages))


def _read_file(path: Path, name: str) -> bytes:
    if path.is_dir():
        raise InputError(f"{name} is a directory: give a {SUPPORTED_FORMATS} file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name} does not exist: check the path") from None
    except PermissionError:
        raise InputError(
            f"{name} cannot be read: permission denied; check its permissions"
        ) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{name} cannot be read: {reason}") from None


def _numbered(texts: list[str]) -> tuple[Page, ...]:
    return tuple(Page(number=number, text=text) for number, text in enumerate(texts, start=1))


def _display_name(source: str) -> str:
    """The source as given, with line breaks escaped so that messages stay on one line."""
    return source.replace("\r", "\\r").replace("\n", "\\n")
