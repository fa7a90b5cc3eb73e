"""Documents, their pages, and the chunks cut from them."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import cached_property

__all__ = [
    "PAGE_MARKER_RE",
    "PAGE_SEPARATOR",
    "BoilerplateCount",
    "Chunk",
    "Document",
    "Page",
    "Partial",
    "Point",
    "page_marker",
]

PAGE_SEPARATOR = "\n\n"
"""Joins the pages' texts into :attr:`Document.text`."""

PAGE_MARKER_RE = re.compile(r"^\[Page (\d+)\]$", re.MULTILINE)
"""Matches the line :func:`page_marker` writes where a page begins inside a prompt's text."""


def page_marker(number: int) -> str:
    """The line that marks the start of page ``number`` in text sent to a model."""
    return f"[Page {number}]"


@dataclass(frozen=True)
class Page:
    """One page of a document: its 1-based number and its normalized text.

    A document without pages (Word, HTML) has sections instead, numbered in order as pages
    are; ``label`` is then the section's heading (or ``¶ 3–7``, its paragraphs), and its
    citations name it (see :mod:`docanalyze.citations.sections`).
    ``scan``: for a page image without a usable text layer, a PDF of just that page, read as an
    image before the run (:func:`docanalyze.ingest.ocr.read_scanned_pages`). ``read_text``: for
    a page image sent to the model as PDF input, docanalyze's own reading of it (OCR), used only
    to check citations against; None when it was not read.
    """

    number: int
    text: str
    label: str | None = None
    scan: bytes | None = field(default=None, repr=False)
    read_text: str | None = field(default=None, repr=False)

    @property
    def scanned(self) -> bool:
        """Whether the page is a page image still to be read (it has a ``scan``)."""
        return self.scan is not None

    @property
    def checked_text(self) -> str:
        """The text citations of the page are checked against: :attr:`read_text`, else
        :attr:`text`."""
        return self.text if self.read_text is None else self.read_text

    @property
    def unreadable(self) -> bool:
        """Whether the page is a page image docanalyze could not read (no OCR): its citations
        cannot be checked."""
        return self.scan is not None and self.read_text is None


@dataclass(frozen=True)
class BoilerplateCount:
    """How many lines of each kind were taken out of a document."""

    headers: int = 0
    footers: int = 0
    page_numbers: int = 0
    dot_leaders: int = 0

    def __add__(self, other: BoilerplateCount) -> BoilerplateCount:
        return BoilerplateCount(
            self.headers + other.headers,
            self.footers + other.footers,
            self.page_numbers + other.page_numbers,
            self.dot_leaders + other.dot_leaders,
        )

    @property
    def total(self) -> int:
        """All lines removed."""
        return self.headers + self.footers + self.page_numbers + self.dot_leaders


@dataclass(frozen=True)
class Document:
    """A loaded document: where it came from and its pages, in order.

    ``boilerplate`` counts the lines taken out of its pages before chunking
    (:mod:`docanalyze.ingest.boilerplate`); None when they were not looked for.
    """

    source: str
    pages: tuple[Page, ...]
    boilerplate: BoilerplateCount | None = None

    @cached_property
    def text(self) -> str:
        """All pages' texts joined by :data:`PAGE_SEPARATOR`."""
        return PAGE_SEPARATOR.join(page.text for page in self.pages)

    @cached_property
    def page_starts(self) -> tuple[int, ...]:
        """Offset in :attr:`text` where each page begins."""
        starts: list[int] = []
        offset = 0
        for page in self.pages:
            starts.append(offset)
            offset += len(page.text) + len(PAGE_SEPARATOR)
        return tuple(starts)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def page_at(self, offset: int) -> int:
        """The number of the page that holds character ``offset`` of :attr:`text`."""
        position = bisect.bisect_right(self.page_starts, offset) - 1
        return self.pages[max(position, 0)].number

    def marked_text(self, start: int, end: int) -> str:
        """``text[start:end]`` with a :func:`page_marker` line where each page begins.

        The first line always names the page the span starts on, so a model (or the extractive
        backend) can cite pages for every sentence.
        """
        first = bisect.bisect_right(self.page_starts, start) - 1
        parts: list[str] = []
        for position in range(max(first, 0), len(self.pages)):
            page_start = self.page_starts[position]
            if page_start >= end:
                break
            page_end = page_start + len(self.pages[position].text)
            piece = self.text[max(start, page_start) : min(end, page_end)].strip()
            if piece:
                parts.append(f"{page_marker(self.pages[position].number)}\n{piece}")
        return "\n\n".join(parts)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document's text, with its place in the document.

    ``index`` is 0-based; ``start``/``end`` are offsets into :attr:`Document.text`;
    ``first_page``/``last_page`` are the page numbers the chunk spans, computed from the offsets.
    """

    index: int
    total: int
    start: int
    end: int
    first_page: int
    last_page: int
    text: str


@dataclass(frozen=True)
class Point:
    """One claim of a partial result, the pages it stands on and the quotes of the document
    that back it (none: nothing backs it, so a report claim resting on it is unsupported).

    ``document`` names the document the pages are of, in a report of several documents.
    """

    claim: str
    pages: tuple[int, ...]
    quotes: tuple[str, ...] = ()
    document: str | None = None


@dataclass(frozen=True)
class Partial:
    """An intermediate result (a chunk's extraction or a reduce step's merge) and its page span.

    ``points`` are its claims with their pages and quotes, which travel to the report so that
    every citation in it can be checked against the page text.
    """

    text: str
    first_page: int
    last_page: int
    points: tuple[Point, ...] = ()
