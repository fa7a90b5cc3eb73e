"""Counters of what the server did with message requests and batches, for tests and benchmarks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace

__all__ = ["ServerStats", "StatsRecorder"]


@dataclass(frozen=True)
class ServerStats:
    """A snapshot of the counters; only ``/v1/messages`` requests count (not count_tokens).

    ``requests``: received (valid or not). ``ok``: answered 200 (a stream counts when it starts).
    ``rate_limited``, ``overloaded``, ``server_errors``: answered 429, 529, 500 (a failing
    responder's 500 too). ``dropped``, ``hung``: closed without a reply, at once or after a hang.
    ``slow_streams``: streamed replies sent with their events paced apart. ``in_flight``: being
    handled now (from arrival to the last byte sent); ``max_in_flight``: the most at once.

    ``batches``: Message Batches created; ``batch_requests``: the requests they hold (the
    counters above do not include them). ``cache_reads`` and ``cache_writes``: replies (direct or
    in a batch) that read or wrote the prompt cache; ``cache_read_tokens`` and
    ``cache_write_tokens``: the tokens they read and wrote. ``cut_replies``: replies that stopped
    at ``max_tokens`` or at the window; ``refusals``: replies that stopped with ``refusal``;
    ``thinking_tokens``: the tokens replies spent thinking (with model rules).
    """

    requests: int = 0
    ok: int = 0
    rate_limited: int = 0
    overloaded: int = 0
    server_errors: int = 0
    dropped: int = 0
    hung: int = 0
    slow_streams: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    batches: int = 0
    batch_requests: int = 0
    cache_reads: int = 0
    cache_writes: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cut_replies: int = 0
    refusals: int = 0
    thinking_tokens: int = 0


_COUNTER_BY_STATUS = {200: "ok", 429: "rate_limited", 529: "overloaded", 500: "server_errors"}
_COUNTERS = frozenset(field.name for field in fields(ServerStats))


class StatsRecorder:
    """Thread-safe counters behind :class:`ServerStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = ServerStats()

    def snapshot(self) -> ServerStats:
        """The counters as they are now."""
        with self._lock:
            return self._stats

    def reset(self) -> None:
        """Zero every counter except ``in_flight``; ``max_in_flight`` restarts from it."""
        with self._lock:
            in_flight = self._stats.in_flight
            self._stats = ServerStats(in_flight=in_flight, max_in_flight=in_flight)

    def request_started(self) -> None:
        """A request arrived: count it and raise the in-flight count."""
        with self._lock:
            in_flight = self._stats.in_flight + 1
            self._stats = replace(
                self._stats,
                requests=self._stats.requests + 1,
                in_flight=in_flight,
                max_in_flight=max(self._stats.max_in_flight, in_flight),
            )

    def request_finished(self) -> None:
        """A request's reply has been sent (or its connection closed)."""
        with self._lock:
            self._stats = replace(self._stats, in_flight=self._stats.in_flight - 1)

    def answered(self, status: int) -> None:
        """Count an answer with HTTP ``status`` (statuses without a counter are ignored)."""
        counter = _COUNTER_BY_STATUS.get(status)
        if counter is not None:
            self.add(counter)

    def add(self, counter: str, amount: int = 1) -> None:
        """Add ``amount`` to ``counter``, a :class:`ServerStats` field name."""
        if counter not in _COUNTERS:
            raise ValueError(f"no such counter: {counter!r} (known: {sorted(_COUNTERS)})")
        with self._lock:
            value = getattr(self._stats, counter) + amount
            self._stats = replace(self._stats, **{counter: value})
