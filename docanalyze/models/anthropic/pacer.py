"""What the Claude client asks of whatever paces its requests: the protocol of its rate limiter.

:class:`~docanalyze.models.anthropic.ratelimit.RateLimiter` paces one process's requests;
:class:`docanalyze.ray.limiter.ClusterRateLimiter` paces many processes' together.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from docanalyze.models.anthropic.buckets import Kind, LimiterStats, Ticket

__all__ = ["RequestPacer"]


class RequestPacer(Protocol):
    """What the Claude client asks of its rate limiter: :class:`RateLimiter`, or a stand-in
    that paces many clients together (:class:`docanalyze.ray.limiter.ClusterRateLimiter`)."""

    async def acquire(self, input_estimate: int, max_tokens: int) -> Ticket: ...

    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> set[Kind]: ...

    def settle(
        self,
        ticket: Ticket,
        input_tokens: int,
        output_tokens: int,
        observed: Collection[Kind] = (),
    ) -> None: ...

    def release_unused(
        self, ticket: Ticket, *, rejected: bool, observed: Collection[Kind] = ()
    ) -> None: ...

    def cooldown(
        self, retry_after: float | None, headers: Mapping[str, str] | None = None
    ) -> float: ...

    def cooldown_remaining(self) -> float: ...

    def has_headroom(self, requests: int) -> bool: ...

    def stats(self) -> LimiterStats: ...
