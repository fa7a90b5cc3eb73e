"""The Claude backend: the official ``anthropic`` SDK, our one retry loop, paced to the limits.

The SDK's own retries are off (``max_retries=0``); :func:`docanalyze.models.anthropic.retry.call_with_retries`
is the only retry in the program. Every attempt takes a slot from an adaptive concurrency limiter
(:mod:`docanalyze.models.anthropic.concurrency`), then waits for the run's shared rate limiter
(:mod:`docanalyze.models.anthropic.ratelimit`), which learns the limits from the response headers and
pauses every request after a 429. Every attempt is streamed (:mod:`docanalyze.models.anthropic.sender`):
the response headers arrive as soon as the API accepts the request, and both limiters learn from
them at once. A request gives its slot back while it waits to be retried. Repeated overloads of the primary model switch to a fallback model
(:mod:`docanalyze.models.anthropic.fallback`). A request that fails for good becomes a one-line
:class:`~docanalyze.errors.ModelError` that says what to do; the API key never appears in it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import anthropic

from docanalyze.errors import ConfigError
from docanalyze.events import EventHandler, waiting_on
from docanalyze.models.anthropic.attempt import FAILURES, FailureCounts, RequestAttempts
from docanalyze.models.anthropic.calibration import Calibration
from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.catalog import CLAUDE_FEATURES, capabilities_of
from docanalyze.models.anthropic.client import credentials, new_client
from docanalyze.models.anthropic.concurrency import DEFAULT_CONCURRENCY
from docanalyze.models.anthropic.error_messages import Endpoint, failure_error
from docanalyze.models.anthropic.fallback import FallbackSwitch
from docanalyze.models.anthropic.message_parts import reply_from_message
from docanalyze.models.anthropic.model_api import (
    ModelDescription,
    describe_from_catalog,
    limits_for,
)
from docanalyze.models.anthropic.model_lookup import ModelLookup
from docanalyze.models.anthropic.pacer import RequestPacer, SlotLimiter
from docanalyze.models.anthropic.retry import (
    RetryEvent,
    RetryPolicy,
    call_with_retries,
)
from docanalyze.models.anthropic.sender import BlockCallback, MessageSender
from docanalyze.models.anthropic.shared_limits import Caps, ClientLimits, LimitsKey
from docanalyze.models.base import ModelReply, ModelRequest, estimate_input_tokens

if TYPE_CHECKING:
    from docanalyze.store import RunStore

__all__ = [
    "NO_KEY_MESSAGE",
    "AnthropicModel",
    "ClientStats",
]

log = logging.getLogger(__name__)

NO_KEY_MESSAGE = (
    "ANTHROPIC_API_KEY is not set: set it to use Claude (docanalyze report runs without it "
    "too, with --backend extractive; docanalyze extract needs Claude)"
)
DEFAULT_RETRY_POLICY = RetryPolicy()
DEFAULT_STALL_TIMEOUT = 60.0
"""Seconds a stream may send nothing (the API sends pings while it works) before it is cut."""

# What a request can fail with that is not a bug: API errors, dropped or timed-out connections.

TextCallback = Callable[[str], None]
RestartCallback = Callable[[], None]


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of what the client did so far, for progress reports and benchmarks.

    ``attempts`` counts HTTP attempts and ``retries`` the attempts that were retried;
    ``rate_limited`` (429), ``overloaded`` (529), ``server_errors`` (other 5xx), ``timeouts``
    and ``dropped`` (connections that failed without a response) count failed attempts; the
    rate limiter's counters (``rate_limited``, ``cooldowns``, waits) and the concurrency are
    those of the limits the client shares with the process's other clients of the same key.
    """

    attempts: int
    retries: int
    rate_limited: int
    overloaded: int
    server_errors: int
    timeouts: int
    dropped: int
    cooldowns: int
    rate_waits: int
    rate_wait_seconds: float
    concurrency_limit: int
    concurrency_max: int
    fallback_used: bool
    fallback_replies: int


