"""What the Claude client asks of whatever paces its requests: its rate and concurrency limiters.

:class:`~docanalyze.models.anthropic.ratelimit.RateLimiter` paces one process's requests;
:class:`docanalyze.ray.limiter.ClusterRateLimiter` paces many processes' together.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from docanalyze.models.anthropic.buckets import Kind, LimiterStats, Ticket
from docanalyze.models.anthropic.concurrency import ConcurrencyStats, Slot

__all__ = ["Kinds", "PauseListener", "RequestPacer", "SlotLimiter"]

Kinds = Collection[Kind]
"""The kinds of limit a response's headers reported."""

PauseListener = Callable[[float], None]
"""Hears that a request has to wait for the rate limits, and for about how many seconds."""


class RequestPacer(Protocol):
    """What the Claude client asks of its rate limiter: :class:`RateLimiter`, or a stand-in
    that paces many clients together (:class:`docanalyze.ray.limiter.ClusterRateLimiter`)."""

    async def acquire(
        self, input_estimate: int, max_tokens: int, on_pause: PauseListener | None = None
    ) -> Ticket:
        """Wait until the request may leave; ``on_pause(seconds)`` hears if it has to wait."""

    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> set[Kind]: ...

    def settle(self, ticket: Ticket, inputs: int, outputs: int, kinds: Kinds = (), /) -> None:
        """Correct ``ticket``'s debit from the reply's input and output tokens."""

    def release_unused(
        self, ticket: Ticket, *, rejected: bool, observed: Collection[Kind] = ()
    ) -> None: ...

    def cooldown(
        self, retry_after: float | None, headers: Mapping[str, str] | None = None
    ) -> float: ...

    def cooldown_remaining(self) -> float: ...

    def has_headroom(self, requests: int) -> bool: ...

    def headroom(self) -> float:
        """Requests of a typical cost that every bucket can afford now, beyond those waiting
        for one: 0 during a 429 pause, infinite while no limit or cost is known yet."""
        ...

    def stats(self) -> LimiterStats: ...


class SlotLimiter(Protocol):
    """What the Claude client asks of its concurrency limiter: :class:`~docanalyze.models.
    anthropic.concurrency.AdaptiveConcurrency`, or one shared by many processes
    (:class:`docanalyze.ray.limiter.ClusterConcurrency`)."""

    @property
    def limit(self) -> int: ...

    async def acquire(self) -> Slot: ...

    def release(self, slot: Slot) -> None: ...

    def record_accepted(self, slot: Slot) -> None: ...

    def record_success(self, slot: Slot, *, headroom: bool = True) -> None: ...

    def record_overload(self, slot: Slot, *, sporadic_ok: bool = False) -> bool: ...

    def stats(self) -> ConcurrencyStats: ...
