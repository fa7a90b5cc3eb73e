"""In-process fakes of a model that cites (the API's Citations) or quotes (the fallback), for the
grounded pipeline's tests: they answer from ``request.citable`` or ``request.material`` and plant
the errors a test asks for."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from docanalyze.document import PAGE_MARKER_RE
from docanalyze.models.base import (
    CitableText,
    ModelReply,
    ModelRequest,
    ReplyBlock,
    ReplyCitation,
    Usage,
)
from docanalyze.text.tokens import estimate_tokens
from tests.fakes import CLAUDE_LIKE, RecordingModel

FACT_SENTENCE = re.compile(r"[^.。!?！？\n]*FACT-\d+[^.。!?！？\n]*[.。!?！？]")
NOWHERE = "FACT-9002 was signed on the far side of the moon by nobody at all."
INVENTED = "FACT-9001 was agreed by every party in writing."


def _cite(claim: str, source: int, citable: CitableText, fullwidth: bool) -> list[ReplyBlock]:
    """``- claim (p. N)`` in blocks as Claude writes them: bullet, cited claim, citation."""
    opening, closing = ("（", "）") if fullwidth else ("(", ")")
    title = citable.title.replace("Page ", "p. ")
    return [
        ReplyBlock("- "),
        ReplyBlock(
            claim, (ReplyCitation(source, citable.text if citable.kind == "point" else claim),)
        ),
        ReplyBlock(f" {opening}{title}{closing}\n"),
    ]


def _pairs(points: tuple[CitableText, ...]) -> list[ReplyBlock]:
    """A merge: each two points with a fact in one bullet citing both, written without a page
    (points without a fact are left out)."""
    blocks: list[ReplyBlock] = []
    kept = [(source, point) for source, point in enumerate(points) if "FACT-" in point.text]
    for first in range(0, len(kept), 2):
        pair = kept[first : first + 2]
        facts = [fact for _, point in pair for fact in re.findall(r"FACT-\d+", point.text)]
        claim = " and ".join(dict.fromkeys(facts)) + " were recorded by the inspectors."
        citations = tuple(ReplyCitation(source, point.text) for source, point in pair)
        blocks += [ReplyBlock("- "), ReplyBlock(claim, citations), ReplyBlock("\n")]
    return blocks


@dataclass
class CitingModel(RecordingModel):
    """Cites every planted fact: a map reply cites its sentence on its page, a reduce reply
    merges each two points in one claim citing both, a final reply cites every point. ``wrong_page``: the final report writes a wrong ``(p. N)`` after
    its first claim (its citation stays right); ``invent``: the final report adds an uncited
    bullet; ``quote_nowhere``: the first map reply cites a sentence found on no page."""

    features = replace(CLAUDE_LIKE, citations=True)
    wrong_page: bool = False
    invent: bool = False
    quote_nowhere: bool = False
    _planted: bool = field(default=False, init=False)

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        blocks = self._map(request) if request.stage == "map" else self._merge(request)
        text = "".join(block.text for block in blocks)
        usage = Usage(1, estimate_tokens(request.prompt), estimate_tokens(text))
        reply = ModelReply(text, "end_turn", self.name, usage, blocks=tuple(blocks))
        self.replies.append(reply)
        return reply

    def _map(self, request: ModelRequest) -> list[ReplyBlock]:
        blocks: list[ReplyBlock] = []
        for source, page in enumerate(request.citable):
            for sentence in FACT_SENTENCE.findall(page.text):
                blocks += _cite(sentence.strip(), source, page, "。" in sentence)
        if self.quote_nowhere and not self._planted and request.citable:
            self._planted = True
            blocks += [ReplyBlock("- "), ReplyBlock(NOWHERE, (ReplyCitation(0, NOWHERE),))]
            blocks.append(ReplyBlock("\n"))
        return blocks or [ReplyBlock("- Nothing of note.\n")]

    def _merge(self, request: ModelRequest) -> list[ReplyBlock]:
        if request.stage == "reduce":
            return _pairs(request.citable)
        blocks: list[ReplyBlock] = []
        final = request.stage == "final"
        if final:
            blocks.append(ReplyBlock("## Key findings\n\n"))
        for source, point in enumerate(request.citable):
            claim = point.text.split("\n")[0]
            cited = _cite(claim, source, point, "。" in claim)
            if final and self.wrong_page and source == 0:
                opening, closing = ("（", "）") if "。" in claim else ("(", ")")
                cited[-1] = ReplyBlock(f" {opening}p. {point.pages[0] + 1}{closing}\n")
            blocks += cited
        if final and self.invent:
            blocks.append(ReplyBlock(f"- {INVENTED}\n"))
        return blocks


@dataclass
class QuotingModel(RecordingModel):
    """A model without Citations that quotes as the fallback prompt asks: a map reply writes
    ``- claim: "sentence" (p. N)`` for each planted fact; a reduce or final reply copies the
    bullets of its material. ``wrong_page`` and ``quote_nowhere`` err as :class:`CitingModel`."""

    features = CLAUDE_LIKE
    wrong_page: bool = False
    quote_nowhere: bool = False

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        if request.stage == "map":
            text = self._map(request.material[0])
        else:
            lines = [line for part in request.material for line in part.splitlines()]
            text = "\n".join(line for line in lines if line.startswith("- "))
            if request.stage == "final":
                text = "## Key findings\n\n" + text
                if self.wrong_page:
                    text = re.sub(r"\(p\. (\d+)\)", lambda m: f"(p. {int(m[1]) + 1})", text, 1)
        usage = Usage(1, estimate_tokens(request.prompt), estimate_tokens(text))
        reply = ModelReply(text, "end_turn", self.name, usage)
        self.replies.append(reply)
        return reply

    def _map(self, material: str) -> str:
        bullets = []
        pieces = PAGE_MARKER_RE.split(material)
        for number, page_text in zip(pieces[1::2], pieces[2::2]):
            for sentence in FACT_SENTENCE.findall(page_text):
                sentence = " ".join(sentence.split())
                fact = re.search(r"FACT-\d+", sentence)
                assert fact is not None
                bullets.append(f'- {fact.group()} is stated: "{sentence}" (p. {number})')
        if self.quote_nowhere and bullets:
            bullets.append(f'- FACT-9002 is stated: "{NOWHERE}" (p. 1)')
            self.quote_nowhere = False
        return "\n".join(bullets) or "- Nothing of note."


@dataclass
class StreamingCitingModel(CitingModel):
    """A :class:`CitingModel` that streams like the Claude backend: each block's text in deltas
    of ``delta_size`` characters, then the block with its citations (``on_block``), as the
    Messages API ends a content block. With ``restart_after`` deltas sent, the final reply's
    stream "breaks" once: ``on_restart``, then the whole reply again."""

    features = replace(CLAUDE_LIKE, citations=True, streams=True)
    delta_size: int = 5
    restart_after: int | None = None

    async def complete(
        self,
        request: ModelRequest,
        on_text: Callable[[str], None] | None = None,
        on_restart: Callable[[], None] | None = None,
        on_block: Callable[[ReplyBlock], None] | None = None,
    ) -> ModelReply:
        reply = await super().complete(request)
        if on_text is None:
            return reply
        if request.stage == "final" and self.restart_after is not None:
            self._stream(reply, on_text, on_block, self.restart_after)
            if on_restart is not None:
                on_restart()
        self._stream(reply, on_text, on_block, None)
        return reply

    def _stream(
        self,
        reply: ModelReply,
        on_text: Callable[[str], None],
        on_block: Callable[[ReplyBlock], None] | None,
        deltas: int | None,
    ) -> None:
        sent = 0
        for block in reply.blocks:
            for start in range(0, len(block.text), self.delta_size):
                if sent == deltas:
                    return
                on_text(block.text[start : start + self.delta_size])
                sent += 1
            if on_block is not None:
                on_block(block)
