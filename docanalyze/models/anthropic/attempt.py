"""The attempts of one request: a concurrency slot, the rate limiter, one streamed send, and what
each outcome teaches the limiters and the fallback switch.

:class:`RequestAttempts` is what :func:`~docanalyze.models.anthropic.retry.call_with_retries`
calls once per attempt. Each attempt takes a slot from the client's adaptive concurrency limiter,
then waits for the shared rate limiter, then sends. The response headers feed both limiters as
soon as the request is accepted; a reply settles its real usage; a failure is counted by kind
(429, 529, 5xx, timeout, dropped) and gives back what the rate limiter held for it. A request
that was cancelled mid-flight (Ctrl-C) is acknowledged too, so later estimates do not wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import anthropic
import httpx2
from anthropic.types import Message

from docanalyze.models.anthropic.concurrency import Slot
from docanalyze.models.anthropic.error_messages import Endpoint
from docanalyze.models.anthropic.fallback import FallbackSwitch
from docanalyze.models.anthropic.pacer import PauseListener, RequestPacer, SlotLimiter
from docanalyze.models.anthropic.ratelimit import Kind, Ticket
from docanalyze.models.anthropic.retry import (
    error_headers,
    error_status,
    is_timeout,
    server_requested_delay,
)
from docanalyze.models.anthropic.sender import MessageSender
from docanalyze.models.base import ModelRequest

__all__ = ["FAILURES", "AttemptingClient", "FailureCounts", "RequestAttempts"]

FAILURES = (anthropic.AnthropicError, httpx2.TransportError, TimeoutError, asyncio.TimeoutError)
"""What a request can fail with that is not a bug: API errors, dropped or timed-out connections."""


@dataclass
class FailureCounts:
    """Failed attempts by kind, and the replies the fallback model wrote."""

    overloaded: int = 0
    server_errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    fallback_replies: int = 0


class AttemptingClient(Protocol):
    """What the attempts use of the client that makes them
    (:class:`~docanalyze.models.anthropic.model.AnthropicModel`): its limiters, its fallback
    switch and its counters."""

    attempts: int
    fallback: FallbackSwitch
    failures: FailureCounts
    on_pause: PauseListener | None

    @property
    def limiter(self) -> RequestPacer:
        """The rate limiter."""
        ...

    @property
    def limits(self) -> SlotLimiter:
        """The concurrency limiter."""
        ...

    @property
    def name(self) -> str:
        """The primary model."""
        ...

    @property
    def endpoint(self) -> Endpoint:
        """The API address it talks to, and whether that address has answered yet."""
        ...


class RequestAttempts:
    """The attempts of ``request`` through ``client``; call it once per attempt.

    ``model`` is the model the last attempt asked (the fallback's once the client switched),
    ``count`` how many attempts were made.
    """

    def __init__(
        self, client: AttemptingClient, sender: MessageSender, request: ModelRequest, estimate: int
    ) -> None:
        self.client = client
        self.sender = sender
        self.request = request
        self.estimate = estimate
        self.requested = request.model or client.name
        self.model = self.requested
        self.count = 0

    async def __call__(self) -> Message:
        client = self.client
        self.model = client.fallback.choose(self.requested)
        slot = await client.limits.acquire()
        try:
            ticket = await client.limiter.acquire(
                self.estimate, self.request.max_tokens, client.on_pause
            )
            self.count += 1
            client.attempts += 1
            observed: set[Kind] = set()
            contact = client.endpoint.contact

            def accepted(headers: Mapping[str, str]) -> None:
                contact.note_answer()
                observed.update(client.limiter.observe(headers, ticket))
                client.limits.record_accepted(slot)

            try:
                message = await self.sender.send(self.model, accepted)
            except FAILURES as error:
                self._failed(error, slot, ticket)
                raise
            except BaseException:  # cancelled: later requests must not count it as unanswered
                client.limiter.release_unused(ticket, rejected=False)
                raise
            self._succeeded(message, slot, ticket, observed)
            return message
        finally:
            client.limits.release(slot)

    def cooldown_left(self, error: BaseException) -> float | None:
        """For a 429, the shared cooldown the next attempt will wait for (not slept twice)."""
        if error_status(error) != 429:
            return None
        return self.client.limiter.cooldown_remaining()

    def _succeeded(self, message: Message, slot: Slot, ticket: Ticket, observed: set[Kind]) -> None:
        """Settle a reply's usage with the rate limiter; let the limits and the fallback learn.

        ``observed`` are the kinds of limit the response headers reported when the request was
        accepted. Those headers already count its input; its output is only known now (the API
        reserves ``max_tokens`` at admission and gives back the rest when the reply ends), so the
        output is settled whatever the headers said.
        """
        client = self.client
        usage = message.usage
        input_tokens = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        already_counted = observed - {"output-tokens"}
        client.limiter.settle(ticket, input_tokens, usage.output_tokens, already_counted)
        client.limits.record_success(
            slot, headroom=client.limiter.has_headroom(client.limits.limit)
        )
        client.fallback.record_success(self.model)
        if self.model != self.requested:
            client.failures.fallback_replies += 1

    def _failed(self, error: BaseException, slot: Slot, ticket: Ticket) -> None:
        """Feed a failed attempt to the rate limiter, the concurrency limiter and the fallback."""
        client, failures = self.client, self.client.failures
        status = error_status(error)
        headers = error_headers(error) or {}
        observed = client.limiter.observe(headers, ticket) if headers else set()
        if status == 429:
            client.limiter.cooldown(server_requested_delay(headers))
            client.limits.record_overload(slot)
        elif status == 529:
            failures.overloaded += 1
            client.limits.record_overload(slot, sporadic_ok=True)
        elif status is not None and status >= 500:
            failures.server_errors += 1
        elif status is None and is_timeout(error):
            failures.timeouts += 1
            client.limits.record_overload(slot, sporadic_ok=True)
        elif status is None:
            failures.dropped += 1
        rejected = status is not None and (status < 500 or status == 529)
        client.limiter.release_unused(ticket, rejected=rejected, observed=observed)
        client.fallback.record_failure(self.model, status)