class AnthropicModel:
    """Claude through the Messages API; implements :class:`docanalyze.models.base.Model`.

    ``api_key`` and ``base_url`` default to ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``)
    and ``ANTHROPIC_BASE_URL``. Every attempt first takes a slot from the adaptive concurrency
    limiter (``concurrency`` is its ceiling, ``initial_concurrency`` its start), then waits for
    the :class:`~docanalyze.models.anthropic.ratelimit.RateLimiter` (``rpm``, ``input_tpm``,
    ``output_tpm`` cap it on top of the server's limits). Both are shared by every client of the
    process with the same base URL and key (:mod:`docanalyze.models.anthropic.shared_limits`),
    unless ``rate_limiter`` or ``concurrency_limiter`` are given. ``timeout`` bounds each attempt; a
    stream that sends nothing for ``stall_timeout`` seconds is cut. After
    ``fallback_after`` consecutive 529/5xx failures of the primary model, attempts go to
    ``fallback_model`` and ``on_fallback(primary, fallback)`` is called once. ``on_pause(seconds)``
    hears when one of its requests waits for the rate limits (not for a cluster's limiter).
    ``attempts`` and ``retries`` count HTTP attempts and retries; :meth:`stats` has the rest.
    The SDK client is created inside the running event loop, again whenever the loop changes.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        context_window: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        initial_concurrency: int = 8,
        timeout: float = 600.0,
        stall_timeout: float | None = None,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        on_retry: Callable[[RetryEvent], None] | None = None,
        rpm: int | None = None,
        input_tpm: int | None = None,
        output_tpm: int | None = None,
        fallback_model: str | None = None,
        fallback_after: int = 3,
        on_fallback: Callable[[str, str], None] | None = None,
        on_pause: Callable[[float], None] | None = None,
        rate_limiter: RequestPacer | None = None,
        concurrency_limiter: SlotLimiter | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1 (got {concurrency})")
        if timeout <= 0:
            raise ConfigError(f"the request timeout must be positive (got {timeout})")
        if stall_timeout is not None and stall_timeout <= 0:
            raise ConfigError(f"the stall timeout must be positive (got {stall_timeout})")
        self._model = model
        self._credentials = credentials(api_key, base_url, missing=NO_KEY_MESSAGE)
        self._explicit_window = context_window
        self._descriptions: dict[str, ModelDescription] = {}
        self.described = False
        """Whether :meth:`describe` ran (the Models API is asked once per client)."""
        self.calibration = Calibration(model)
        self._apply_limits(describe_from_catalog(model))
        self.concurrency = concurrency
        self.timeout = timeout
        self.stall_timeout = min(timeout, stall_timeout or DEFAULT_STALL_TIMEOUT)
        self.retry = retry
        self.on_retry = on_retry
        self.attempts = 0
        self.retries = 0
        self.on_pause = on_pause
        caps = Caps(rpm, input_tpm, output_tpm, concurrency, initial_concurrency)
        key = LimitsKey.of(self._credentials.base_url, self._credentials.secrets[0])
        self.pacing = ClientLimits(key, caps, rate_limiter, concurrency_limiter)
        """The limiters: given, else shared with the process's clients of the same key."""
        self.fallback = FallbackSwitch(
            model, fallback_model, threshold=fallback_after, on_switch=on_fallback
        )
        self.failures = FailureCounts()
        self._client: anthropic.AsyncAnthropic | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def limiter(self) -> RequestPacer:
        """The rate limiter every attempt waits for (see :attr:`pacing`)."""
        return self.pacing.rate

    @property
    def limits(self) -> SlotLimiter:
        """The adaptive concurrency every attempt takes a slot from (see :attr:`pacing`)."""
        return self.pacing.concurrency

    features = CLAUDE_FEATURES
    """Every request is streamed; ``complete`` takes ``on_text`` and ``on_restart``."""

    @property
    def name(self) -> str:
        """The model identifier sent with each request (unless a request overrides it)."""
        return self._model

    @property
    def context_window(self) -> int:
        """Tokens a request may use in all: explicit, else the catalog's, else 200,000."""
        return self._context_window

    @property
    def max_output_tokens(self) -> int:
        """The largest ``max_tokens`` to ask for: the catalog's limit, at most half the window."""
        return self._max_output_tokens

    def _apply_limits(self, description: ModelDescription | None) -> None:
        """Take the window and output limit (:func:`~docanalyze.models.anthropic.model_api.limits_for`)."""
        limits = limits_for(
            self._model, context_window=self._explicit_window, description=description
        )
        self.context_window_known = limits.known
        self._context_window = limits.context_window
        self._max_output_tokens = limits.max_output_tokens

    def rules_of(self, model: str) -> Capabilities:
        """The request rules of ``model``: what the Models API said, else the catalog's."""
        described = self._descriptions.get(model)
        return described.capabilities if described else capabilities_of(model)

    @property
    def description(self) -> ModelDescription | None:
        """What the Models API said of the primary model (None until :meth:`describe`)."""
        return self._descriptions.get(self._model)

    async def describe(self, store: RunStore | None) -> list[str]:
        """Learn the primary model (and the fallback) from the Models API, once a day.

        Sets the context window and output limit (unless ``--context-window`` was given) and
        the request rules. Raises :class:`ConfigError` for a retired or unknown model; returns
        the notices to show (a deprecated model, a Models API that could not be asked).
        """
        self.described = True
        lookup = ModelLookup(self._bind_to_running_loop(), store, self.endpoint)
        notices: list[str] = []
        for name in dict.fromkeys((self._model, self.fallback.fallback)):
            if name is None:
                continue
            option = "--model" if name == self._model else "--fallback-model"
            description, notice = await lookup.describe(name, option)
            if notice:
                notices.append(notice)
            if description is not None:
                self._descriptions[name] = description
        self._apply_limits(
            self._descriptions.get(self._model) or describe_from_catalog(self._model)
        )
        if not self.context_window_known:
            notices.append(
                f"{self._model} is not in docanalyze's model table: assuming a "
                f"{self._context_window:,}-token context window; pass --context-window to set it"
            )
        return notices

    async def prepare(
        self, store: RunStore | None, on_event: EventHandler | None = None
    ) -> list[str]:
        """Before the run's first request: :meth:`describe`, unless it ran (its notices)."""
        if self.described:
            return []
        with waiting_on(on_event, "the Models API"):
            return await self.describe(store)

    async def calibrate(
        self,
        store: RunStore | None,
        prompts: Sequence[str],
        on_event: EventHandler | None = None,
    ) -> None:
        """Fit the token estimate to ``count_tokens`` on a few of the run's own prompts."""
        if self.calibration.calibrated:
            return
        with waiting_on(on_event, "count_tokens"):
            await self.calibration.fit(self._bind_to_running_loop(), store, self.endpoint, prompts)

    @property
    def switched_to_fallback(self) -> bool:
        """Whether attempts for the primary model now go to the fallback model."""
        return self.fallback.switched

    def estimate_tokens(self, text: str) -> int:
        """A conservative estimate of the input tokens ``text`` costs for this model: the
        estimate scaled to the model's tokenizer (and to ``count_tokens``, once calibrated)."""
        return self.calibration.estimate(text)

    def stats(self) -> ClientStats:
        """What the client did so far: attempts, failures by kind, waits, concurrency, fallback."""
        limiter, limits, failures = self.limiter.stats(), self.limits.stats(), self.failures
        return ClientStats(
            attempts=self.attempts,
            retries=self.retries,
            **asdict(failures),
            rate_limited=limiter.rate_limited,
            cooldowns=limiter.cooldowns,
            rate_waits=limiter.waits,
            rate_wait_seconds=limiter.waited_seconds,
            concurrency_limit=limits.limit,
            concurrency_max=limits.max_limit,
            fallback_used=self.fallback.switched,
        )

    async def complete(
        self,
        request: ModelRequest,
        on_text: TextCallback | None = None,
        on_restart: RestartCallback | None = None,
        on_block: BlockCallback | None = None,
    ) -> ModelReply:
        """Answer ``request``, retrying transient failures; raise ModelError when it fails for good.

        With ``on_text`` the reply is streamed and ``on_text`` receives each text delta as it
        arrives; ``on_block`` (a request with citable text) each text block once it ends, with
        its citations. If a streamed attempt fails after delivering text and is retried, ``on_restart``
        is called before the new attempt's first delta: discard the text received so far. The
        returned reply always holds only the successful attempt's text.
        """
        client = self._bind_to_running_loop()
        sender = MessageSender(
            client,
            request,
            timeout=self.timeout,
            stall_timeout=self.stall_timeout,
            rules_of=self.rules_of,
            on_text=on_text,
            on_restart=on_restart,
            on_block=on_block,
        )
        attempts = RequestAttempts(
            self, sender, request, _input_estimate(self.calibration, request)
        )
        started = time.monotonic()
        try:
            message = await call_with_retries(
                attempts,
                self.retry,
                on_retry=self._note_retry,
                waited_elsewhere=attempts.cooldown_left,
                contact=self.endpoint.contact,
            )
        except FAILURES as error:
            raise failure_error(
                error,
                self.endpoint,
                stage=request.stage,
                model=attempts.model,
                attempts=attempts.count,
                elapsed=time.monotonic() - started,
            ) from None
        return reply_from_message(message, time.monotonic() - started, request.citable)

    async def aclose(self) -> None:
        """Close the SDK client's connections and leave the shared limits (a later request
        opens a new client and joins them again)."""
        self.pacing.leave()
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()

    def _bind_to_running_loop(self) -> anthropic.AsyncAnthropic:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A client from an earlier event loop cannot be used (or closed) from this one.
            self._client = self._new_client()
            self._loop = loop
        return self._client

    def _new_client(self) -> anthropic.AsyncAnthropic:
        return new_client(self._credentials, timeout=self.timeout, aiohttp=True)

    def _note_retry(self, event: RetryEvent) -> None:
        self.retries += 1
        log.debug(
            "retrying after attempt %d failed (%s) in %.2f s",
            event.attempt,
            event.reason,
            event.delay,
        )
        if self.on_retry is not None:
            self.on_retry(event)

    @property
    def endpoint(self) -> Endpoint:
        """Where requests go, and what must never be shown: for messages about failed requests."""
        creds = self._credentials
        return Endpoint(
            base_url=creds.base_url,
            base_url_from_env=creds.base_url_from_env,
            timeout=self.timeout,
            secrets=creds.secrets,
        )


def _input_estimate(calibration: Calibration, request: ModelRequest) -> int:
    """The input estimate of ``request``: prompt, system and citable texts, plus a little framing."""
    return estimate_input_tokens(request, calibration.estimate, cites=True) + 8
