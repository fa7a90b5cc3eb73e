"""Adaptive concurrency: how many requests may be in flight, learned as the run goes (AIMD).

The limit starts low (8) and grows quickly while the server accepts requests with spare capacity
(slow start). The server's acceptance is the signal: a streamed reply's status line and
rate-limit headers arrive long before its text, so each accepted request lets the limit grow to
twice the accepted requests in flight, if the known rate limits have room for that many. Each
round of acceptances doubles the limit, as TCP's slow start doubles per round trip, and the limit
reaches a high ceiling within a few header round trips instead of a few whole replies. Every
successful reply adds one more, while the replies' latency holds.

After the first backoff it grows by one per window of replies instead (additive increase). A 429,
a 529 or a timeout halves it (multiplicative decrease, never below 1), at most once per window:
failures of requests that left before the last decrease do not cut it again. It never exceeds the
ceiling (``--concurrency``). Tasks wait first come first served, and are let in as soon as the
limit grows or a slot frees.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from docanalyze.models.anthropic.catalog import DEFAULT_CONCURRENCY

__all__ = ["DEFAULT_CONCURRENCY", "AdaptiveConcurrency", "ConcurrencyStats", "Slot"]


@dataclass(eq=False)
class Slot:
    """A place in flight; ``epoch`` says which decrease it was granted after, ``accepted``
    whether the server has accepted its request."""

    epoch: int
    started: float
    accepted: bool = False


@dataclass(frozen=True)
class ConcurrencyStats:
    """The limit now, the highest it reached, and the requests in flight and waiting."""

    limit: int
    max_limit: int
    in_flight: int
    waiting: int
    decreases: int


class AdaptiveConcurrency:
    """An async limiter whose limit adapts (AIMD with slow start) between 1 and ``ceiling``.

    ``latency_factor``: growth stops while the median latency of the recent replies exceeds this
    multiple of the baseline (the median of the first window). ``decrease`` is the factor applied
    on overload. ``headroom(n)``: whether the rate limits (when known) leave room for ``n`` more
    requests; ``overload_share``: see :meth:`record_overload`.
    """

    def __init__(
        self,
        ceiling: int = DEFAULT_CONCURRENCY,
        *,
        initial: int = 8,
        decrease: float = 0.5,
        latency_factor: float = 2.0,
        latency_window: int = 32,
        overload_share: float = 0.1,
        headroom: Callable[[int], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling < 1:
            raise ValueError(f"the concurrency ceiling must be at least 1 (got {ceiling})")
        self.ceiling = ceiling
        self._limit = float(max(1, min(initial, ceiling)))
        self._max_limit = int(self._limit)
        self.decrease = decrease
        self.latency_factor = latency_factor
        self._clock = clock
        self._slow_start = True
        self._window_successes = 0
        self._epoch = 0
        self._decreases = 0
        self._in_flight = 0
        self._accepted = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._baseline: float | None = None
        self._headroom = headroom
        self._outcomes: deque[bool] = deque(maxlen=64)
        self.overload_share = overload_share

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return max(1, int(self._limit))

    @property
    def max_limit(self) -> int:
        """The highest limit reached so far."""
        return self._max_limit

    @property
    def in_flight(self) -> int:
        """Slots held now."""
        return self._in_flight

    @property
    def slow_start(self) -> bool:
        """Whether the limit still doubles per window (no backoff has happened yet)."""
        return self._slow_start

    def lower_ceiling(self, ceiling: int) -> None:
        """Lower the ceiling (and the limit) to ``ceiling``, if that is lower (never raise it)."""
        if 1 <= ceiling < self.ceiling:
            self.ceiling = ceiling
            self._limit = min(self._limit, float(ceiling))

    async def acquire(self) -> Slot:
        """Wait for a slot, first come first served."""
        if self._in_flight < self.limit and not self._waiters:
            return self._grant()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._in_flight -= 1  # granted, but the task was cancelled: give it back
                self._wake()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return Slot(self._epoch, self._clock())

    def _grant(self) -> Slot:
        self._in_flight += 1
        return Slot(self._epoch, self._clock())

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self.limit:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self._in_flight += 1
            waiter.set_result(None)

    def release(self, slot: Slot) -> None:
        """Give back ``slot`` (after success or failure; call record_* as well to adapt)."""
        if slot.accepted:
            self._accepted -= 1
        self._in_flight -= 1
        self._wake()

    def record_accepted(self, slot: Slot) -> None:
        """The server accepted ``slot``'s request: its response headers arrived.

        In slow start the limit grows to twice the accepted requests in flight (or by one, when
        the rate limits have no room for that many). An accepted request also counts as one the
        server was not too overloaded to take, for :meth:`record_overload`'s share: a refusal
        comes back at once and a reply only seconds later, so counting replies would make the
        first few refusals look like all of the traffic.
        """
        if slot.accepted:
            return
        self._mark_accepted(slot)
        if not self._slow_start or not self._latency_holds():
            return
        target = min(self.ceiling, 2 * self._accepted)
        if target <= self.limit:
            return
        if not self._room_for(target - self._in_flight):
            target = self.limit + 1
            if target > self.ceiling or not self._room_for(1):
                return
        self._limit = float(target)
        self._max_limit = max(self._max_limit, self.limit)
        self._wake()

    def _mark_accepted(self, slot: Slot) -> None:
        slot.accepted = True
        self._accepted += 1
        self._outcomes.append(False)

    def _room_for(self, requests: int) -> bool:
        return self._headroom is None or self._headroom(max(1, requests))

    def record_success(self, slot: Slot, *, headroom: bool = True) -> None:
        """A reply arrived for ``slot``: grow if the latency holds and ``headroom`` says there is room.

        A reply whose acceptance was not recorded first counts as accepted now (without growing
        twice): in slow start, each reply then adds one, so the limit doubles per round of replies.
        """
        if not slot.accepted:
            self._mark_accepted(slot)
        latency = self._clock() - slot.started
        self._latencies.append(latency)
        if self._baseline is None and len(self._latencies) >= min(8, self._latencies.maxlen or 8):
            self._baseline = statistics.median(self._latencies)
        if not headroom or not self._latency_holds():
            return
        if self._slow_start:
            self._limit = min(float(self.ceiling), self._limit + 1.0)
        else:
            self._window_successes += 1
            if self._window_successes >= self.limit:
                self._window_successes = 0
                self._limit = min(float(self.ceiling), float(self.limit + 1))
        self._max_limit = max(self._max_limit, self.limit)
        self._wake()

    def _latency_holds(self) -> bool:
        if self._baseline is None or len(self._latencies) < 4:
            return True
        recent = statistics.median(list(self._latencies)[-8:])
        if recent <= self.latency_factor * max(self._baseline, 1e-3):
            return True
        self._slow_start = False  # latency is climbing: no more doubling
        return False

    def record_overload(self, slot: Slot, *, sporadic_ok: bool = False) -> bool:
        """``slot``'s request got a 429, 529 or timeout: back off; returns whether it decreased.

        Requests that left before the last decrease do not decrease it again. With
        ``sporadic_ok`` (529s and timeouts), an isolated failure does not cut the limit: it is
        cut when at least ``overload_share`` of the recent requests (accepted or failed) failed
        that way, so that a few random overloads do not throttle a run to a crawl while a real
        overload still does.
        """
        self._outcomes.append(True)
        if sporadic_ok and sum(self._outcomes) < max(3, self.overload_share * len(self._outcomes)):
            return False
        if slot.epoch < self._epoch or self._limit <= 1.0:
            self._slow_start = False
            return False
        self._epoch += 1
        self._window_successes = 0
        self._decreases += 1
        self._slow_start = False
        self._limit = max(1.0, self._limit * self.decrease)
        return True

    def stats(self) -> ConcurrencyStats:
        """A snapshot for progress reports and benchmarks."""
        return ConcurrencyStats(
            limit=self.limit,
            max_limit=self._max_limit,
            in_flight=self._in_flight,
            waiting=len(self._waiters),
            decreases=self._decreases,
        )
