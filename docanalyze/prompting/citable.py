"""What a request lets the model cite, and what it costs: the pages of a map span, or the points
of the partial results a reduce or final request works from.

A backend whose features declare ``citations`` sends :attr:`ModelRequest.citable` beside the
prompt (Claude: as citable content), so the prompt does not repeat it; its tokens are input all
the same, and every estimate of a request's input (the window check, plans, dry runs,
``--max-cost``) counts them through :func:`citable_tokens`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from docanalyze.citations.pages import format_pages
from docanalyze.document import Document, Partial, Point
from docanalyze.models.base import CitableText, citable_tokens

__all__ = [
    "citable_tokens",
    "describe_citable",
    "page_citables",
    "point_citable",
    "point_citables",
]


def page_citables(document: Document, start: int, end: int) -> tuple[CitableText, ...]:
    """One citable text per page of ``document.text[start:end]``: the span's slice of the page,
    titled ``Page N``, or ``Page N (section: Payment terms)`` for a section of a Word or HTML
    document (cited as pages, then written as sections in the report); a page image read as PDF
    input, whole, with its PDF."""
    citable: list[CitableText] = []
    for page, page_start in zip(document.pages, document.page_starts):
        page_end = page_start + len(page.text)
        if page_end <= start or page_start >= end:
            continue
        piece = document.text[max(start, page_start) : min(end, page_end)].strip()
        if piece:
            title = f"Page {page.number}"
            if page.label is not None:
                title += f" (section: {page.label})"
            citable.append(CitableText(piece, title, (page.number,), "page", page.scan))
    return tuple(citable)


def point_citable(point: Point) -> CitableText:
    """``point`` as citable text, titled by its pages (``p. 3``, ``a.pdf, p. 3``): its claim,
    then, when it rests on one quote, that quote (the page's own words). The quotes of a
    point that merged several stay with docanalyze, which carries them to the report: sent,
    they would add up level after level, and a reduce could never shrink its material."""
    quotes = point.quotes if len(point.quotes) == 1 else ()
    text = "\n".join([point.claim, *(f"“{quote}”" for quote in quotes)])
    title = format_pages(point.pages) if point.pages else "no page"
    if point.document:
        title = f"{point.document}, {title}"
    return CitableText(text, title, point.pages, "point")


def point_citables(partials: Iterable[Partial]) -> tuple[CitableText, ...]:
    """Every point of ``partials``, in order, as citable text."""
    return tuple(point_citable(point) for partial in partials for point in partial.points)


def describe_citable(citable: Sequence[CitableText], tokens: int) -> str:
    """A short line for a dry run: ``3 pages (Page 1, Page 2, Page 3), ~1,234 tokens``."""
    if not citable:
        return ""
    kind = "page" if citable[0].kind == "page" else "point"
    titles = [item.title for item in citable]
    shown = ", ".join(titles[:4]) + (", …" if len(titles) > 4 else "")
    noun = kind if len(citable) == 1 else f"{kind}s"
    return f"{len(citable)} {noun} ({shown}) sent as citable content, ~{tokens:,} tokens (in the estimate above)"
