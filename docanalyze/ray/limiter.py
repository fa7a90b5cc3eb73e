"""One rate limiter for a whole Ray cluster: an actor that owns the buckets, the 429 pause and
the adaptive concurrency.

Every worker's Claude client paces its requests through :class:`ClusterRateLimiter` and
:class:`ClusterConcurrency`, stand-ins for its own
:class:`~docanalyze.models.anthropic.ratelimit.RateLimiter` and
:class:`~docanalyze.models.anthropic.concurrency.AdaptiveConcurrency` that forward to one
:class:`RateLimiterActor`: admission waits there, and every response's headers, usage, 429 and
overload are learned there, so that all workers together stay within the organisation's limits,
``--rpm``, ``--input-tpm`` and ``--output-tpm`` cap the whole cluster, and ``--concurrency`` is
the ceiling of the requests in flight across it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import ray

from docanalyze.models.anthropic.buckets import (
    KINDS,
    Kind,
    LimiterStats,
    Ticket,
    parse_rate_limit_headers,
)
from docanalyze.models.anthropic.concurrency import (
    DEFAULT_CONCURRENCY,
    AdaptiveConcurrency,
    ConcurrencyStats,
    Slot,
)
from docanalyze.models.anthropic.pacer import Kinds, PauseListener
from docanalyze.models.anthropic.ratelimit import RateLimiter
from docanalyze.run.admission import Room, tightest

__all__ = [
    "SLOT_LIFETIME",
    "ClusterConcurrency",
    "ClusterGauge",
    "ClusterRateLimiter",
    "RateLimiterActor",
    "start_rate_limiter",
]

SLOT_LIFETIME = 1_800.0
"""Seconds after which a place in flight is taken back: its worker died holding it (a request
lasts at most its timeout, 600 s by default, times its retries' backoff well within this)."""


class RateLimiterActor:
    """The cluster's one :class:`RateLimiter`, in an actor (an async one: admission waits)."""

    def __init__(
        self,
        rpm: float | None,
        input_tpm: float | None,
        output_tpm: float | None,
        concurrency: int = DEFAULT_CONCURRENCY,
        slot_lifetime: float = SLOT_LIFETIME,
    ) -> None:
        self._limiter = RateLimiter(rpm=rpm, input_tpm=input_tpm, output_tpm=output_tpm)
        self._slot_lifetime = slot_lifetime
        self._limits = AdaptiveConcurrency(concurrency, headroom=self._limiter.has_headroom)
        self._slots: dict[int, Slot] = {}
        self._next_slot = 0

    async def take_slot(self) -> tuple[int, int, float, int]:
        """A place in flight: its key, epoch and start, and the limit now."""
        self._reclaim_lost_slots()
        slot = await self._limits.acquire()
        self._next_slot += 1
        self._slots[self._next_slot] = slot
        return self._next_slot, slot.epoch, slot.started, self._limits.limit

    def _reclaim_lost_slots(self) -> None:
        """Give back the places of requests whose worker died holding them."""
        oldest = time.monotonic() - self._slot_lifetime
        for key in [key for key, slot in self._slots.items() if slot.started < oldest]:
            self._limits.release(self._slots.pop(key))

    async def give_back(self, key: int) -> None:
        slot = self._slots.pop(key, None)
        if slot is not None:
            self._limits.release(slot)

    async def slot_accepted(self, key: int) -> None:
        if key in self._slots:
            self._limits.record_accepted(self._slots[key])

    async def slot_succeeded(self, key: int) -> None:
        if key in self._slots:
            headroom = self._limiter.has_headroom(self._limits.limit)
            self._limits.record_success(self._slots[key], headroom=headroom)

    async def slot_overloaded(self, key: int, sporadic_ok: bool) -> None:
        if key in self._slots:
            self._limits.record_overload(self._slots[key], sporadic_ok=sporadic_ok)

    async def concurrency_stats(self) -> ConcurrencyStats:
        return self._limits.stats()

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

    async def headroom(self) -> float:
        return self._limiter.headroom()

    async def room(self) -> tuple[ConcurrencyStats, float, dict[str, float]]:
        """What the cluster's limiters have room for (:class:`docanalyze.run.admission.Room`)."""
        return self._limits.stats(), self._limiter.headroom(), dict(self._limiter.stats().limits)

    async def stats(self) -> LimiterStats:
        return self._limiter.stats()


def start_rate_limiter(
    rpm: float | None = None,
    input_tpm: float | None = None,
    output_tpm: float | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Any:
    """Start the cluster's rate-limiter actor (it takes no CPU); returns its handle.
    ``concurrency`` is the ceiling of requests in flight across the cluster."""
    remote: Any = ray.remote  # typed by Ray for plain functions; an actor class is fine too
    actor_class = remote(num_cpus=0, max_concurrency=10_000)(RateLimiterActor)
    return actor_class.remote(rpm, input_tpm, output_tpm, concurrency)


class ClusterRateLimiter:
    """What a worker's Claude client sees as its rate limiter: every call goes to the actor.

    Admission is awaited; what the client only reports (headers, usage, unused budget, a 429)
    is sent without waiting. The 429 pause's end is also kept here, for the client's own retry
    delay; :meth:`has_headroom` is the actor's answer to the previous question (the cluster's
    concurrency, in the actor, asks the actor's limiter directly).
    """

    def __init__(self, actor: Any) -> None:
        self._actor = actor
        self._cooldown_until = 0.0
        self._headroom = True
        self._pending_headroom: Any = None
        self._room = math.inf
        self._pending_room: Any = None

    async def acquire(
        self, input_estimate: int, max_tokens: int, on_pause: PauseListener | None = None
    ) -> Ticket:
        """Wait for the actor to admit the request (its waits are not reported to ``on_pause``)."""
        ticket: Ticket = await self._actor.acquire.remote(input_estimate, max_tokens)
        return ticket

    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> set[Kind]:
        self._actor.observe.remote(dict(headers), ticket)
        return set(parse_rate_limit_headers(headers))

    def settle(self, ticket: Ticket, inputs: int, outputs: int, kinds: Kinds = (), /) -> None:
        self._actor.settle.remote(ticket, inputs, outputs, list(kinds))

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

    def headroom(self) -> float:
        """The actor's answer to the previous question (as :meth:`has_headroom`)."""
        self._room, self._pending_room = latest(self._room, self._pending_room)
        if self._pending_room is None:
            self._pending_room = self._actor.headroom.remote()
        return self._room

    def stats(self) -> LimiterStats:
        stats: LimiterStats = ray.get(self._actor.stats.remote())
        return stats


def latest(value: Any, pending: Any) -> tuple[Any, Any]:
    """``pending``'s result and None when it is ready, else ``value`` and ``pending``."""
    if pending is not None:
        ready, _ = ray.wait([pending], timeout=0)
        if ready:
            return ray.get(ready[0]), None
    return value, pending


@dataclass(eq=False)
class ClusterSlot(Slot):
    """A place in flight held in the cluster's actor, named by its ``key`` there."""

    key: int = 0


class ClusterConcurrency:
    """What a worker's Claude client sees as its adaptive concurrency: the cluster's, in the
    actor. Taking a place is awaited; the rest is reported without waiting."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor
        self._limit = 1

    @property
    def limit(self) -> int:
        """The cluster's limit as of the last place taken."""
        return self._limit

    async def acquire(self) -> Slot:
        key, epoch, started, self._limit = await self._actor.take_slot.remote()
        return ClusterSlot(epoch, started, key=key)

    def release(self, slot: Slot) -> None:
        self._actor.give_back.remote(_key(slot))

    def record_accepted(self, slot: Slot) -> None:
        slot.accepted = True
        self._actor.slot_accepted.remote(_key(slot))

    def record_success(self, slot: Slot, *, headroom: bool = True) -> None:
        self._actor.slot_succeeded.remote(_key(slot))

    def record_overload(self, slot: Slot, *, sporadic_ok: bool = False) -> bool:
        self._actor.slot_overloaded.remote(_key(slot), sporadic_ok)
        return False  # decided in the actor

    def stats(self) -> ConcurrencyStats:
        stats: ConcurrencyStats = ray.get(self._actor.concurrency_stats.remote())
        return stats


class ClusterGauge:
    """The driver's gauge of the cluster's limiter (:mod:`docanalyze.run.admission`): the
    actor's answer to the previous question, asked again each time, never waited for."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor
        self._room = Room(limit=1, in_flight=0, waiting=0, requests=math.inf)
        self._pending: Any = None

    def room(self) -> Room:
        """The cluster's room as of a moment ago."""
        answer, self._pending = latest(None, self._pending)
        if answer is not None:
            stats, requests, limits = answer
            self._room = Room(
                stats.limit, stats.in_flight, stats.waiting, requests, tightest(limits)
            )
        if self._pending is None:
            self._pending = self._actor.room.remote()
        return self._room


def _key(slot: Slot) -> int:
    return slot.key if isinstance(slot, ClusterSlot) else 0


def _kinds(names: list[str]) -> list[Kind]:
    return [kind for kind in KINDS if kind in names]
