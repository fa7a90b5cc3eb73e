"""A reply read as grounded statements: each with the pages it cites and the quotes behind it.

A reply of a backend that cites comes in blocks (:attr:`ModelReply.blocks`); a statement (a
sentence, see :func:`~docanalyze.citations.markdown.find_statements`) rests on the citations
of the blocks it overlaps. A citation of a page (a map request) brings its ``cited_text``, the
page's own words; a citation of a point (reduce and final requests) brings that point's quotes,
which trace back to the pages, never the point's text. A cited statement that does not write
its page citation gets one written after it, so the report keeps its ``(p. N)``.

A reply without blocks (a backend without Citations) was asked to end every statement with
its verbatim quote in double quotes before its citation: ``claim: "quote" (p. 3).``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from docanalyze.citations.markdown import Claim, find_statements
from docanalyze.citations.pages import CITATION, format_citation, format_pages
from docanalyze.document import Point
from docanalyze.models.base import CitableText, ModelReply, ReplyBlock, ReplyCitation

__all__ = [
    "Grounded",
    "ground_blocks",
    "ground_reply",
    "ground_written",
    "points_text",
    "split_points",
    "written_points",
]

_QUOTED = r"[\"“„「『][^\"“”„「」『』\n]+[\"”」』]"
_TRAILING_QUOTES = re.compile(rf"(?:\s*[:：,，]?\s*{_QUOTED}[,，;；]?)+\s*$")
_QUOTE = re.compile(_QUOTED)
_CLAIM_EDGES = " \t:：,，-–—"
_MARKUP = re.compile(r"^[*_`]+|[*_`]+$")


@dataclass(frozen=True)
class Grounded:
    """A reply's text (with a page citation after every cited statement that wrote none),
    each statement's quotes keyed by its text, and the statements as points."""

    text: str
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)
    points: tuple[Point, ...] = ()


def ground_reply(
    reply: ModelReply, citable: Sequence[CitableText], origins: Sequence[Point] = ()
) -> Grounded:
    """The statements of ``reply`` to a request that sent ``citable``; ``origins`` are the
    points the citable texts stand for (reduce and final requests), none for pages.

    Without blocks, the quotes are those the reply wrote (see the module docstring).
    """
    if not reply.blocks:
        return ground_written(reply.text)
    return ground_blocks(reply.blocks, citable, origins)


def ground_blocks(
    blocks: Sequence[ReplyBlock], citable: Sequence[CitableText], origins: Sequence[Point] = ()
) -> Grounded:
    """The statements of the text of ``blocks`` (a reply's, or a part of it cut at line ends),
    each resting on the citations of the blocks it overlaps (see :func:`ground_reply`)."""
    text, spans = _block_spans(blocks)
    line_starts = _line_starts(text)
    evidence: dict[str, tuple[str, ...]] = {}
    points: list[tuple[int, bool, Point]] = []
    insertions: list[tuple[int, str]] = []
    for statement in find_statements(text):
        start = line_starts[statement.line] + statement.start
        end = line_starts[statement.line] + statement.end
        sources = [
            citation
            for block_start, block_end, block in spans
            if block_start < end and block_end > start
            for citation in block.citations
            if 0 <= citation.source < len(citable)
        ]
        pages, quotes, document = _cited(sources, citable, origins)
        if sources and not statement.citations:
            insertions.append((end, " " + format_citation(pages, document)))
        claim = _claim_text(statement)
        evidence[statement.text] = quotes
        point = Point(claim, pages or statement.pages, quotes, document)
        points.append((statement.line, bool(statement.citations), point))
    for offset, citation_text in sorted(insertions, reverse=True):
        text = text[:offset] + citation_text + text[offset:]
    return Grounded(text, evidence, _bullet_points(points))


def points_text(points: Sequence[Point]) -> str:
    """``points`` as a bullet list, each with its page citation: a partial result's text."""
    return "\n".join(
        f"- {point.claim} ({point.document + ', ' if point.document else ''}"
        f"{format_pages(point.pages)})"
        if point.pages
        else f"- {point.claim}"
        for point in points
    )


