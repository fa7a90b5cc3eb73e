"""The citations of a document without pages, written as its sections.

docanalyze numbers a Word or HTML document's sections as pages (see
:mod:`docanalyze.ingest.sections`), so models, the offline analyzer and the checks of quotes cite
them as pages; a report's citations of such a document are then rewritten to name the sections:
``(p. 2)`` becomes ``(§ 2: Payment terms)``, ``(pp. 2–3)`` becomes ``(§§ 2–3)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from docanalyze.citations.pages import CITATION, format_sections, parse_pages
from docanalyze.document import Document

__all__ = ["cite_named_sections", "cite_sections", "section_labels"]


def section_labels(document: Document) -> dict[int, str]:
    """Each section's number and label, for a document of sections; empty for one of pages."""
    return {page.number: page.label for page in document.pages if page.label is not None}


def cite_sections(text: str, document: Document, name: str | None = None) -> str:
    """``text`` with its page citations of ``document`` written as section citations.

    Only citations naming ``name`` (None: citations naming no document) are rewritten; ``text``
    is returned as is when ``document`` has pages rather than sections.
    """
    labels = section_labels(document)
    if not labels:
        return text

    def rewrite(match: re.Match[str]) -> str:
        if match["cite"].startswith("§") or match["document"] != name:
            return match.group()
        sections = parse_pages(match["pages"])
        if not sections:
            return match.group()
        start, end = match.span("cite")
        whole = match.group()
        offset = match.start()
        cited = format_sections(sections, labels)
        return whole[: start - offset] + cited + whole[end - offset :]

    return CITATION.sub(rewrite, text)


def cite_named_sections(text: str, documents: Mapping[str, Document]) -> str:
    """``text`` with the citations naming each document of ``documents`` (by its name) written
    as section citations, for those documents that have sections."""
    for name, document in documents.items():
        text = cite_sections(text, document, name)
    return text
