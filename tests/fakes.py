"""In-process model fakes for fast pipeline tests (the HTTP path uses the fake server)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from docanalyze.events import EventHandler, RequestRetried
from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.catalog import CLAUDE_FEATURES, capabilities_of
from docanalyze.models.base import ModelReply, ModelRequest, Usage
from docanalyze.text.tokens import estimate_tokens

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

    def __init__(self, answer_first: int) -> None:
        self.answer_first = answer_first
        self.answered: list[str] = []
        self.hold = True
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request: object) -> str:
        prompt: str = request.prompt  # type: ignore[attr-defined]
        with self.lock:
            holding = self.hold and len(self.answered) >= self.answer_first
            if not holding:
                self.answered.append(prompt)
        if holding:
            self.release.wait(30)
            raise RuntimeError("held until the client was killed")
        return facts_in_prompt(prompt)
