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

import anthropic
import httpx2
from anthropic.types import Message, MessageParam, TextBlockParam

from docanalyze.models.base import ModelRequest
from docanalyze.models.message_parts import reply_text, system_param

__all__ = ["CONNECT_TIMEOUT", "MessageCall", "MessageSender"]

CONNECT_TIMEOUT = 10.0

TextCallback = Callable[[str], None]
RestartCallback = Callable[[], None]
AcceptedCallback = Callable[[Mapping[str, str]], None]


@dataclass(frozen=True)
class MessageCall:
    """The Messages API arguments of one request.

    ``system`` is omitted unless the request has one; a request that asks for caching sends it
    as one text block marked ``cache_control: {"type": "ephemeral"}``, so the API caches it (when
    it is long enough) and later requests with the same system read it at a tenth of the input
    price. The SDK has no sampling parameters, so a temperature travels in ``extra_body``, and
    only when the request sets one: newer Claude models reject non-default sampling parameters.
    """

    model: str
    max_tokens: int
    messages: list[MessageParam]
    system: str | list[TextBlockParam] | anthropic.Omit
    extra_body: dict[str, object] | None

    @classmethod
    def of(cls, request: ModelRequest, model: str) -> MessageCall:
        """The arguments that ask ``model`` for ``request``."""
        system = system_param(request)
        return cls(
            model=model,
            max_tokens=request.max_tokens,
            messages=[{"role": "user", "content": request.prompt}],
            system=anthropic.omit if system is None else system,
            extra_body=(
                None if request.temperature is None else {"temperature": request.temperature}
            ),
        )


class MessageSender:
    """Sends the attempts of one request.

    A whole attempt must finish within ``timeout``; it is also cut when no bytes arrive for
    ``stall_timeout``. ``on_text`` (optional) receives the text deltas as they arrive. Remembers
    whether an attempt delivered text, so that the next attempt first calls ``on_restart``.
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        request: ModelRequest,
        *,
        timeout: float,
        stall_timeout: float,
        on_text: TextCallback | None = None,
        on_restart: RestartCallback | None = None,
    ) -> None:
        self._client = client
        self._request = request
        self._on_text = on_text
        self._on_restart = on_restart
        self._timeout = timeout
        self._stall_timeout = stall_timeout
        self._delivered = False

    async def send(self, model: str, on_accepted: AcceptedCallback) -> Message:
        """One attempt with ``model``; ``on_accepted`` gets the response headers once they arrive."""
        if self._delivered:
            self._delivered = False
            if self._on_restart is not None:
                self._on_restart()
        call = MessageCall.of(self._request, model)
        return await asyncio.wait_for(self._stream(call, on_accepted), self._timeout)

    async def _stream(self, call: MessageCall, on_accepted: AcceptedCallback) -> Message:
        connect = min(self._timeout, CONNECT_TIMEOUT)
        timeout = httpx2.Timeout(self._timeout, read=self._stall_timeout, connect=connect)
        async with self._client.messages.stream(
            model=call.model,
            max_tokens=call.max_tokens,
            messages=call.messages,
            system=call.system,
            extra_body=call.extra_body,
            timeout=timeout,
        ) as events:
            response = events.response
            on_accepted(response.headers)
            final: Message
            if "text/event-stream" in response.headers.get("content-type", ""):
                if self._on_text is not None:
                    async for text in events.text_stream:
                        self._delivered = True
                        self._on_text(text)
                final = await events.get_final_message()
            else:  # a server or proxy that answers a stream request with one JSON message
                final = Message.model_validate_json(await response.aread())
                if self._on_text is not None:
                    self._on_text(reply_text(final))
            if final.stop_reason is None:  # the body ended before message_delta/message_stop
                raise anthropic.APIConnectionError(
                    message="the stream ended early", request=events.response.request
                )
            return final
