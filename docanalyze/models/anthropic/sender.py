"""One attempt of one Messages API request, always streamed, bounded by the timeouts.

Every attempt streams, for three reasons. The status line and the ``anthropic-ratelimit-*``
headers of a stream arrive as soon as the API accepts the request, long before its text, so the
client learns the limits and grows its concurrency within one header round trip, not one whole
reply. A stalled stream is noticed (no bytes for ``stall_timeout``) and cut. And the SDK never
refuses a large ``max_tokens``, as it does for non-streamed requests it expects to be long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
from anthropic.lib.streaming import AsyncMessageStream
from anthropic.types import Message, TextBlock

from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.message_parts import (
    reply_block,
    reply_blocks,
    reply_text,
    request_params,
)
from docanalyze.models.base import ModelRequest, ReplyBlock

__all__ = ["CONNECT_TIMEOUT", "BlockCallback", "MessageCall", "MessageSender"]

CONNECT_TIMEOUT = 10.0

TextCallback = Callable[[str], None]
BlockCallback = Callable[[ReplyBlock], None]
RestartCallback = Callable[[], None]
AcceptedCallback = Callable[[Mapping[str, str]], None]
RulesOf = Callable[[str], Capabilities]


@dataclass(frozen=True)
class MessageCall:
    """The Messages API arguments of one request (:func:`~docanalyze.models.anthropic.message_parts.request_params`).

    ``system`` is omitted unless the request has one; a request that asks for caching sends it
    as one text block marked ``cache_control: {"type": "ephemeral"}``. ``thinking``,
    ``output_config`` and ``temperature`` follow the rules of the model that answers.
    """

    params: dict[str, Any]

    @classmethod
    def of(cls, request: ModelRequest, model: str, rules: Capabilities) -> MessageCall:
        """The arguments that ask ``model`` (which follows ``rules``) for ``request``."""
        return cls(request_params(request, model, rules))

    @property
    def model(self) -> str:
        """The model asked."""
        return str(self.params["model"])


class MessageSender:
    """Sends the attempts of one request.

    A whole attempt must finish within ``timeout``; it is also cut when no bytes arrive for
    ``stall_timeout``. ``rules_of(model)`` gives the request rules of the model an attempt
    asks (the primary or the fallback). ``on_text`` (optional) receives the text deltas as they
    arrive, and ``on_block`` (optional, for a request with citable text) each text block once it
    ends (``content_block_stop``), with the citations its ``citations_delta`` events brought.
    Remembers whether an attempt delivered text, so that the next attempt first calls
    ``on_restart``.
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        request: ModelRequest,
        *,
        timeout: float,
        stall_timeout: float,
        rules_of: RulesOf,
        on_text: TextCallback | None = None,
        on_restart: RestartCallback | None = None,
        on_block: BlockCallback | None = None,
    ) -> None:
        self._client = client
        self._rules_of = rules_of
        self._request = request
        self._on_text = on_text
        self._on_restart = on_restart
        self._on_block = on_block if request.citable else None
        self._timeout = timeout
        self._stall_timeout = stall_timeout
        self._delivered = False

    async def send(self, model: str, on_accepted: AcceptedCallback) -> Message:
        """One attempt with ``model``; ``on_accepted`` gets the response headers once they arrive."""
        if self._delivered:
            self._delivered = False
            if self._on_restart is not None:
                self._on_restart()
        call = MessageCall.of(self._request, model, self._rules_of(model))
        return await asyncio.wait_for(self._stream(call, on_accepted), self._timeout)

    async def _stream(self, call: MessageCall, on_accepted: AcceptedCallback) -> Message:
        connect = min(self._timeout, CONNECT_TIMEOUT)
        timeout = httpx2.Timeout(self._timeout, read=self._stall_timeout, connect=connect)
        params = dict(call.params)
        # This SDK has no sampling parameters: a temperature travels in the body as it is.
        extra_body = {"temperature": params.pop("temperature")} if "temperature" in params else None
        async with self._client.messages.stream(
            **params, extra_body=extra_body, timeout=timeout
        ) as events:
            response = events.response
            on_accepted(response.headers)
            final: Message
            if "text/event-stream" in response.headers.get("content-type", ""):
                if self._on_text is not None:
                    await self._deliver(events)
                final = await events.get_final_message()
            else:  # a server or proxy that answers a stream request with one JSON message
                final = Message.model_validate_json(await response.aread())
                if self._on_text is not None:
                    self._on_text(reply_text(final))
                if self._on_block is not None:
                    for block in reply_blocks(final, self._request.citable):
                        self._on_block(block)
            if final.stop_reason is None:  # the body ended before message_delta/message_stop
                raise anthropic.APIConnectionError(
                    message="the stream ended early", request=events.response.request
                )
            return final

    async def _deliver(self, events: AsyncMessageStream) -> None:
        """Pass on the text deltas, and each text block once it ends."""
        count = len(self._request.citable)
        async for event in events:
            if event.type == "text" and self._on_text is not None:
                self._delivered = True
                self._on_text(event.text)
            elif (
                event.type == "content_block_stop"
                and self._on_block is not None
                and isinstance(event.content_block, TextBlock)
            ):
                self._on_block(reply_block(event.content_block, count))
