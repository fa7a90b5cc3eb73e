"""How a report cites pages: ``(p. 3)``, ``(pp. 3–4)``, ``(p. 3, 5)``, ``(a.pdf, p. 3)``, also in
fullwidth parentheses and commas (``（p. 3）``, ``（pp. 3，5）``): the one pattern, read and written."""

from __future__ import annotations

import re

__all__ = ["CITATION", "PAGE_LIST", "format_citation", "format_pages", "parse_pages"]

PAGE_LIST = r"\d+(?:\s*[–—-]\s*\d+)?(?:\s*[,，]\s*\d+(?:\s*[–—-]\s*\d+)?)*"
"""Page numbers and ranges, separated by commas: ``3``, ``3–4``, ``3, 5–7``."""

CITATION = re.compile(
    r"[(（]\s*(?:(?P<document>[^()（）\n,，]*[^()（）\n,，\s])\s*[,，]\s*)?"
    rf"(?P<cite>pp?\.\s*(?P<pages>{PAGE_LIST}))\s*[)）]"
)
"""A page citation. Groups: ``document`` (the document it names, if any), ``cite`` (``p. 3``),
``pages`` (``3``)."""

MAX_RANGE_SPAN = 10_000
"""A range wider than this (a typo, or not a page range) counts as its two ends only."""


def parse_pages(page_list: str) -> tuple[int, ...]:
    """The page numbers of a :data:`PAGE_LIST`, in order, each once: ``"3–5, 8"`` gives
    ``(3, 4, 5, 8)``."""
    pages: set[int] = set()
    for item in re.split(r"\s*[,，]\s*", page_list.strip()):
        bounds = [int(bound) for bound in re.split(r"\s*[–—-]\s*", item) if bound]
        if not bounds:
            continue
        low, high = min(bounds), max(bounds)
        pages.update((low, high) if high - low > MAX_RANGE_SPAN else range(low, high + 1))
    return tuple(sorted(pages))


def format_pages(pages: tuple[int, ...]) -> str:
    """``p. 3``, ``pp. 3–4`` or ``pp. 3, 5–7``: the pages, with runs written as ranges."""
    numbers = sorted(set(pages))
    runs: list[str] = []
    start = 0
    for end in range(1, len(numbers) + 1):
        if end == len(numbers) or numbers[end] != numbers[end - 1] + 1:
            first, last = numbers[start], numbers[end - 1]
            runs.append(str(first) if first == last else f"{first}–{last}")
            start = end
    label = "p." if len(numbers) == 1 else "pp."
    return f"{label} {', '.join(runs)}"


def format_citation(
    pages: tuple[int, ...], document: str | None = None, *, fullwidth: bool = False
) -> str:
    """A citation of ``pages`` (see :func:`format_pages`), naming ``document`` if given, in
    fullwidth parentheses if ``fullwidth``: ``(p. 3)``, ``(a.pdf, pp. 3–4)``, ``（p. 3）``."""
    opening, closing = ("（", "）") if fullwidth else ("(", ")")
    named = f"{document}, " if document else ""
    return f"{opening}{named}{format_pages(pages)}{closing}"
