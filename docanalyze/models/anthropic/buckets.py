"""The rate limiter's vocabulary: the ``anthropic-ratelimit-*`` headers, token buckets, tickets.

A :class:`Bucket` holds at most its per-minute limit and refills continuously at ``limit / 60``
per second; a :class:`Ticket` is what one admitted request debited, to be settled or refunded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from docanalyze.models.anthropic.retry import header_number

__all__ = [
    "KINDS",
    "Bucket",
    "Cooldown",
    "HeaderLimits",
    "Kind",
    "LimiterCounters",
    "LimiterStats",
    "Ticket",
    "kind_of",
    "parse_rate_limit_headers",
    "parse_reset",
    "tighten_caps",
]

Kind = Literal["requests", "input-tokens", "output-tokens"]
KINDS: tuple[Kind, ...] = get_args(Kind)
"""The limits of the API's ``anthropic-ratelimit-*`` headers that a bucket paces."""


@dataclass(frozen=True)
class HeaderLimits:
    """What one response said about one bucket; ``reset`` is a wall-clock time (epoch seconds)."""

    limit: float | None
    remaining: float | None
    reset: float | None


def parse_reset(text: str | None) -> float | None:
    """An RFC 3339 time (``2025-01-01T00:00:30.5Z``) as epoch seconds, or None if unreadable."""
    if not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def parse_rate_limit_headers(headers: Mapping[str, str]) -> dict[Kind, HeaderLimits]:
    """The ``anthropic-ratelimit-{kind}-{limit,remaining,reset}`` headers, per kind present."""
    lowered = {key.lower(): value for key, value in headers.items()}
    found: dict[Kind, HeaderLimits] = {}
    for kind in KINDS:
        prefix = f"anthropic-ratelimit-{kind}-"
        limits = HeaderLimits(
            limit=header_number(lowered.get(prefix + "limit")),
            remaining=header_number(lowered.get(prefix + "remaining")),
            reset=parse_reset(lowered.get(prefix + "reset")),
        )
        if limits.limit is not None or limits.remaining is not None:
            found[kind] = limits
    return found


@dataclass
class Bucket:
    """A token bucket holding at most ``capacity`` that refills at ``capacity / 60`` per second."""

    capacity: float
    level: float
    updated: float

    @property
    def rate(self) -> float:
        return self.capacity / 60.0

    def refill(self, now: float) -> None:
        """Add what flowed in since the last update."""
        if now > self.updated:
            self.level = min(self.capacity, self.level + self.rate * (now - self.updated))
        self.updated = max(self.updated, now)

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` (at most the capacity) is available; 0 if it already is."""
        need = min(amount, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate

    def debit(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)

    def credit(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)

    @staticmethod
    def room(
        buckets: Mapping[str, Bucket],
        typical_cost: Callable[[Kind], float],
        now: float,
        cooldown: Cooldown,
    ) -> float:
        """How many requests of a typical cost every bucket (keyed ``server:requests``,
        ``cap:input-tokens``...) can afford at ``now``: 0 before ``cooldown`` ends, infinite
        while no cost is known."""
        if now < cooldown.until:
            return 0.0
        room = math.inf
        for key, bucket in buckets.items():
            bucket.refill(now)
            cost = typical_cost(next(kind for kind in KINDS if key.endswith(f":{kind}")))
            if cost > 0:
                room = min(room, bucket.level / cost)
        return room


def tighten_caps(
    buckets: dict[str, Bucket], caps: tuple[float | None, float | None, float | None], now: float
) -> None:
    """Add a ``cap:`` bucket for each of ``caps`` given (per kind, in the order of
    :data:`KINDS`), or lower an existing one to it (a cap is never raised)."""
    for kind, cap in zip(KINDS, caps, strict=True):
        if cap is None:
            continue
        bucket = buckets.get(f"cap:{kind}")
        if bucket is None:
            buckets[f"cap:{kind}"] = Bucket(capacity=cap, level=cap, updated=now)
        elif cap < bucket.capacity:
            bucket.refill(now)
            bucket.capacity, bucket.level = cap, min(bucket.level, cap)


@dataclass(frozen=True)
class Ticket:
    """One admitted request: what was debited, and the debit counters right after it."""

    estimate: int
    """The caller's raw input estimate."""
    serial: int
    """The order of admission (1 for the first request admitted)."""
    costs: Mapping[Kind, float]
    admitted_after: Mapping[Kind, float]
    """Per kind, the total admitted so far, this request included."""
    unheard_before: Mapping[Kind, float]
    """Per kind, what earlier requests still unacknowledged when this one left had cost."""
    admitted_at: float
    """When it was admitted, on the limiter's clock."""


@dataclass(frozen=True)
class LimiterStats:
    """Counters of a :class:`RateLimiter`."""

    rate_limited: int
    cooldowns: int
    waits: int
    """Requests that had to wait for a bucket or a cooldown."""
    waited_seconds: float
    """Seconds the head of the queue spent waiting: how long sends were held back in all."""
    admitted: int
    """Requests let through to the API."""
    estimate_ratio: float
    limits: Mapping[str, float]
    unacknowledged: int
    """Requests admitted whose answer (headers, error or end) has not come yet."""


@dataclass
class Cooldown:
    """The shared pause after a 429: nothing leaves before ``until``; then requests leave a
    little apart until ``ramp_until``, the next at ``next_release``."""

    until: float = 0.0
    ramp_until: float = 0.0
    next_release: float = 0.0


@dataclass
class LimiterCounters:
    """What the limiter did: 429s heard, cooldowns, waits and their seconds, requests admitted."""

    rate_limited: int = 0
    cooldowns: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    admitted: int = 0


def kind_of(key: str) -> Kind:
    """The kind of budget of bucket ``key`` (``"server:requests"`` -> ``"requests"``)."""
    kind = key.split(":", 1)[1]
    for known in KINDS:
        if known == kind:
            return known
    raise ValueError(f"not a bucket key: {key}")
