"""One client-side rate limiter shared by every request of a run.

Three kinds of budget are paced: requests, input tokens and output tokens per minute. Each kind
may have two token buckets: the server's, learned from the ``anthropic-ratelimit-*`` headers of
every response, and the user's cap (``--rpm``, ``--input-tpm``, ``--output-tpm``), which applies
even when the server allows more. A bucket holds at most its per-minute limit and refills
continuously at ``limit / 60`` per second, so pacing works between observations.

:meth:`RateLimiter.acquire` waits, first come first served, until every known bucket can afford a
request, then debits it at once (before the response tells the truth): one request, the corrected
input estimate, and ``max_tokens`` of output (the API also reserves ``max_tokens`` at admission).
:meth:`RateLimiter.settle` corrects the debit from the reply's usage, and learns the ratio of
actual to estimated input tokens to scale later estimates. :meth:`RateLimiter.cooldown` starts
the one shared pause after a 429: no request leaves until ``retry-after`` has passed, and then
they leave a little apart, not all at the same instant.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import asdict

from docanalyze.models.anthropic.buckets import (
    KINDS,
    Bucket,
    Cooldown,
    HeaderLimits,
    Kind,
    LimiterCounters,
    LimiterStats,
    Ticket,
    kind_of,
    parse_rate_limit_headers,
    parse_reset,
    tighten_caps,
)

__all__ = [
    "KINDS",
    "Bucket",
    "HeaderLimits",
    "Kind",
    "LimiterStats",
    "RateLimiter",
    "Ticket",
    "parse_rate_limit_headers",
    "parse_reset",
]


Sleep = Callable[[float], Awaitable[object]]


class RateLimiter:
    """Paces requests so that no known bucket is overdrawn; one instance per run.

    ``rpm``, ``input_tpm``, ``output_tpm`` are the user's caps (None: only the server's limits).
    ``margin`` is added to every input estimate; the learned ratio of actual to estimated input
    tokens never falls below ``min_ratio``. ``resume_jitter`` bounds the random spread with which
    requests leave a cooldown. ``on_pause(seconds)`` hears when a request starts waiting, and
    for about how long. ``clock``, ``wall_clock``, ``sleep`` and ``rng`` are injectable so that
    tests can run on a fake clock.
    """

    def __init__(
        self,
        *,
        rpm: float | None = None,
        input_tpm: float | None = None,
        output_tpm: float | None = None,
        margin: float = 0.1,
        min_ratio: float = 0.3,
        smoothing: float = 0.3,
        resume_jitter: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_pause: Callable[[float], None] | None = None,
    ) -> None:
        self.margin = margin
        self.on_pause = on_pause
        self.min_ratio = min_ratio
        self.smoothing = smoothing
        self.resume_jitter = resume_jitter
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._ratio = 1.0
        self._buckets: dict[str, Bucket] = {}
        self.tighten_caps(rpm=rpm, input_tpm=input_tpm, output_tpm=output_tpm)
        self._cooldown = Cooldown()
        self._counters = LimiterCounters()
        self._costs_admitted: dict[Kind, float] = dict.fromkeys(KINDS, 0.0)
        self._unheard: set[int] = set()
        self._unheard_costs: dict[Kind, float] = dict.fromkeys(KINDS, 0.0)
        self._gate: asyncio.Lock | None = None
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def tighten_caps(
        self, *, rpm: float | None, input_tpm: float | None, output_tpm: float | None
    ) -> None:
        """Add the caps given, or lower the caps in force to them (a cap is never raised)."""
        tighten_caps(self._buckets, (rpm, input_tpm, output_tpm), self._clock())

    # --- estimates ---------------------------------------------------------------------------

    @property
    def estimate_ratio(self) -> float:
        """The learned ratio of actual to estimated input tokens (1.0 until a reply arrives)."""
        return self._ratio

    def input_cost(self, estimate: int) -> int:
        """Input tokens to debit for a raw ``estimate``: scaled by the ratio, plus the margin."""
        return math.ceil(estimate * max(self.min_ratio, self._ratio) * (1.0 + self.margin))

    # --- admission ---------------------------------------------------------------------------

    async def acquire(
        self, input_estimate: int, max_tokens: int, on_pause: Callable[[float], None] | None = None
    ) -> Ticket:
        """Wait until every bucket can afford the request, first come first served; debit it.

        ``on_pause`` (else the limiter's) hears if this request has to wait, and for how long."""
        on_pause = on_pause or self.on_pause
        gate, changed = self._primitives()
        costs: dict[Kind, float] = {
            "requests": 1.0,
            "input-tokens": float(self.input_cost(input_estimate)),
            "output-tokens": float(max_tokens),
        }
        async with gate:
            started = self._clock()
            waited = False
            while True:
                now = self._clock()
                delay = self._delay(costs, now)
                if delay <= 0:
                    break
                if not waited and on_pause is not None:
                    on_pause(delay)
                waited = True
                changed.clear()
                await self._sleep_or_change(delay, changed)
            if waited:  # the gate is held while waiting, so these seconds never overlap
                self._counters.waits += 1
                self._counters.waited_seconds += self._clock() - started
            return self._debit(input_estimate, costs, self._clock())

    def _delay(self, costs: Mapping[Kind, float], now: float) -> float:
        delay = max(0.0, self._cooldown.until - now)
        if now < self._cooldown.ramp_until:
            delay = max(delay, self._cooldown.next_release - now)
        for key, bucket in self._buckets.items():
            bucket.refill(now)
            delay = max(delay, bucket.wait_for(costs[kind_of(key)]))
        return delay

    def _debit(self, estimate: int, costs: Mapping[Kind, float], now: float) -> Ticket:
        for key, bucket in self._buckets.items():
            bucket.debit(costs[kind_of(key)])
        self._counters.admitted += 1
        serial = self._counters.admitted
        for kind in KINDS:
            self._costs_admitted[kind] += costs[kind]
        if now < self._cooldown.ramp_until:
            spread = self._rng.uniform(0.0, self.resume_jitter / 4)
            self._cooldown.next_release = now + spread
        ticket = Ticket(
            estimate=estimate,
            serial=serial,
            costs=dict(costs),
            admitted_after=dict(self._costs_admitted),
            unheard_before=dict(self._unheard_costs),
            admitted_at=now,
        )
        self._unheard.add(serial)
        for kind in KINDS:
            self._unheard_costs[kind] += costs[kind]
        return ticket

    async def _sleep_or_change(self, seconds: float, changed: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waker = asyncio.ensure_future(changed.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    def _primitives(self) -> tuple[asyncio.Lock, asyncio.Event]:
        loop = asyncio.get_running_loop()
        if self._gate is None or self._changed is None or self._loop is not loop:
            self._gate, self._changed, self._loop = asyncio.Lock(), asyncio.Event(), loop
        return self._gate, self._changed

    def _notify(self) -> None:
        if self._changed is not None and self._loop is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                return
            if running is self._loop:
                self._changed.set()

    # --- learning from responses -------------------------------------------------------------

    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> set[Kind]:
        """Learn the server's buckets from a response's headers; returns the kinds it reported.

        Requests overtake each other on the way to the server, and their responses on the way
        back. So when the server counted ``ticket``'s request and reported ``remaining``, it may
        or may not have counted any request admitted here after it, or before it but not yet
        acknowledged. The level is at least ``remaining`` less all of those. The bucket keeps
        the best lower bound it has; when a response shows less than the bucket holds (another
        client shares the limit, say), it starts again from this response's lower bound.
        """
        now = self._clock()
        self._hear(ticket)
        uncounted = self._uncounted(ticket)
        age = 0.0 if ticket is None else max(0.0, now - ticket.admitted_at)
        seen: set[Kind] = set()
        for kind, limits in parse_rate_limit_headers(headers).items():
            seen.add(kind)
            bucket = self._server_bucket(kind, limits.limit, now)
            if bucket is None or limits.remaining is None:
                continue
            at_least = limits.remaining - uncounted[kind]
            # The header is rounded down, and the bucket refilled while it travelled.
            if limits.remaining + 1.0 + bucket.rate * age < bucket.level:
                bucket.level = at_least
            else:
                bucket.level = min(bucket.capacity, max(bucket.level, at_least))
        if seen:
            self._notify()
        return seen

    def _server_bucket(self, kind: Kind, limit: float | None, now: float) -> Bucket | None:
        """The server's bucket of ``kind``, made or resized for ``limit``, refilled to now."""
        key = f"server:{kind}"
        bucket = self._buckets.get(key)
        capacity = limit or (bucket.capacity if bucket else None)
        if capacity is None or capacity <= 0:
            return None
        if bucket is None:
            bucket = self._buckets[key] = Bucket(capacity=capacity, level=capacity, updated=now)
        bucket.refill(now)
        bucket.capacity = capacity
        bucket.level = min(bucket.level, capacity)
        return bucket

    def _uncounted(self, ticket: Ticket | None) -> Mapping[Kind, float]:
        """Per kind, what a response to ``ticket`` may not have counted yet."""
        if ticket is None:
            return self._unheard_costs
        return {
            kind: ticket.unheard_before[kind]
            + self._costs_admitted[kind]
            - ticket.admitted_after[kind]
            for kind in KINDS
        }

    def _hear(self, ticket: Ticket | None) -> None:
        """Note that ``ticket``'s request was acknowledged (or failed): it is no longer unheard."""
        if ticket is not None and ticket.serial in self._unheard:
            self._unheard.discard(ticket.serial)
            for kind in KINDS:
                self._unheard_costs[kind] -= ticket.costs[kind]

    def settle(
        self,
        ticket: Ticket,
        input_tokens: int,
        output_tokens: int,
        observed: Collection[Kind] = (),
    ) -> None:
        """Correct ``ticket``'s debit from the reply's usage and learn the estimate ratio.

        The server's buckets of the kinds in ``observed`` just learned from this reply's
        headers, which already count the request; they are left alone.
        """
        if ticket.estimate > 0:
            actual = input_tokens / ticket.estimate
            self._ratio += self.smoothing * (actual - self._ratio)
        refunds: dict[Kind, float] = {
            "input-tokens": ticket.costs["input-tokens"] - input_tokens,
            "output-tokens": ticket.costs["output-tokens"] - output_tokens,
        }
        self._refund(ticket, refunds, observed)

    def release_unused(
        self,
        ticket: Ticket,
        *,
        rejected: bool,
        observed: Collection[Kind] = (),
    ) -> None:
        """Give back a failed request's output reservation (and its input, if it was rejected)."""
        refunds: dict[Kind, float] = {"output-tokens": ticket.costs["output-tokens"]}
        if rejected:
            refunds["input-tokens"] = ticket.costs["input-tokens"]
        self._refund(ticket, refunds, observed)

    def _refund(
        self, ticket: Ticket, refunds: Mapping[Kind, float], observed: Collection[Kind]
    ) -> None:
        self._hear(ticket)
        now = self._clock()
        for key, bucket in self._buckets.items():
            kind = kind_of(key)
            if kind not in refunds or (key.startswith("server:") and kind in observed):
                continue
            bucket.refill(now)
            amount = refunds[kind]
            if amount >= 0:
                bucket.credit(amount)
            else:
                bucket.debit(-amount)
        self._notify()

    # --- 429 ---------------------------------------------------------------------------------

    def cooldown(
        self, retry_after: float | None, headers: Mapping[str, str] | None = None
    ) -> float:
        """Start (or extend) the shared pause after a 429; returns the seconds until it ends.

        The pause lasts ``retry_after`` seconds (1 s if the server gave none) plus a little
        jitter; acquire() also keeps waiting for whatever the learned buckets imply.
        """
        self._counters.rate_limited += 1
        if headers:
            self.observe(headers)
        now = self._clock()
        until = now + (1.0 if retry_after is None else retry_after)
        until += self._rng.uniform(0.0, self.resume_jitter / 2)
        if until > self._cooldown.until:
            if self._cooldown.until <= now:
                self._counters.cooldowns += 1
            self._cooldown.until = until
            self._cooldown.ramp_until = until + self.resume_jitter
            self._cooldown.next_release = until
        self._notify()
        return max(0.0, self._cooldown.until - now)

    def cooldown_remaining(self) -> float:
        """Seconds until the current 429 cooldown ends (0 when none is in force)."""
        return max(0.0, self._cooldown.until - self._clock())

    # --- headroom and stats ------------------------------------------------------------------

    def has_headroom(self, requests: int) -> bool:
        """Whether every learned server bucket could afford ``requests`` more average requests.

        True when no server limit is known yet: only a response can tell otherwise.
        """
        now = self._clock()
        for key, bucket in self._buckets.items():
            if not key.startswith("server:"):
                continue
            bucket.refill(now)
            per_request = self._typical_cost(kind_of(key))
            if bucket.level < per_request * requests:
                return False
        return True

    def headroom(self) -> float:
        """Requests of a typical cost every bucket can afford now; 0 in a 429 pause."""
        return Bucket.room(self._buckets, self._typical_cost, self._clock(), self._cooldown)

    def _typical_cost(self, kind: Kind) -> float:
        count = self._counters.admitted
        return self._costs_admitted[kind] / count if count else 0.0

    def stats(self) -> LimiterStats:
        """A snapshot of the counters and of the limits known now (per bucket key)."""
        return LimiterStats(
            **asdict(self._counters),
            estimate_ratio=self._ratio,
            limits={key: bucket.capacity for key, bucket in self._buckets.items()},
            unacknowledged=len(self._unheard),
        )

    def level(self, key: str) -> float | None:
        """The current level of bucket ``key`` (``"server:requests"``, ``"cap:input-tokens"``…)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.refill(self._clock())
        return bucket.level
