"""Adaptive concurrency: how many requests may be in flight, learned as the run goes (AIMD).

The limit starts low (8) and, while replies come back fast and the rate-limit headers show spare
capacity, grows by one per successful reply (slow start: it doubles every window of replies).
Slow start also ramps with time, ``ramp_per_second`` more slots each second, while no overload has
been seen and the headers (once known) show room: with replies that take seconds, waiting a whole
reply per doubling would leave most of the allowed rate unused, and a smooth ramp never fires a
burst (a 429 comes back at once and stops it);
after the first backoff it grows by one per window instead (additive increase). A 429, a 529 or
a timeout halves it (multiplicative decrease, never below 1), at most once per window: failures
of requests that left before the last decrease do not cut it again. It never exceeds the
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

__all__ = ["AdaptiveConcurrency", "ConcurrencyStats", "Slot"]

RAMP_STEP = 2.0
"""The most slots one step of slow start's time ramp adds."""


@dataclass(frozen=True)
class Slot:
    """A place in flight; ``epoch`` says which decrease it was granted after."""

    epoch: int
    started: float


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
    on overload. ``ramp_per_second``: slow start's time ramp. ``headroom(n)``: whether the
    rate limits (when known) leave room for ``n`` requests in flight.
    """

    def __init__(
        self,
        ceiling: int = 64,
        *,
        initial: int = 8,
        decrease: float = 0.5,
        latency_factor: float = 2.0,
        latency_window: int = 32,
        ramp_per_second: float = 100.0,
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
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._baseline: float | None = None
        self._ramp_per_second = ramp_per_second
        self._ramp_from = self._limit
        self._ramp_started: float | None = None
        self._ramp_timer: asyncio.TimerHandle | None = None
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

    async def acquire(self) -> Slot:
        """Wait for a slot, first come first served."""
        self._ramp()
        if self._in_flight < self.limit and not self._waiters:
            return self._grant()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._schedule_ramp()
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

    def _ramp(self) -> None:
        """Slow start's time ramp: raise the limit by the time elapsed since the last step.

        A step adds at most ``RAMP_STEP`` slots, so an event loop that was busy for a while
        (rendering hundreds of prompts, say) does not turn into one burst of sends.
        """
        if not self._slow_start or self._ramp_per_second <= 0:
            return
        now = self._clock()
        if self._ramp_started is None:
            self._ramp_started = now
            return
        grown = min((now - self._ramp_started) * self._ramp_per_second, RAMP_STEP)
        target = min(float(self.ceiling), max(self._limit, self._ramp_from) + grown)
        if int(target) <= self.limit:
            return
        if self._headroom is not None and not self._headroom(int(target)):
            return
        self._ramp_started = now
        self._ramp_from = target
        self._limit = target
        self._max_limit = max(self._max_limit, self.limit)

    def _schedule_ramp(self) -> None:
        if not self._slow_start or self._ramp_per_second <= 0 or self._ramp_timer is not None:
            return
        if self.limit >= self.ceiling:
            return
        loop = asyncio.get_running_loop()
        self._ramp_timer = loop.call_later(1.0 / self._ramp_per_second, self._ramp_tick)

    def _ramp_tick(self) -> None:
        self._ramp_timer = None
        self._ramp()
        self._wake()
        if self._waiters:
            self._schedule_ramp()

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
        del slot
        self._in_flight -= 1
        self._wake()

    def record_success(self, slot: Slot, *, headroom: bool = True) -> None:
        """A reply arrived for ``slot``: grow if the latency holds and ``headroom`` says there is room."""
        latency = self._clock() - slot.started
        self._latencies.append(latency)
        self._outcomes.append(False)
        if self._baseline is None and len(self._latencies) >= min(8, self._latencies.maxlen or 8):
            self._baseline = statistics.median(self._latencies)
        if not headroom or not self._latency_holds():
            return
        if self._slow_start:
            self._ramp()
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
        cut when at least ``overload_share`` of the recent replies failed that way, so that a few
        random overloads do not throttle a run to a crawl while a real overload still does.
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
