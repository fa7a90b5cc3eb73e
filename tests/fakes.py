"""In-process model fakes for fast pipeline tests (the HTTP path uses the fake server), and
the helpers fake-server responders share to read a map request's part and to cite."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from docanalyze.citations.pages import CITATION, parse_pages
from docanalyze.document import PAGE_SEPARATOR, page_marker
from docanalyze.events import EventHandler, RequestRetried
from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.catalog import CLAUDE_FEATURES, capabilities_of
from docanalyze.models.base import ModelReply, ModelRequest, Usage
from docanalyze.text.tokens import estimate_tokens
from fakeserver.citable import CitableSource, citable_sources, sentence_spans
from fakeserver.citing import citation_of
from fakeserver.recording import RecordedRequest
from fakeserver.replies import Responder, ScriptedReply, TextPart

FACT = re.compile(r"FACT-\d+")
CLAUDE_LIKE = replace(CLAUDE_FEATURES, streams=False, citations=False)
"""The fakes stand in for the Claude client: its features, without streaming, and without
Citations (they answer in plain text; tests/citing_fakes.py has fakes that cite)."""


def facts_responder(request: ModelRequest) -> str:
    """Reply with every FACT-nnnn token of the request's material, once each, in order."""
    seen: dict[str, None] = {}
    for text in request.material:
        for fact in FACT.findall(text):
            seen.setdefault(fact, None)
    return " ".join(seen) or "nothing"


@dataclass
class RecordingModel:
    """A model that records every request and refuses any over its context window."""

    features = CLAUDE_LIKE

    def rules_of(self, model: str) -> Capabilities:
        return capabilities_of(model)

    context_window: int = 200_000
    max_output_tokens: int = 64_000
    responder: Callable[[ModelRequest], str] = facts_responder
    name: str = "fake-model"
    delay: float = 0.0
    requests: list[ModelRequest] = field(default_factory=list)
    replies: list[ModelReply] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    reply_model: Callable[[ModelRequest], str] | None = None
    """The model named in each reply (e.g. a fallback model for some stages); default ``name``."""
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    retries_before_first_reply: tuple[int | None, ...] = ()
    """Statuses of RequestRetried events sent to ``on_event`` before the first reply."""
    on_event: EventHandler | None = None

    def estimate_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        prompt_tokens = estimate_tokens(request.prompt)
        if prompt_tokens + request.max_tokens > self.context_window:
            raise AssertionError(
                f"request over the window: {prompt_tokens} + {request.max_tokens} > "
                f"{self.context_window}"
            )
        stage = request.stage
        self.in_flight[stage] = self.in_flight.get(stage, 0) + 1
        self.max_in_flight[stage] = max(self.max_in_flight.get(stage, 0), self.in_flight[stage])
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight[stage] -= 1
        self._report_retries()
        text = self.responder(request)
        stop_reason = "end_turn"
        while estimate_tokens(text) > request.max_tokens:
            text = text[: int(len(text) * 0.9)]
            stop_reason = "max_tokens"
        usage = Usage(
            requests=1,
            input_tokens=prompt_tokens,
            output_tokens=estimate_tokens(text),
            cache_creation_input_tokens=self.cache_write_tokens,
            cache_read_input_tokens=self.cache_read_tokens,
        )
        model = self.reply_model(request) if self.reply_model else self.name
        reply = ModelReply(text, stop_reason, model, usage)
        self.replies.append(reply)
        return reply

    def _report_retries(self) -> None:
        statuses, self.retries_before_first_reply = self.retries_before_first_reply, ()
        for status in statuses:
            if self.on_event is not None:
                self.on_event(RequestRetried(str(status or "connection"), 0.0, status))

    async def aclose(self) -> None:
        pass


@dataclass
class StreamingModel(RecordingModel):
    """A RecordingModel that streams its reply in small deltas, like ``AnthropicModel``.

    With ``restart_after`` deltas delivered, the stream "breaks" once: ``on_restart`` is called
    and the whole reply is delivered again, as after a retried stream.
    """

    features = replace(CLAUDE_LIKE, streams=True)
    delta_size: int = 7
    restart_after: int | None = None
    streamed: list[ModelRequest] = field(default_factory=list)

    async def complete(
        self,
        request: ModelRequest,
        on_text: Callable[[str], None] | None = None,
        on_restart: Callable[[], None] | None = None,
    ) -> ModelReply:
        reply = await super().complete(request)
        if on_text is None:
            return reply
        self.streamed.append(request)
        deltas = [
            reply.text[i : i + self.delta_size] for i in range(0, len(reply.text), self.delta_size)
        ]
        if self.restart_after is not None and on_restart is not None:
            for delta in deltas[: self.restart_after]:
                on_text(delta)
            on_restart()
        for delta in deltas:
            on_text(delta)
            await asyncio.sleep(0)
        return reply


def facts_in_prompt(prompt: str) -> str:
    """Every FACT-nnnn token of ``prompt``, once each, in order ("nothing" when there is none)."""
    return " ".join(dict.fromkeys(FACT.findall(prompt))) or "nothing"


