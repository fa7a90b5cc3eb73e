"""How a report cites pages: ``(p. 3)``, ``(pp. 3–4)``, ``(p. 3, 5)``, ``(a.pdf, p. 3)``, also in
fullwidth parentheses and commas (``（p. 3）``, ``（pp. 3，5）``): the one pattern, read and written.

A document without pages (Word, HTML) is cited by its sections, numbered as pages are, with the
section's heading after a single one: ``(§ 2: Payment terms)``, ``(§§ 2–3)``
(:mod:`~docanalyze.citations.sections` writes them); the pattern reads them as pages."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "CITATION",
    "PAGE_LIST",
    "format_citation",
    "format_pages",
    "format_sections",
    "parse_pages",
]

PAGE_LIST = r"\d+(?:\s*[–—-]\s*\d+)?(?:\s*[,，]\s*\d+(?:\s*[–—-]\s*\d+)?)*"
"""Page numbers and ranges, separated by commas: ``3``, ``3–4``, ``3, 5–7``."""

CITATION = re.compile(
    r"[(（]\s*(?:(?P<document>[^()（）\n,，]*[^()（）\n,，\s])\s*[,，]\s*)?"
    rf"(?P<cite>(?:pp?\.|§§?)\s*(?P<pages>{PAGE_LIST})"
    r"(?::\s*(?P<heading>[^()（）\n]*[^()（）\n\s]))?)\s*[)）]"
)
"""A page (or section) citation. Groups: ``document`` (the document it names, if any), ``cite``
(``p. 3``, or ``§ 2: Payment terms`` for a section), ``pages`` (``3``; a section's number) and
``heading`` (``Payment terms``)."""

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
    label = "p." if len(set(pages)) == 1 else "pp."
    return f"{label} {_runs(pages)}"


def format_sections(sections: tuple[int, ...], labels: Mapping[int, str]) -> str:
    """``§ 2: Payment terms`` (one section, with its label) or ``§§ 2–3, 5`` (several)."""
    if len(set(sections)) > 1:
        return f"§§ {_runs(sections)}"
    label = labels.get(sections[0], "")
    return f"§ {sections[0]}: {label}" if label else f"§ {sections[0]}"


def _runs(numbers: tuple[int, ...]) -> str:
    """``3``, ``3–4`` or ``3, 5–7``: the numbers, in order, with runs written as ranges."""
    ordered = sorted(set(numbers))
    runs: list[str] = []
    start = 0
    for end in range(1, len(ordered) + 1):
        if end == len(ordered) or ordered[end] != ordered[end - 1] + 1:
            first, last = ordered[start], ordered[end - 1]
            runs.append(str(first) if first == last else f"{first}–{last}")
            start = end
    return ", ".join(runs)


def format_citation(
    pages: tuple[int, ...], document: str | None = None, *, fullwidth: bool = False
) -> str:
    """A citation of ``pages`` (see :func:`format_pages`), naming ``document`` if given, in
    fullwidth parentheses if ``fullwidth``: ``(p. 3)``, ``(a.pdf, pp. 3–4)``, ``（p. 3）``."""
    opening, closing = ("（", "）") if fullwidth else ("(", ")")
    named = f"{document}, " if document else ""
    return f"{opening}{named}{format_pages(pages)}{closing}"
