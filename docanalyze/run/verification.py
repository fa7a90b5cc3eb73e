"""The report's citations checked in code before it is written, against the page text.

Every statement of a reply to a final request (the report, or its overview and sections) is
read with the quotes behind it (:mod:`docanalyze.run.grounding`) and checked with
:func:`~docanalyze.citations.markdown.check_report`: a quote on its cited page is verified, on
another page corrected to it, found nowhere (or no quote at all, or no citation where one is
due) unsupported, and marked or dropped as ``--unsupported`` says. The report then ends with a
note counting them.

A reply is checked line by line (:class:`CheckedReply`), as it arrives when it streams: a
statement never spans lines, so a line can be checked once it is complete and the blocks it
overlaps (with their citations) have arrived. A streamed and a non-streamed run check the same
lines the same way, so a streamed report is the checked report, piece by piece.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from docanalyze.citations.markdown import PageIndexes, check_report, is_fence
from docanalyze.citations.verify import CheckedCitation, UnsupportedMode, VerificationSummary
from docanalyze.document import Partial, Point
from docanalyze.ingest.ocr import OCR_INSTALL
from docanalyze.models.base import CitableText, ModelReply, ReplyBlock
from docanalyze.run.context import RunContext
from docanalyze.run.grounding import ground_blocks, ground_written

__all__ = ["CheckedReply", "CheckedText", "ReplyCheck", "closing_note"]


@dataclass(frozen=True)
class CheckedText:
    """A reply's text after checking (citations corrected, unsupported claims marked or
    dropped) and its checked citations, in order."""

    text: str
    citations: tuple[CheckedCitation, ...]


@dataclass(frozen=True)
class ReplyCheck:
    """What a reply to a final request is checked against: the points it was sent as citable
    text (``citable``) and the points they stand for (``origins``), the pages, and what becomes
    of an unsupported claim."""

    citable: tuple[CitableText, ...]
    origins: tuple[Point, ...]
    pages: PageIndexes
    unsupported: UnsupportedMode = "mark"

    @classmethod
    def of(cls, ctx: RunContext, partials: Sequence[Partial]) -> ReplyCheck:
        """The check of a reply to a final request of ``partials`` in the run of ``ctx``."""
        origins = tuple(point for partial in partials for point in partial.points)
        pages = PageIndexes(ctx.cited_documents or ctx.document.pages)
        return cls(ctx.renderer.citable_points(partials), origins, pages, ctx.unsupported)

    def line(self, text: str, blocks: Sequence[ReplyBlock] | None) -> CheckedText:
        """One line of a reply (not in code), checked; ``blocks`` are the line's parts of the
        reply's blocks, None for a reply without blocks. A dropped line checks to ``""``."""
        grounded = (
            ground_written(text)
            if blocks is None
            else ground_blocks(blocks, self.citable, self.origins)
        )
        checked = check_report(
            grounded.text,
            grounded.evidence,
            self.pages,
            unsupported=self.unsupported,
            require_citations=True,
            closing_note=False,
        )
        return CheckedText(checked.text, checked.citations)


