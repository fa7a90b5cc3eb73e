"""The offline analyzer's reply in cited blocks: each claim it wrote, cited where its words stand
in the request's citable texts.

The analyzer quotes the document, so each claim it writes (a bullet, or a sentence of the final
report's overview, ending in its page citation) is a sentence of the document, or a point that
quoted one. :func:`cited_blocks` cuts the reply's text into blocks, one per claim, and cites each
claim by the citable texts (pages, or points) that hold its words, found as the verification
finds quotes (:func:`~docanalyze.citations.locate.locate`): first on the texts of the pages the
claim cites, then anywhere. ``cited_text`` is the claim as it stands in the cited text, verbatim;
a claim that runs across two citable texts cites both parts. Headings, blank lines and claims
found nowhere are uncited blocks. The blocks' texts joined are the reply's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from docanalyze.citations.locate import Location, PageIndex, locate
from docanalyze.citations.pages import CITATION, parse_pages
from docanalyze.document import PAGE_SEPARATOR, Page, page_marker
from docanalyze.models.base import CitableText, ReplyBlock, ReplyCitation

__all__ = ["cited_blocks", "material_of"]

_AFTER_CITATION = re.compile(r"[.。!?！？;；]*[ \t]*")
_BULLET = re.compile(r"^\s*(?:[-*•·]\s+|\d{1,3}[.)]\s+)")
_SENTENCE_END = ".!?。！？"


def material_of(citable: Sequence[CitableText]) -> tuple[str, ...]:
    """Material to extract from when a request brings only citable texts: pages with their
    ``[Page N]`` markers, points as cited bullets (one line each: a point quoting lines of a
    page is one point, not one per line)."""
    if all(text.kind == "page" for text in citable):
        return tuple(f"{page_marker(text.pages[0])}\n{text.text}" for text in citable if text.pages)
    return ("\n".join(f"- {' '.join(point.text.split())} ({point.title})" for point in citable),)


def cited_blocks(text: str, citable: Sequence[CitableText]) -> tuple[ReplyBlock, ...]:
    """``text`` in blocks: each claim that ends in a page citation cited by the ``citable``
    texts that hold it (see the module docstring), the rest uncited."""
    index = PageIndex.of([Page(number, cited.text) for number, cited in enumerate(citable)])
    starts, offset = [], 0
    for cited in citable:
        starts.append(offset)
        offset += len(cited.text) + len(PAGE_SEPARATOR)
    blocks: list[ReplyBlock] = []
    for piece, claim, pages in _pieces(text):
        citations = _cite(claim, pages, citable, index, starts) if claim else ()
        if not citations and blocks and not blocks[-1].citations:
            blocks[-1] = ReplyBlock(blocks[-1].text + piece)
        else:
            blocks.append(ReplyBlock(piece, citations))
    return tuple(blocks)


def _pieces(text: str) -> Iterator[tuple[str, str, tuple[int, ...]]]:
    """``text`` cut, line by line, after each page citation (and the punctuation after it):
    each piece with its claim (without bullet marker or citation) and the pages it cites; a
    piece without a citation has no claim. The pieces joined are ``text``."""
    for line in text.splitlines(keepends=True):
        start = 0
        matches = list(CITATION.finditer(line))
        for number, match in enumerate(matches):
            end = _AFTER_CITATION.match(line, match.end())
            stop = len(line) if number == len(matches) - 1 else end.end() if end else match.end()
            claim = _BULLET.sub("", line[start : match.start()]).strip()
            yield line[start:stop], claim, parse_pages(match.group("pages"))
            start = stop
        if start < len(line):
            yield line[start:], "", ()


def _cite(
    claim: str,
    pages: tuple[int, ...],
    citable: Sequence[CitableText],
    index: PageIndex,
    starts: Sequence[int],
) -> tuple[ReplyCitation, ...]:
    """The citations of ``claim``: by every citable text on its ``pages`` that holds it, else
    by the first that does."""
    on_pages = [number for number, cited in enumerate(citable) if set(cited.pages) & set(pages)]
    found: dict[tuple[int, str], ReplyCitation] = {}
    for number in on_pages:
        location = locate(claim, index, [number])
        if location is not None and number in location.pages:
            found.update(_split(location, citable, starts))
    if not found:
        location = locate(claim, index)
        if location is not None:
            found.update(_split(location, citable, starts))
    return tuple(found.values())


def _split(
    location: Location, citable: Sequence[CitableText], starts: Sequence[int]
) -> Iterator[tuple[tuple[int, str], ReplyCitation]]:
    """The part of ``location`` in each citable text it runs over, as its citation."""
    for number in location.pages:
        text, offset = citable[number].text, starts[number]
        begin, end = (
            max(location.start, offset) - offset,
            min(location.end, offset + len(text)) - offset,
        )
        while end < len(text) and text[end] in _SENTENCE_END:
            end += 1  # the sentence's closing punctuation, which the match leaves out
        quote = text[begin:end].strip()
        if quote:
            yield (number, quote), ReplyCitation(number, quote)
