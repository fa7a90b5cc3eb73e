"""Policies: the steps a valid request passes through before its reply is built.

A policy sees an :class:`Exchange` (the validated request and the response headers so far). It
may wait, add response headers, or refuse the request by raising
:class:`~fakeserver.errors.ApiError` (with e.g. a ``retry-after`` header). This is the
seam for rate limits (:mod:`~fakeserver.ratelimits`: token buckets answering 429 and
setting ``anthropic-ratelimit-*`` headers) and for seeded fault injection
(:mod:`~fakeserver.faults`: 529/500 answers, dropped and hung connections, slow
streams). To close the connection with no reply at all, raise
:class:`~fakeserver.errors.ConnectionFault`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Exchange", "LatencyPolicy", "RequestPolicy"]


@dataclass
class Exchange:
    """A validated request on its way to a reply.

    ``headers`` have lower-cased names (credentials included: policies may key on them).
    ``response_headers`` are added to whatever the server answers, success or error.
    ``seconds_before_first_event`` delays a streamed reply's first event (its status line and
    headers go out at once, as the real API's do); ``seconds_between_events`` paces the events
    after it (0 sends them as fast as possible).
    ``on_finished`` callbacks run once when the reply has been sent (or the request failed after
    the policies let it through), with the output tokens the reply used (0 for no reply); a rate
    limiter gives back the unused part of its ``max_tokens`` estimate there.
    """

    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]
    input_tokens: int
    max_tokens: int
    stream: bool
    request_id: str
    response_headers: dict[str, str] = field(default_factory=dict)
    seconds_before_first_event: float = 0.0
    seconds_between_events: float = 0.0
    on_finished: list[Callable[[int], None]] = field(default_factory=list, repr=False)

    def finish(self, output_tokens: int) -> None:
        """Run the ``on_finished`` callbacks with the output tokens used; later calls do nothing."""
        callbacks, self.on_finished = self.on_finished, []
        for callback in callbacks:
            callback(output_tokens)


class RequestPolicy(Protocol):
    """One step of the request pipeline: may wait, decorate the reply, or raise ApiError."""

    def admit(self, exchange: Exchange) -> None:
        """Let ``exchange`` through, possibly after changing it; raise ApiError to refuse it."""
        ...


class LatencyPolicy:
    """Waits a fixed number of seconds before the reply.

    A non-streamed reply is held back whole. A streamed one is accepted at once, like the real
    API's: its status line and ``anthropic-ratelimit-*`` headers go out before the wait, and
    its first event after it.
    """

    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds}")
        self.seconds = seconds

    def admit(self, exchange: Exchange) -> None:
        """Sleep for the configured latency, or leave it to the stream's first event."""
        if exchange.stream:
            exchange.seconds_before_first_event += self.seconds
        elif self.seconds:
            time.sleep(self.seconds)
