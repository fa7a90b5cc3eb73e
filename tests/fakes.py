"""In-process model fakes for fast pipeline tests (the HTTP path uses the fake server)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from docanalyze.models.base import ModelReply, ModelRequest, Usage
from docanalyze.tokens import estimate_tokens

FACT = re.compile(r"FACT-\d+")


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

    context_window: int = 200_000
    max_output_tokens: int = 64_000
    responder: Callable[[ModelRequest], str] = facts_responder
    name: str = "fake-model"
    delay: float = 0.0
    requests: list[ModelRequest] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)

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
        text = self.responder(request)
        stop_reason = "end_turn"
        while estimate_tokens(text) > request.max_tokens:
            text = text[: int(len(text) * 0.9)]
            stop_reason = "max_tokens"
        usage = Usage(requests=1, input_tokens=prompt_tokens, output_tokens=estimate_tokens(text))
        return ModelReply(text, stop_reason, self.name, usage)

    async def aclose(self) -> None:
        pass
