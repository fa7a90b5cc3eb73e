"""Rate limits like the real Messages API's: token buckets, 429 answers and ``anthropic-ratelimit-*``.

Each configured limit is a bucket holding at most its per-minute limit, refilled continuously
(limit/60 per second) and starting full. A ``/v1/messages`` request needs 1 request, its input
tokens (the server's count) and ``max_tokens`` output tokens (the real API's estimate at the
start). When the reply is complete, the unused part of the output estimate is given back. If any
bucket is short, the request is refused with a 429 ``rate_limit_error`` naming the limit, a
``retry-after`` header, and nothing taken. A request that needs more than a whole bucket can never
pass: it gets the same 429 every time, as on the real API.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from fakeserver.errors import ApiError
from fakeserver.policies import Exchange

__all__ = ["RateLimiter", "RateLimits", "TokenBucket"]

SECONDS_PER_MINUTE = 60.0
HEADER_PREFIX = "anthropic-ratelimit-"
RATE_LIMITS_DOCS = "https://docs.claude.com/en/api/rate-limits"


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits of one organization; None means unlimited."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None for no limit), got {value}")


class TokenBucket:
    """Holds up to ``limit`` units, refilled continuously at ``limit`` per minute; starts full.

    Not thread-safe on its own: :class:`RateLimiter` serializes access. Times are seconds on a
    monotonic clock, passed in by the caller.
    """

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.per_second = limit / SECONDS_PER_MINUTE
        self._level = float(limit)
        self._updated = now

    def level(self, now: float) -> float:
        """Units available at ``now``."""
        elapsed = max(0.0, now - self._updated)
        self._level = min(float(self.limit), self._level + elapsed * self.per_second)
        self._updated = max(self._updated, now)
        return self._level

    def seconds_until(self, amount: int, now: float) -> float:
        """Seconds until ``amount`` units are available: 0 if they are, infinite if never."""
        if amount > self.limit:
            return math.inf
        return max(0.0, amount - self.level(now)) / self.per_second

    def seconds_until_full(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        return (self.limit - self.level(now)) / self.per_second

    def take(self, amount: int, now: float) -> None:
        """Remove ``amount`` units (the caller checked they are available)."""
        self._level = self.level(now) - amount

    def give_back(self, amount: int, now: float) -> None:
        """Return ``amount`` unused units, up to the limit."""
        self._level = min(float(self.limit), self.level(now) + amount)


@dataclass(frozen=True)
class _Need:
    """What one request needs from one bucket."""

    name: str  # as in the header names: "requests", "input-tokens", "output-tokens"
    unit: str  # as in the 429 message: "requests", "input tokens", "output tokens"
    bucket: TokenBucket
    amount: int


class RateLimiter:
    """Admits ``/v1/messages`` requests within :class:`RateLimits`; thread-safe.

    Use it as a :class:`~fakeserver.policies.RequestPolicy` (its :meth:`admit` takes
    the budget and sets the headers) and call :meth:`headers` for responses that never reach it.
    ``clock`` (monotonic seconds) drives the buckets; ``wall_clock`` (Unix seconds) dates resets.
    """

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        now = clock()
        self._buckets: dict[str, TokenBucket] = {}
        for name, limit in (
            ("requests", limits.requests_per_minute),
            ("input-tokens", limits.input_tokens_per_minute),
            ("output-tokens", limits.output_tokens_per_minute),
        ):
            if limit is not None:
                self._buckets[name] = TokenBucket(limit, now)

    def admit(self, exchange: Exchange) -> None:
        """Take the request's budget and add the rate-limit headers, or raise a 429 ApiError.

        A refused request takes nothing. An admitted one gets back the unused part of its
        ``max_tokens`` estimate when the exchange finishes.
        """
        needs = self._needs(exchange)
        with self._lock:
            now = self._clock()
            waits = [(need.bucket.seconds_until(need.amount, now), need) for need in needs]
            longest = max(waits, key=lambda wait: wait[0], default=None)
            if longest is not None and longest[0] > 0:
                exchange.response_headers.update(self._headers_at(now))
                raise self._refusal(longest[1], longest[0], now)
            for need in needs:
                need.bucket.take(need.amount, now)
            exchange.response_headers.update(self._headers_at(now))
        if "output-tokens" in self._buckets:
            estimate = exchange.max_tokens
            exchange.on_finished.append(
                lambda output_tokens: self._refund(estimate - output_tokens)
            )

    def headers(self) -> dict[str, str]:
        """The ``anthropic-ratelimit-*`` headers for the buckets as they are now."""
        with self._lock:
            return self._headers_at(self._clock())

    def _needs(self, exchange: Exchange) -> list[_Need]:
        amounts = {
            "requests": ("requests", 1),
            "input-tokens": ("input tokens", exchange.input_tokens),
            "output-tokens": ("output tokens", exchange.max_tokens),
        }
        return [
            _Need(name, amounts[name][0], bucket, amounts[name][1])
            for name, bucket in self._buckets.items()
        ]

    def _refusal(self, need: _Need, wait: float, now: float) -> ApiError:
        if math.isinf(wait):  # never fits: come back when the bucket is full, to no avail
            wait = need.bucket.seconds_until_full(now)
        message = (
            f"This request would exceed the rate limit for your organization of "
            f"{need.bucket.limit:,} {need.unit} per minute. For details, refer to: "
            f"{RATE_LIMITS_DOCS}. You can see the response headers for current usage. Please "
            f"reduce the prompt length or the maximum tokens requested, or try again later."
        )
        retry_after = max(1, math.ceil(wait))
        return ApiError(429, message, headers={"retry-after": str(retry_after)})

    def _refund(self, unused_output_tokens: int) -> None:
        if unused_output_tokens <= 0:
            return
        with self._lock:
            self._buckets["output-tokens"].give_back(unused_output_tokens, self._clock())

    def _headers_at(self, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        wall_now = self._wall_clock()
        for name, bucket in self._buckets.items():
            headers.update(_bucket_headers(name, bucket, now, wall_now))
        token_buckets = [
            self._buckets[name]
            for name in ("input-tokens", "output-tokens")
            if name in self._buckets
        ]
        if token_buckets:
            tightest = min(token_buckets, key=lambda bucket: bucket.level(now))
            headers.update(_bucket_headers("tokens", tightest, now, wall_now))
        return headers


def _bucket_headers(name: str, bucket: TokenBucket, now: float, wall_now: float) -> dict[str, str]:
    """``-limit``, ``-remaining`` (floor) and ``-reset`` (RFC 3339, when full again) for a bucket."""
    full_at = wall_now + bucket.seconds_until_full(now)
    return {
        f"{HEADER_PREFIX}{name}-limit": str(bucket.limit),
        f"{HEADER_PREFIX}{name}-remaining": str(math.floor(bucket.level(now))),
        f"{HEADER_PREFIX}{name}-reset": rfc3339(full_at),
    }


def rfc3339(unix_seconds: float) -> str:
    """``unix_seconds`` rounded up to the second, as RFC 3339 UTC: ``2025-01-15T19:39:24Z``."""
    moment = datetime.fromtimestamp(math.ceil(unix_seconds), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