class CheckedReply:
    """A reply checked line by line while it arrives (:meth:`add_text`, :meth:`add_block`).

    A line is checked once it ends and, when the reply comes in blocks (``expects_blocks``: a
    request with citable text), once the blocks it overlaps have ended; each checked line goes
    to ``on_checked`` at once. Lines of fenced code pass as they are; at most one blank line is
    kept between lines and a dropped line leaves none; the text is trimmed (trailing whitespace
    is held back until more text follows it). So the pieces add up to :meth:`finish`'s text.
    :meth:`restart` discards the reply so far, calling ``on_restart`` if a piece went out.
    """

    _text: str
    _spans: list[tuple[int, int, ReplyBlock]]
    _covered: int
    _line_start: int
    _in_code: bool
    _pieces: list[str]
    _citations: list[CheckedCitation]
    _blank: bool
    _held: str

    def __init__(
        self,
        check: ReplyCheck,
        *,
        expects_blocks: bool,
        on_checked: Callable[[str], None] | None = None,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self._check = check
        self._expects_blocks = expects_blocks
        self._on_checked = on_checked
        self._on_restart = on_restart
        self._reset()

    def add_text(self, delta: str) -> None:
        """The next text of the reply."""
        self._text += delta
        self._check_lines(final=False)

    def add_block(self, block: ReplyBlock) -> None:
        """The reply's next block, ended, with its citations (its text came as text before)."""
        self._spans.append((self._covered, self._covered + len(block.text), block))
        self._covered += len(block.text)
        self._check_lines(final=False)

    def restart(self) -> None:
        """The reply starts over (a retried stream, a reply asked again)."""
        sent = bool(self._pieces)
        self._reset()
        if sent and self._on_restart is not None:
            self._on_restart()

    def finish(self, reply: ModelReply) -> CheckedText:
        """The checked text of ``reply``, its last lines checked now. Should what arrived not be
        ``reply`` (or nothing arrived), ``reply`` itself is checked, from its start."""
        blocks = tuple(block for _, _, block in self._spans)
        if self._text != reply.text or blocks != reply.blocks:
            self.restart()
            self._text = reply.text
            for block in reply.blocks:
                self._spans.append((self._covered, self._covered + len(block.text), block))
                self._covered += len(block.text)
        self._check_lines(final=True)
        return CheckedText("".join(self._pieces), tuple(self._citations))

    def _reset(self) -> None:
        self._text = ""
        self._spans = []
        self._covered = 0
        self._line_start = 0
        self._in_code = False
        self._pieces = []
        self._citations = []
        self._blank = False
        self._held = ""

    def _check_lines(self, *, final: bool) -> None:
        while True:
            end = self._text.find("\n", self._line_start)
            if end < 0:
                if not final or self._line_start >= len(self._text):
                    return
                end = len(self._text)
            if not final and self._expects_blocks and self._covered < end:
                return
            self._check_line(self._text[self._line_start : end], self._line_start)
            self._line_start = end + 1

    def _check_line(self, line: str, start: int) -> None:
        if is_fence(line):
            self._in_code = not self._in_code
            self._put(line)
        elif self._in_code:
            self._put(line)
        elif not line.strip():
            self._blank = bool(self._pieces)
        else:
            blocks = self._blocks_of(start, start + len(line)) if self._spans else None
            checked = self._check.line(line, blocks)
            self._citations.extend(checked.citations)
            if checked.text:
                self._put(checked.text)

    def _blocks_of(self, start: int, end: int) -> tuple[ReplyBlock, ...]:
        """The parts of the blocks within ``start``:``end`` of the reply, with their citations."""
        return tuple(
            ReplyBlock(
                block.text[max(start, first) - first : min(end, last) - first], block.citations
            )
            for first, last, block in self._spans
            if first < end and last > start
        )

    def _put(self, line: str) -> None:
        if self._pieces:
            text = self._held + ("\n\n" if self._blank else "\n") + line
        else:
            text = line.lstrip()
        piece = text.rstrip()
        self._held, self._blank = text[len(piece) :], False
        if not piece:
            return
        self._pieces.append(piece)
        if self._on_checked is not None:
            self._on_checked(piece)


def closing_note(ctx: RunContext, citations: Iterable[CheckedCitation]) -> str:
    """The note that ends the report: how many citations were verified, corrected and
    unsupported (:meth:`VerificationSummary.describe`), and why those of page images
    docanalyze could not read were not checked, naming the remedy."""
    summary = VerificationSummary.of(citations)
    note = "\n\n" + summary.describe(ctx.unsupported)
    if not summary.unreadable:
        return note
    cite, were, them = (
        ("citation points at a page image", "it was", "it")
        if summary.unreadable == 1
        else ("citations point at page images", "they were", "them")
    )
    return (
        f"{note}\n\n{summary.unreadable} {cite} docanalyze cannot read without OCR, so {were} "
        f"not checked: {OCR_INSTALL} to check {them}."
    )
