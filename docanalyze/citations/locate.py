"""Finding a quote in a document's pages, after normalizing both (see :mod:`.normalize`).

The rules of :func:`locate`:

1. The quote and the pages are normalized alike; the quote's outer quote marks, brackets and
   end punctuation are dropped. The quote is then searched as a plain substring of the whole
   document, so a quote that runs across a page break is found on both pages.
2. A quote with an ellipsis (``...``, ``…``, ``……``, ``[...]``) is cut there; its parts must be
   found in order, all on one page or on two consecutive pages.
3. The cited pages are searched first; a match that touches one of them wins. Otherwise the
   first match in the document is taken.
4. A quote that is too short to prove anything (fewer than :data:`MIN_QUOTE_CHARS` normalized
   characters without the ellipses, unless it has at least :data:`MIN_CJK_QUOTE_CHARS` CJK
   characters) is found only on a cited page: found anywhere else, it could be chance.

:class:`PageIndex` normalizes a document once, so that checking hundreds of quotes against a long
document costs one normalization and one ``str.find`` per quote.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from docanalyze.citations.normalize import Normalized, normalize_for_matching
from docanalyze.document import PAGE_SEPARATOR, Page
from docanalyze.text.tokens import count_cjk

__all__ = [
    "MIN_CJK_QUOTE_CHARS",
    "MIN_QUOTE_CHARS",
    "QUOTE_EDGES",
    "Location",
    "PageIndex",
    "is_too_short",
    "locate",
    "quote_parts",
]

MIN_QUOTE_CHARS = 12
"""A quote with fewer normalized characters (ellipses left out) is too short to prove anything..."""
MIN_CJK_QUOTE_CHARS = 4
"""...unless it has at least this many CJK characters (a CJK character carries about a word)."""

_ELLIPSIS = re.compile(r"\s*[\[(]?\s*\.{3,}\s*[\])]?\s*")
QUOTE_EDGES = " \"'.,;:!?()[]"
"""What is trimmed off a quote or a claim before matching: spaces, quote marks, punctuation."""


@dataclass(frozen=True)
class Location:
    """Where a quote was found: the numbers of the pages it is on, in order, and its span
    ``start``:``end`` in the pages' texts joined by :data:`~docanalyze.document.PAGE_SEPARATOR`
    (:attr:`Document.text <docanalyze.document.Document.text>`, with the
    :attr:`~docanalyze.document.Page.checked_text` of a page image), whose text is ``text``."""

    pages: tuple[int, ...]
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class PageIndex:
    """A document's pages normalized once for :func:`locate` (each page's
    :attr:`~docanalyze.document.Page.checked_text`)."""

    pages: tuple[Page, ...]
    original: str
    normalized: Normalized
    page_starts: tuple[int, ...]
    """Where each page (by position in :attr:`pages`) begins in the normalized text."""

    @classmethod
    def of(cls, pages: Sequence[Page]) -> PageIndex:
        """The index of ``pages`` (a document's pages, in order)."""
        original = PAGE_SEPARATOR.join(page.checked_text for page in pages)
        normalized = normalize_for_matching(original)
        starts, offset = [], 0
        for page in pages:
            starts.append(normalized.offset(offset))
            offset += len(page.checked_text) + len(PAGE_SEPARATOR)
        return cls(tuple(pages), original, normalized, tuple(starts))

    @property
    def text(self) -> str:
        """The normalized text of all pages."""
        return self.normalized.text

    def position_at(self, offset: int) -> int:
        """The position in :attr:`pages` of the page holding normalized character ``offset``."""
        return max(bisect.bisect_right(self.page_starts, offset) - 1, 0)

    def bounds(self, first: int, last: int) -> tuple[int, int]:
        """The normalized span of the pages at positions ``first`` to ``last`` (clipped)."""
        first, last = max(first, 0), min(last, len(self.pages) - 1)
        end = self.page_starts[last + 1] if last + 1 < len(self.pages) else len(self.text)
        return self.page_starts[first], end

    def positions_of(self, numbers: Iterable[int]) -> list[int]:
        """The positions in :attr:`pages` of the pages numbered ``numbers`` that exist."""
        wanted = set(numbers)
        return [position for position, page in enumerate(self.pages) if page.number in wanted]

    def location(self, start: int, end: int) -> Location:
        """The :class:`Location` of the normalized span ``start``:``end``."""
        first, last = self.position_at(start), self.position_at(end - 1)
        original_start, original_end = self.normalized.span(start, end)
        return Location(
            pages=tuple(page.number for page in self.pages[first : last + 1]),
            start=original_start,
            end=original_end,
            text=self.original[original_start:original_end],
        )


def quote_parts(quote: str) -> list[str]:
    """The normalized pieces of ``quote`` between its ellipses, without their outer punctuation."""
    text = normalize_for_matching(quote).text
    parts = (part.strip(QUOTE_EDGES) for part in _ELLIPSIS.split(text))
    return [part for part in parts if part]


def is_too_short(parts: Sequence[str]) -> bool:
    """Whether the quote of ``parts`` (from :func:`quote_parts`) is too short to prove anything
    away from its cited page (rule 4 of the module docstring)."""
    joined = "".join(parts)
    return len(joined) < MIN_QUOTE_CHARS and count_cjk(joined) < MIN_CJK_QUOTE_CHARS


def locate(
    quote: str,
    pages: PageIndex | Sequence[Page],
    cited: Iterable[int] = (),
    near: Iterable[int] = (),
) -> Location | None:
    """Where ``quote`` is in ``pages``, preferring the ``cited`` page numbers, then the pages
    ``near`` (those the model was shown: a quote said twice in a document is the one it read);
    None if it is not there, or is too short to be found away from its cited pages (see the
    module docstring).

    Pass a :class:`PageIndex` to check many quotes against one document.
    """
    index = pages if isinstance(pages, PageIndex) else PageIndex.of(pages)
    parts = quote_parts(quote)
    if not parts or not index.pages:
        return None
    for position in index.positions_of(cited):
        span = _find_touching(index, parts, position)
        if span is not None:
            return index.location(*span)
    if is_too_short(parts):
        return None
    for position in index.positions_of(near):
        span = _find_touching(index, parts, position)
        if span is not None:
            return index.location(*span)
    span = _find_anywhere(index, parts)
    return None if span is None else index.location(*span)


def _find_touching(index: PageIndex, parts: list[str], position: int) -> tuple[int, int] | None:
    """A normalized span of the quote that touches the page at ``position``."""
    if len(parts) == 1:
        part = parts[0]
        page_start, page_end = index.bounds(position, position)
        start = index.text.find(part, max(page_start - len(part) + 1, 0), page_end + len(part) - 1)
        return None if start < 0 else (start, start + len(part))
    for first in (position - 1, position):
        for span in _matches(index, parts, first):
            if index.position_at(span[0]) <= position <= index.position_at(span[1] - 1):
                return span
    return None


def _find_anywhere(index: PageIndex, parts: list[str]) -> tuple[int, int] | None:
    if len(parts) == 1:
        start = index.text.find(parts[0])
        return None if start < 0 else (start, start + len(parts[0]))
    start = index.text.find(parts[0])
    while start >= 0:
        position = index.position_at(start)
        span = next(_matches(index, parts, position), None)
        if span is not None and index.position_at(span[0]) == position:
            return span
        start = index.text.find(parts[0], index.bounds(position, position)[1])
    return None


def _matches(index: PageIndex, parts: list[str], first: int) -> Iterator[tuple[int, int]]:
    """The spans, each as short as can be, of ``parts`` in order on pages ``first`` and
    ``first + 1``, one for each place the first part is found."""
    if first < 0 or first >= len(index.pages):
        return
    pattern = re.compile("(?s:.*?)".join(re.escape(part) for part in parts))
    start, end = index.bounds(first, first + 1)
    match = pattern.search(index.text, start, end)
    while match:
        yield match.span()
        match = pattern.search(index.text, match.start() + 1, end)
