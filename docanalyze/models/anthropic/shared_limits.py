"""One rate limiter and one adaptive concurrency per API and key, shared by the whole process.

The API's limits belong to the organization behind a key, not to a client: clients that pace
themselves each on their own all spend the same budget, and most of them hit a 429. So every
Claude client of the process that talks to the same base URL with the same key (every analysis
of one :class:`~docanalyze.Pipeline`, gathered or one after another, and every other Pipeline)
joins one :class:`SharedLimits` here, made when the first client needs it and forgotten when the
last one lets it go. The registry's keys hold a digest of the key, never the key itself.

Caps combine to the strictest: a client that joins with a lower ``--rpm``, ``--input-tpm``,
``--output-tpm`` or ``--concurrency`` lowers them for every user of the shared limits, until the
last user lets go. Limits are shared within one event loop; the blocking calls of every thread
run on one loop of the process (:mod:`docanalyze.run.blocking`), while coroutines run on loops
of the caller's own (``asyncio.run`` in several threads) get limits per loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass, field

from docanalyze.models.anthropic.concurrency import DEFAULT_CONCURRENCY, AdaptiveConcurrency
from docanalyze.models.anthropic.error_messages import DEFAULT_BASE_URL
from docanalyze.models.anthropic.pacer import RequestPacer, SlotLimiter
from docanalyze.models.anthropic.ratelimit import RateLimiter

__all__ = ["REGISTRY", "Caps", "ClientLimits", "LimitsKey", "LimitsRegistry", "SharedLimits"]


@dataclass(frozen=True)
class LimitsKey:
    """Which limits: the API's base URL and a digest of the key (never the key)."""

    base_url: str
    key_digest: str

    @classmethod
    def of(cls, base_url: str | None, secret: str) -> LimitsKey:
        """The key of the limits ``secret`` (an API key or token) has at ``base_url``."""
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]
        return cls((base_url or DEFAULT_BASE_URL).rstrip("/"), digest)


@dataclass(frozen=True)
class Caps:
    """What one client asks of the limits: its caps per minute and its concurrency ceiling."""

    rpm: float | None = None
    input_tpm: float | None = None
    output_tpm: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    initial_concurrency: int = 8


@dataclass(eq=False)
class SharedLimits:
    """The limits every user of one :class:`LimitsKey` (in one event loop) shares."""

    key: LimitsKey
    rate: RateLimiter
    concurrency: AdaptiveConcurrency
    loop: asyncio.AbstractEventLoop | None
    users: int = 0
    closed: bool = field(default=False)

    @classmethod
    def new(
        cls, key: LimitsKey, caps: Caps, loop: asyncio.AbstractEventLoop | None
    ) -> SharedLimits:
        """Fresh limits at ``caps``, not registered anywhere."""
        rate = RateLimiter(rpm=caps.rpm, input_tpm=caps.input_tpm, output_tpm=caps.output_tpm)
        return cls(key, rate, _concurrency(caps, rate), loop)

    def tighten(self, caps: Caps) -> None:
        """Lower the caps and the ceiling to ``caps``' where they are stricter."""
        self.rate.tighten_caps(rpm=caps.rpm, input_tpm=caps.input_tpm, output_tpm=caps.output_tpm)
        self.concurrency.lower_ceiling(caps.concurrency)


class LimitsRegistry:
    """The process's shared limits, one per (event loop, :class:`LimitsKey`), reference-counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits: dict[tuple[asyncio.AbstractEventLoop | None, LimitsKey], SharedLimits] = {}

    def acquire(self, key: LimitsKey, caps: Caps) -> SharedLimits:
        """Join the limits of ``key`` in the running event loop (made now if none); tighten them
        to ``caps``. Call :meth:`release` when done."""
        loop = _running_loop()
        with self._lock:
            limits = self._limits.get((loop, key))
            if limits is None:
                limits = self._limits[(loop, key)] = SharedLimits.new(key, caps, loop)
            else:
                limits.tighten(caps)
            limits.users += 1
            return limits

    def release(self, limits: SharedLimits) -> None:
        """Leave ``limits``; the last user to leave closes them (the next user makes new ones)."""
        with self._lock:
            if limits.closed:
                return
            limits.users -= 1
            if limits.users <= 0:
                limits.closed = True
                if self._limits.get((limits.loop, limits.key)) is limits:
                    del self._limits[(limits.loop, limits.key)]

    def keys(self) -> list[LimitsKey]:
        """The keys of the limits in use now."""
        with self._lock:
            return [key for _, key in self._limits]

    def __repr__(self) -> str:
        return f"LimitsRegistry({self.keys()!r})"


class ClientLimits:
    """The limiters one client paces its requests with.

    Injected limiters (``rate_limiter``, ``concurrency_limiter``: a Ray cluster's) are used as
    given, the missing one made for this client alone. Otherwise the client joins the shared
    limits of ``key`` in ``registry`` at its first request in an event loop, and leaves them
    when it closes (:meth:`leave`); a later request joins again.
    """

    def __init__(
        self,
        key: LimitsKey,
        caps: Caps,
        rate_limiter: RequestPacer | None = None,
        concurrency_limiter: SlotLimiter | None = None,
        registry: LimitsRegistry | None = None,
    ) -> None:
        self._key, self._caps = key, caps
        self._registry = registry or REGISTRY
        self._injected: tuple[RequestPacer, SlotLimiter] | None = None
        if rate_limiter is not None or concurrency_limiter is not None:
            rate = rate_limiter or RateLimiter(
                rpm=caps.rpm, input_tpm=caps.input_tpm, output_tpm=caps.output_tpm
            )
            self._injected = (rate, concurrency_limiter or _concurrency(caps, rate))
        self._joined: SharedLimits | None = None
        self._last: SharedLimits | None = None

    @property
    def rate(self) -> RequestPacer:
        """The rate limiter (the shared one is joined when asked for inside an event loop)."""
        return self._injected[0] if self._injected else self._current().rate

    @property
    def concurrency(self) -> SlotLimiter:
        """The adaptive concurrency (joined, like :attr:`rate`)."""
        return self._injected[1] if self._injected else self._current().concurrency

    @property
    def shared(self) -> SharedLimits | None:
        """The shared limits joined now (None: none joined, or the limiters are injected)."""
        return self._joined

    def leave(self) -> None:
        """Let the shared limits go (the last user to leave closes them)."""
        joined, self._joined = self._joined, None
        if joined is not None:
            self._registry.release(joined)
            self._last = joined

    def _current(self) -> SharedLimits:
        loop = _running_loop()
        joined = self._joined
        if joined is not None and (joined.loop is loop or loop is None):
            return joined
        if loop is None:  # not running: what the last run used, or unregistered limits
            self._last = self._last or SharedLimits.new(self._key, self._caps, None)
            return self._last
        self.leave()  # joined in an earlier event loop
        self._joined = self._registry.acquire(self._key, self._caps)
        return self._joined


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


REGISTRY = LimitsRegistry()
"""The process's registry: every :class:`~docanalyze.models.anthropic.model.AnthropicModel` that
paces itself joins its limits here."""


def _concurrency(caps: Caps, rate: RequestPacer) -> AdaptiveConcurrency:
    """The adaptive concurrency of ``caps``, growing only while ``rate`` has headroom."""
    return AdaptiveConcurrency(
        caps.concurrency, initial=caps.initial_concurrency, headroom=rate.has_headroom
    )
