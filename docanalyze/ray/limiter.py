"""One rate limiter for a whole Ray cluster: an actor that owns the buckets and the 429 pause.

Every worker's Claude client paces its requests through :class:`ClusterRateLimiter`, a stand-in
for its own :class:`~docanalyze.models.anthropic.ratelimit.RateLimiter` that forwards to one
:class:`RateLimiterActor`: admission waits there, and every response's headers, usage and 429
are learned there, so that all workers together stay within the organisation's limits and
``--rpm``, ``--input-tpm`` and ``--output-tpm`` cap the whole cluster.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

import ray

from docanalyze.models.anthropic.buckets import (
    KINDS,
    Kind,
    LimiterStats,
    Ticket,
    parse_rate_limit_headers,
)
from docanalyze.models.anthropic.ratelimit import RateLimiter

__all__ = ["ClusterRateLimiter", "RateLimiterActor", "start_rate_limiter"]


class RateLimiterActor:
    """The cluster's one :class:`RateLimiter`, in an actor (an async one: admission waits)."""

    def __init__(
        self, rpm: float | None, input_tpm: float | None, output_tpm: float | None
    ) -> None:
        self._limiter = RateLimiter(rpm=rpm, input_tpm=input_tpm, output_tpm=output_tpm)

    async def acquire(self, input_estimate: int, max_tokens: int) -> Ticket:
        return await self._limiter.acquire(input_estimate, max_tokens)

    async def observe(self, headers: dict[str, str], ticket: Ticket | None) -> None:
        self._limiter.observe(headers, ticket)

    async def settle(
        self, ticket: Ticket, input_tokens: int, output_tokens: int, observed: list[str]
    ) -> None:
        self._limiter.settle(ticket, input_tokens, output_tokens, _kinds(observed))

    async def release_unused(self, ticket: Ticket, rejected: bool, observed: list[str]) -> None:
        self._limiter.release_unused(ticket, rejected=rejected, observed=_kinds(observed))

    async def cooldown(self, retry_after: float | None, headers: dict[str, str] | None) -> float:
        return self._limiter.cooldown(retry_after, headers)

    async def has_headroom(self, requests: int) -> bool:
        return self._limiter.has_headroom(requests)

    async def stats(self) -> LimiterStats:
        return self._limiter.stats()


def start_rate_limiter(
    rpm: float | None = None, input_tpm: float | None = None, output_tpm: float | None = None
) -> Any:
    """Start the cluster's rate-limiter actor (it takes no CPU); returns its handle."""
    remote: Any = ray.remote  # typed by Ray for plain functions; an actor class is fine too
    actor_class = remote(num_cpus=0, max_concurrency=10_000)(RateLimiterActor)
    return actor_class.remote(rpm, input_tpm, output_tpm)


class ClusterRateLimiter:
    """What a worker's Claude client sees as its rate limiter: every call goes to the actor.

    Admission is awaited; what the client only reports (headers, usage, unused budget, a 429)
    is sent without waiting. The 429 pause's end is also kept here, for the client's own retry
    delay, and the headroom that lets the adaptive concurrency grow is the actor's answer to
    the previous request.
    """

    def __init__(self, actor: Any) -> None:
        self._actor = actor
        self._cooldown_until = 0.0
        self._headroom = True
        self._pending_headroom: Any = None

    async def acquire(self, input_estimate: int, max_tokens: int) -> Ticket:
        ticket: Ticket = await self._actor.acquire.remote(input_estimate, max_tokens)
        return ticket

    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> set[Kind]:
        self._actor.observe.remote(dict(headers), ticket)
        return set(parse_rate_limit_headers(headers))

    def settle(
        self,
        ticket: Ticket,
        input_tokens: int,
        output_tokens: int,
        observed: Collection[Kind] = (),
    ) -> None:
        self._actor.settle.remote(ticket, input_tokens, output_tokens, list(observed))

    def release_unused(
        self, ticket: Ticket, *, rejected: bool, observed: Collection[Kind] = ()
    ) -> None:
        self._actor.release_unused.remote(ticket, rejected, list(observed))

    def cooldown(
        self, retry_after: float | None, headers: Mapping[str, str] | None = None
    ) -> float:
        self._actor.cooldown.remote(retry_after, dict(headers) if headers else None)
        pause = 1.0 if retry_after is None else retry_after
        self._cooldown_until = max(self._cooldown_until, time.monotonic() + pause)
        return pause

    def cooldown_remaining(self) -> float:
        return max(0.0, self._cooldown_until - time.monotonic())

    def has_headroom(self, requests: int) -> bool:
        pending = self._pending_headroom
        if pending is not None:
            ready, _ = ray.wait([pending], timeout=0)
            if ready:
                self._headroom = bool(ray.get(ready[0]))
                pending = None
        if pending is None:
            self._pending_headroom = self._actor.has_headroom.remote(requests)
        return self._headroom

    def stats(self) -> LimiterStats:
        stats: LimiterStats = ray.get(self._actor.stats.remote())
        return stats


def _kinds(names: list[str]) -> list[Kind]:
    return [kind for kind in KINDS if kind in names]