class GatedResponder:
    """A fake-server responder that answers ``answer_first`` requests, then holds the rest.

    Held requests are never answered (they fail once :attr:`release` is set, after the client
    was killed), so :attr:`answered` lists exactly the replies that were paid for. Set
    :attr:`hold` to False to answer everything again (the resumed run).
    """

    def __init__(self, answer_first: int, answer: Responder | None = None) -> None:
        self.answer_first = answer_first
        self.answer = answer
        """What answers a request let through (default: the facts its prompt names)."""
        self.answered: list[str] = []
        self.hold = True
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> str | ScriptedReply:
        prompt = request.prompt
        with self.lock:
            holding = self.hold and len(self.answered) >= self.answer_first
            if not holding:
                self.answered.append(prompt)
        if holding:
            self.release.wait(30)
            raise RuntimeError("held until the client was killed")
        return facts_in_prompt(prompt) if self.answer is None else self.answer(request)


# --- fake-server responders and citable content -----------------------------------------
# docanalyze sends Claude the pages of a map request as citable documents (titled "Page N")
# and the points of reduce and final requests as citable search results (titled "p. N"), so
# a prompt no longer holds the text; a reply without citations leaves its claims unsupported.

_DOCUMENT_PART = re.compile(r"<document_part>\n(.*?)\n</document_part>", re.DOTALL)
_TITLE_PAGES = re.compile(r"(?:^|, )(?:Page|pp?\.)\s*(?P<pages>\d[\d\s,–—-]*)$")
_WORDS = re.compile(r"\w+")


def part_text(request: RecordedRequest) -> str | None:
    """The document part a map request sends, with its "[Page N]" markers as the prompt would
    hold them: between the prompt's <document_part> tags, or its citable page documents; None
    for any other request."""
    written = _DOCUMENT_PART.search(request.prompt)
    if written is not None:
        return written.group(1)
    pages = [
        f"{page_marker(pages[0])}\n{source.units[0]}"
        for source in citable_sources(request.body)
        if source.kind == "text" and (pages := _title_pages(source.title))
    ]
    return PAGE_SEPARATOR.join(pages) if pages else None


def is_map(request: RecordedRequest) -> bool:
    """Whether ``request`` is a map request (it sends a document part)."""
    return part_text(request) is not None


def cite_reply(request: RecordedRequest, text: str) -> str | ScriptedReply:
    """``text`` as the reply of a model that cites what ``request`` lets it cite: each claim
    with a page citation (``(p. 3)``, ``(a.pdf, pp. 3–4)``) cites the sentence (a page) or the
    point (a search result) on those pages that shares the most words with it; lines without
    a citation, or citing a page nothing is sent for, are uncited. ``text`` as it is when the
    request sends nothing citable."""
    sources = [source for source in citable_sources(request.body) if source.citations_enabled]
    if not sources:
        return text
    parts = [
        TextPart(piece, _citations_of(piece[: match.start() - start], pages, sources))
        if match is not None
        else TextPart(piece)
        for piece, start, match, pages in _cited_pieces(text)
    ]
    return ScriptedReply.cited(parts)


def citing(responder: Callable[[RecordedRequest], str]) -> Responder:
    """``responder``, its replies cited as :func:`cite_reply` cites them."""
    return lambda request: cite_reply(request, responder(request))


def _cited_pieces(
    text: str,
) -> Iterator[tuple[str, int, re.Match[str] | None, tuple[int, ...]]]:
    """``text`` cut after each page citation: each piece with its start, its citation and the
    pages it cites (None and () for a piece without)."""
    start = 0
    for match in CITATION.finditer(text):
        end = match.end()
        while end < len(text) and text[end] in ".。":
            end += 1
        yield text[start:end], start, match, parse_pages(match["pages"])
        start = end
    if start < len(text):
        yield text[start:], start, None, ()


def _citations_of(
    claim: str, pages: tuple[int, ...], sources: list[CitableSource]
) -> tuple[dict[str, Any], ...]:
    words = set(_WORDS.findall(claim.lower()))
    best: tuple[int, dict[str, Any]] | None = None
    for source in sources:
        if not set(_title_pages(source.title)) & set(pages):
            continue
        for unit_index, unit in enumerate(source.units):
            for start, end in sentence_spans(unit) if source.kind == "text" else [(0, len(unit))]:
                shared = len(words & set(_WORDS.findall(unit[start:end].lower())))
                if best is None or shared > best[0]:
                    citation = citation_of(source, unit_index, unit[start:end], start, end)
                    best = (shared, citation)
    return (best[1],) if best is not None else ()


def _title_pages(title: str | None) -> tuple[int, ...]:
    """The pages a source's title names: ``Page 4``, ``p. 4``, ``a.pdf, pp. 3–5``."""
    named = _TITLE_PAGES.search(title or "")
    return parse_pages(named["pages"]) if named else ()


def given_points(request: RecordedRequest) -> list[str]:
    """The points a reduce or final request gives, as cited bullets (``- claim (p. N)``): its
    citable search results (a claim, then its quote), else the bullets of its prompt."""
    points = [
        f"- {source.units[0].splitlines()[0]} ({source.title})"
        for source in citable_sources(request.body)
        if source.kind == "search_result" and source.units
    ]
    return points or re.findall(r"^- .*$", request.prompt, re.MULTILINE)


def is_reduce(request: RecordedRequest) -> bool:
    """Whether ``request`` is a reduce request (it merges partial results)."""
    return "You are merging partial results" in request.prompt


def prompt_text(request: RecordedRequest) -> str:
    """The last user message's text blocks only: the prompt as docanalyze rendered it, without
    the citable documents or search results sent beside it."""
    [*_, message] = [m for m in request.body.get("messages", []) if m.get("role") == "user"]
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(block["text"] for block in content if block.get("type") == "text")
