"""Word and HTML files into Documents whose pages are their sections.

Both are read as Markdown (:mod:`~docanalyze.ingest.word`, :mod:`~docanalyze.ingest.html`), so
headings, lists and tables reach the model as Markdown, and cut into sections
(:mod:`~docanalyze.ingest.sections`): page ``N`` of such a Document is its ``N``-th section, and
:attr:`~docanalyze.document.Page.label` names it.
"""

from __future__ import annotations

import re

from docanalyze.document import Document, Page
from docanalyze.errors import InputError
from docanalyze.ingest.normalize import normalize_page_text
from docanalyze.ingest.text import decode_text

__all__ = ["markup_document", "sectioned_document"]

_WORD = re.compile(r"\w")


def markup_document(data: bytes, source: str, name: str) -> Document | None:
    """The Word or HTML document in ``data``, or None when it is neither.

    Raises :class:`InputError` when it is one but unreadable or without text.
    """
    from docanalyze.ingest.html import html_to_markdown, looks_like_html
    from docanalyze.ingest.word import docx_to_markdown, is_docx

    if is_docx(data):
        kind, markdown = "Word file", docx_to_markdown(data, name)
    elif looks_like_html(data, source):
        kind, markdown = "HTML page", html_to_markdown(decode_text(data, name))
    else:
        return None
    return sectioned_document(markdown, source, f"{name} is a {kind} with no text")


def sectioned_document(markdown: str, source: str, no_text: str) -> Document:
    """A Document of ``markdown``'s sections; raises :class:`InputError` ``no_text`` if it has
    no text."""
    from docanalyze.ingest.sections import markdown_sections

    pages: list[Page] = []
    for section in markdown_sections(markdown):
        text = normalize_page_text(section.text)
        if _WORD.search(text):  # not an empty table, say
            pages.append(Page(number=len(pages) + 1, text=text, label=section.label))
    if not pages:
        raise InputError(f"{no_text}: give a document with text in it")
    return Document(source=source, pages=tuple(pages))