def split_points(points: Sequence[Point]) -> tuple[tuple[Point, ...], tuple[Point, ...]] | None:
    """``points`` in two halves, in order (None for fewer than two)."""
    if len(points) < 2:
        return None
    middle = len(points) // 2
    return tuple(points[:middle]), tuple(points[middle:])


def written_points(text: str) -> tuple[Point, ...]:
    """The points of a text written without citable content: each statement with the pages
    it cites and the quotes it wrote (see the module docstring)."""
    return ground_written(text).points


def ground_written(text: str) -> Grounded:
    """The statements of ``text``, a reply without blocks: each with the quotes it writes
    before its citation."""
    evidence: dict[str, tuple[str, ...]] = {}
    points: list[tuple[int, bool, Point]] = []
    for statement in find_statements(text):
        plain = statement.statement.rstrip(" .。")
        trailing = _TRAILING_QUOTES.search(plain)
        quotes: tuple[str, ...] = ()
        if trailing is not None:
            quotes = tuple(
                match.group()[1:-1].strip() for match in _QUOTE.finditer(trailing.group())
            )
            plain = plain[: trailing.start()]
        evidence[statement.text] = quotes
        point = Point(_clean_claim(plain), statement.pages, quotes, statement.document)
        points.append((statement.line, bool(statement.citations), point))
    return Grounded(text, evidence, _bullet_points(points))


def _bullet_points(statements: Sequence[tuple[int, bool, Point]]) -> tuple[Point, ...]:
    """The points of the statements (each with its line, and whether it writes a citation):
    one each, but sentences that write no citation are one point with the next sentence of
    their line (``Risk: X. | Impact: Y (p. 7)``: the citation that ends a bullet covers it),
    so a partial result keeps the reply's bullets whole."""
    points: list[Point] = []
    waiting: list[Point] = []
    for number, (line, cited, point) in enumerate(statements):
        next_line = statements[number + 1][0] if number + 1 < len(statements) else None
        if not cited and next_line == line:
            waiting.append(point)
            continue
        if waiting:
            point = _joined([*waiting, point])
            waiting = []
        points.append(point)
    return tuple(points)


def _joined(parts: Sequence[Point]) -> Point:
    """One point of ``parts``, the last of which writes its citation."""
    pages = sorted({page for part in parts for page in part.pages})
    quotes = dict.fromkeys(quote for part in parts for quote in part.quotes)
    claim = " ".join(part.claim for part in parts)
    return Point(claim, tuple(pages), tuple(quotes), parts[-1].document)


def _block_spans(blocks: Sequence[ReplyBlock]) -> tuple[str, list[tuple[int, int, ReplyBlock]]]:
    spans, offset = [], 0
    for block in blocks:
        spans.append((offset, offset + len(block.text), block))
        offset += len(block.text)
    return "".join(block.text for block in blocks), spans


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def _cited(
    sources: list[ReplyCitation], citable: Sequence[CitableText], origins: Sequence[Point]
) -> tuple[tuple[int, ...], tuple[str, ...], str | None]:
    """The pages, quotes and document of what ``sources`` cite. A cited point without quotes
    leaves the statement without evidence (part of it rests on nothing); a report citation
    names one document, so points of another document than the first add nothing."""
    pages: set[int] = set()
    quotes: list[str] = []
    document: str | None = None
    unbacked = False
    for number, citation in enumerate(sources):
        item = citable[citation.source]
        origin = origins[citation.source] if citation.source < len(origins) else None
        if item.kind != "point" or origin is None:
            pages.update(item.pages)
            quotes.append(citation.cited_text.strip())
            continue
        if number == 0:
            document = origin.document
        elif origin.document != document:
            continue
        pages.update(origin.pages)
        unbacked = unbacked or not origin.quotes
        quotes.extend(origin.quotes)
    unique = tuple(dict.fromkeys(quote for quote in quotes if quote))
    return tuple(sorted(pages)), () if unbacked else unique, document


def _claim_text(statement: Claim) -> str:
    return _clean_claim(CITATION.sub("", statement.text))


def _clean_claim(text: str) -> str:
    """A statement's words as a point's claim: its bullet marker is already off (a number
    opening it, ``2) Sei X``, is the document's own), emphasis and edges too."""
    return _MARKUP.sub("", text.strip()).strip(_CLAIM_EDGES)
