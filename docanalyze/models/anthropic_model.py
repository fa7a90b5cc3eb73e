"""The Claude backend: the official ``anthropic`` SDK, our one retry loop, paced to the limits.

The SDK's own retries are off (``max_retries=0``); :func:`docanalyze.models.retry.call_with_retries`
is the only retry in the program. Every attempt takes a slot from an adaptive concurrency limiter
(:mod:`docanalyze.models.concurrency`), then waits for the run's shared rate limiter
(:mod:`docanalyze.models.ratelimit`), which learns the limits from the response headers and
pauses every request after a 429. A request gives its slot back while it waits to be retried.
Repeated overloads of the primary model switch to a fallback model
(:mod:`docanalyze.models.fallback`). A request that fails for good becomes a one-line
:class:`~docanalyze.errors.ModelError` that says what to do; the API key never appears in it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import anthropic
import httpx2
from anthropic.types import Message, MessageParam, TextBlockParam

from docanalyze.errors import ConfigError, ModelError
from docanalyze.models.base import ModelReply, ModelRequest, Stage
from docanalyze.models.catalog import model_info
from docanalyze.models.concurrency import AdaptiveConcurrency, Slot
from docanalyze.models.fallback import FallbackSwitch
from docanalyze.models.message_parts import reply_from_message, system_param
from docanalyze.models.ratelimit import RateLimiter, Ticket
from docanalyze.models.retry import (
    RetryEvent,
    RetryPolicy,
    call_with_retries,
    error_headers,
    error_status,
    is_retryable,
    is_timeout,
    server_requested_delay,
)
from docanalyze.tokens import estimate_tokens

try:  # the SDK's table of models with a lower non-streaming output limit
    from anthropic._constants import MODEL_NONSTREAMING_TOKENS
except ImportError:  # pragma: no cover - depends on the SDK version
    MODEL_NONSTREAMING_TOKENS = {}

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "NO_KEY_MESSAGE",
    "AnthropicModel",
    "ClientStats",
    "requires_streaming",
]

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 200_000
DEFAULT_MAX_OUTPUT_TOKENS = 64_000
NO_KEY_MESSAGE = (
    "ANTHROPIC_API_KEY is not set: set it to analyze with Claude, or use --backend extractive"
)
REDACTED = "[redacted]"
DEFAULT_RETRY_POLICY = RetryPolicy()
CONNECT_TIMEOUT = 10.0
DEFAULT_STALL_TIMEOUT = 60.0
"""Seconds a stream may send nothing (the API sends pings while it works) before it is cut."""
_API_MESSAGE_LIMIT = 300

# The SDK refuses a non-streaming request whose expected time (an hour per 128k output tokens)
# exceeds ten minutes, or whose max_tokens exceeds the model's non-streaming limit.
_SDK_MAX_EXPECTED_SECONDS = 60 * 60
_SDK_NON_STREAMING_SECONDS = 60 * 10
_SDK_TOKENS_PER_MAX_EXPECTED = 128_000

# What a request can fail with that is not a bug: API errors, dropped or timed-out connections.
_FAILURES = (anthropic.AnthropicError, httpx2.TransportError, TimeoutError, asyncio.TimeoutError)

TextCallback = Callable[[str], None]
RestartCallback = Callable[[], None]


def requires_streaming(max_tokens: int, model: str) -> bool:
    """Whether the SDK would refuse ``max_tokens`` without streaming (the same rule it applies)."""
    expected = _SDK_MAX_EXPECTED_SECONDS * max_tokens / _SDK_TOKENS_PER_MAX_EXPECTED
    model_limit = MODEL_NONSTREAMING_TOKENS.get(model)
    return expected > _SDK_NON_STREAMING_SECONDS or bool(model_limit and max_tokens > model_limit)


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of what the client did so far, for progress reports and benchmarks.

    ``attempts`` counts HTTP attempts and ``retries`` the attempts that were retried;
    ``rate_limited`` (429), ``overloaded`` (529), ``server_errors`` (other 5xx), ``timeouts``
    and ``dropped`` (connections that failed without a response) count failed attempts.
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


@dataclass
class _FailureCounts:
    overloaded: int = 0
    server_errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    fallback_replies: int = 0


class AnthropicModel:
    """Claude through the Messages API; implements :class:`docanalyze.models.base.Model`.

    ``api_key`` and ``base_url`` default to ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``)
    and ``ANTHROPIC_BASE_URL``. Every attempt first takes a slot from the adaptive concurrency
    limiter (``concurrency`` is its ceiling, ``initial_concurrency`` its start), then waits for
    the shared :class:`~docanalyze.models.ratelimit.RateLimiter` (``rpm``, ``input_tpm``,
    ``output_tpm`` cap it on top of the server's limits). ``timeout`` bounds each attempt, a
    streamed one included; a stream that sends nothing for ``stall_timeout`` seconds is cut. After
    ``fallback_after`` consecutive 529/5xx failures of the primary model, attempts go to
    ``fallback_model`` and ``on_fallback(primary, fallback)`` is called once. ``attempts`` and
    ``retries`` count HTTP attempts and retries; :meth:`stats` has the rest. The SDK client is
    created inside the running event loop, again whenever the loop changes.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        context_window: int | None = None,
        concurrency: int = 64,
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
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1 (got {concurrency})")
        if timeout <= 0:
            raise ConfigError(f"the request timeout must be positive (got {timeout})")
        if stall_timeout is not None and stall_timeout <= 0:
            raise ConfigError(f"the stall timeout must be positive (got {stall_timeout})")
        self._model = model
        self._api_key = api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        self._auth_token = None if self._api_key else os.environ.get("ANTHROPIC_AUTH_TOKEN")
        if not self._api_key and not self._auth_token:
            raise ConfigError(NO_KEY_MESSAGE)
        self._base_url_from_env = not base_url and bool(os.environ.get("ANTHROPIC_BASE_URL"))
        self._base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        info = model_info(model)
        self.context_window_known = context_window is not None or info is not None
        self._context_window = context_window or (
            info.context_window if info else DEFAULT_CONTEXT_WINDOW
        )
        catalog_output = info.max_output_tokens if info else DEFAULT_MAX_OUTPUT_TOKENS
        self._max_output_tokens = min(catalog_output, self._context_window // 2)
        self.concurrency = concurrency
        self.timeout = timeout
        self.stall_timeout = min(timeout, stall_timeout or DEFAULT_STALL_TIMEOUT)
        self.retry = retry
        self.on_retry = on_retry
        self.attempts = 0
        self.retries = 0
        self.limiter = rate_limiter or RateLimiter(
            rpm=rpm, input_tpm=input_tpm, output_tpm=output_tpm
        )
        self.limits = AdaptiveConcurrency(
            concurrency, initial=initial_concurrency, headroom=self.limiter.has_headroom
        )
        self.fallback = FallbackSwitch(
            model, fallback_model, threshold=fallback_after, on_switch=on_fallback
        )
        self._failures = _FailureCounts()
        self._client: anthropic.AsyncAnthropic | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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

    @property
    def switched_to_fallback(self) -> bool:
        """Whether attempts for the primary model now go to the fallback model."""
        return self.fallback.switched

    def estimate_tokens(self, text: str) -> int:
        """A conservative estimate of the input tokens ``text`` costs."""
        return estimate_tokens(text)

    def stats(self) -> ClientStats:
        """What the client did so far: attempts, failures by kind, waits, concurrency, fallback."""
        limiter, limits, failures = self.limiter.stats(), self.limits.stats(), self._failures
        return ClientStats(
            attempts=self.attempts,
            retries=self.retries,
            rate_limited=limiter.rate_limited,
            overloaded=failures.overloaded,
            server_errors=failures.server_errors,
            timeouts=failures.timeouts,
            dropped=failures.dropped,
            cooldowns=limiter.cooldowns,
            rate_waits=limiter.waits,
            rate_wait_seconds=limiter.waited_seconds,
            concurrency_limit=limits.limit,
            concurrency_max=limits.max_limit,
            fallback_used=self.fallback.switched,
            fallback_replies=failures.fallback_replies,
        )

    async def complete(
        self,
        request: ModelRequest,
        on_text: TextCallback | None = None,
        on_restart: RestartCallback | None = None,
    ) -> ModelReply:
        """Answer ``request``, retrying transient failures; raise ModelError when it fails for good.

        With ``on_text`` the reply is streamed and ``on_text`` receives each text delta as it
        arrives. If a streamed attempt fails after delivering text and is retried, ``on_restart``
        is called before the new attempt's first delta: discard the text received so far. The
        returned reply always holds only the successful attempt's text.
        """
        client = self._bind_to_running_loop()
        requested = request.model or self._model
        sender = _Sender(client, request, on_text, on_restart, self.timeout, self.stall_timeout)
        estimate = _input_estimate(request)
        attempts = 0
        model = requested

        async def attempt() -> Message:
            nonlocal attempts, model
            model = self.fallback.choose(requested)
            slot = await self.limits.acquire()
            try:
                ticket = await self.limiter.acquire(estimate, request.max_tokens)
                attempts += 1
                self.attempts += 1
                try:
                    message, headers = await sender.send(model)
                except _FAILURES as error:
                    self._note_failure(error, model, slot, ticket)
                    raise
                self._note_success(message, headers, model, slot, ticket, requested)
                return message
            finally:
                self.limits.release(slot)

        started = time.monotonic()
        try:
            message = await call_with_retries(
                attempt, self.retry, on_retry=self._note_retry, waited_elsewhere=self._cooldown_left
            )
        except _FAILURES as error:
            elapsed = time.monotonic() - started
            raise self._model_error(error, request.stage, model, attempts, elapsed) from None
        return reply_from_message(message, time.monotonic() - started)

    async def aclose(self) -> None:
        """Close the SDK client's connections (a later request opens a new client)."""
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
        timeout = httpx2.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT))
        if self._api_key:
            return anthropic.AsyncAnthropic(
                api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=timeout
            )
        return anthropic.AsyncAnthropic(
            auth_token=self._auth_token, base_url=self._base_url, max_retries=0, timeout=timeout
        )

    def _note_success(
        self,
        message: Message,
        headers: Mapping[str, str],
        model: str,
        slot: Slot,
        ticket: Ticket,
        requested: str,
    ) -> None:
        usage = message.usage
        input_tokens = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        observed = self.limiter.observe(headers, ticket)
        self.limiter.settle(ticket, input_tokens, usage.output_tokens, observed)
        self.limits.record_success(slot, headroom=self.limiter.has_headroom(self.limits.limit))
        self.fallback.record_success(model)
        if model != requested:
            self._failures.fallback_replies += 1

    def _note_failure(self, error: BaseException, model: str, slot: Slot, ticket: Ticket) -> None:
        """Feed a failed attempt to the rate limiter, the concurrency limiter and the fallback."""
        status = error_status(error)
        headers = error_headers(error) or {}
        observed = self.limiter.observe(headers, ticket) if headers else set()
        if status == 429:
            self.limiter.cooldown(server_requested_delay(headers))
            self.limits.record_overload(slot)
        elif status == 529:
            self._failures.overloaded += 1
            self.limits.record_overload(slot, sporadic_ok=True)
        elif status is not None and status >= 500:
            self._failures.server_errors += 1
        elif status is None and is_timeout(error):
            self._failures.timeouts += 1
            self.limits.record_overload(slot, sporadic_ok=True)
        elif status is None:
            self._failures.dropped += 1
        rejected = status is not None and (status < 500 or status == 529)
        self.limiter.release_unused(ticket, rejected=rejected, observed=observed)
        self.fallback.record_failure(model, status)

    def _cooldown_left(self, error: BaseException) -> float | None:
        """For a 429, the shared cooldown the next attempt will wait for (not slept twice)."""
        if error_status(error) != 429:
            return None
        return self.limiter.cooldown_remaining()

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

    def _secrets(self) -> tuple[str, ...]:
        return tuple(secret for secret in (self._api_key, self._auth_token) if secret)

    def _model_error(
        self, error: BaseException, stage: Stage, model: str, attempts: int, elapsed: float
    ) -> ModelError:
        """The one-line, key-free ModelError for a request that failed for good."""
        if is_retryable(error):
            plural = "attempt" if attempts == 1 else "attempts"
            message = (
                f"gave up on a {stage} request after {attempts} {plural} over {elapsed:.1f} s: "
                f"{self._summary(error)}; try again later or lower --concurrency"
            )
        else:
            message = _refusal_message(error, stage, model, self._secrets())
        return ModelError(_one_line(_scrub(message, self._secrets())))

    def _summary(self, error: BaseException) -> str:
        """A short description of a transient failure: its status and API message, or its kind."""
        if isinstance(error, anthropic.APIStatusError):
            return _status_summary(error, self._secrets())
        if _is_timeout(error):
            return f"the request timed out (timeout {self.timeout:g} s)"
        where = _safe_url(self._base_url or "https://api.anthropic.com")
        source = " (ANTHROPIC_BASE_URL)" if self._base_url_from_env else ""
        if _caused_by(error, httpx2.ConnectError):
            return f"could not connect to {where}{source}"
        cause = error.__cause__
        detail = type(cause).__name__ if cause is not None else _api_message(error, ())
        return f"the connection to {where}{source} failed ({detail})"


class _Sender:
    """Sends the attempts of one request, streamed or not, each bounded by the timeouts.

    A whole attempt must finish within ``timeout``; a streamed one is also cut when no bytes
    arrive for ``stall_timeout``. Remembers whether a streamed attempt delivered text, so that the
    next attempt first tells ``on_restart``.
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        request: ModelRequest,
        on_text: TextCallback | None,
        on_restart: RestartCallback | None,
        timeout: float,
        stall_timeout: float,
    ) -> None:
        self._client = client
        self._request = request
        self._on_text = on_text
        self._on_restart = on_restart
        self._timeout = timeout
        self._stall_timeout = stall_timeout
        self._delivered = False

    async def send(self, model: str) -> tuple[Message, Mapping[str, str]]:
        """One attempt with ``model``: the message and the response headers."""
        if self._delivered:
            self._delivered = False
            if self._on_restart is not None:
                self._on_restart()
        call = _MessageCall.of(self._request, model)
        stream = self._on_text is not None or requires_streaming(call.max_tokens, model)
        attempt = self._stream(call) if stream else self._create(call)
        return await asyncio.wait_for(attempt, self._timeout)

    async def _create(self, call: _MessageCall) -> tuple[Message, Mapping[str, str]]:
        timeout = httpx2.Timeout(self._timeout, connect=min(self._timeout, CONNECT_TIMEOUT))
        raw = await self._client.messages.with_raw_response.create(
            model=call.model,
            max_tokens=call.max_tokens,
            messages=call.messages,
            system=call.system,
            extra_body=call.extra_body,
            timeout=timeout,
        )
        return await raw.parse(), raw.headers

    async def _stream(self, call: _MessageCall) -> tuple[Message, Mapping[str, str]]:
        connect = min(self._timeout, CONNECT_TIMEOUT)
        timeout = httpx2.Timeout(self._timeout, read=self._stall_timeout, connect=connect)
        async with self._client.messages.stream(
            model=call.model,
            max_tokens=call.max_tokens,
            messages=call.messages,
            system=call.system,
            extra_body=call.extra_body,
            timeout=timeout,
        ) as events:
            if self._on_text is not None:
                async for text in events.text_stream:
                    self._delivered = True
                    self._on_text(text)
            final = await events.get_final_message()
            if final.stop_reason is None:  # the body ended before message_delta/message_stop
                raise anthropic.APIConnectionError(
                    message="the stream ended early", request=events.response.request
                )
            return final, events.response.headers


def _input_estimate(request: ModelRequest) -> int:
    """The raw input estimate of ``request``: prompt and system, plus a little framing."""
    return estimate_tokens(request.prompt) + estimate_tokens(request.system or "") + 8


@dataclass(frozen=True)
class _MessageCall:
    """The Messages API arguments of one request.

    ``system`` is omitted unless the request has one; a request that asks for caching sends it
    as one text block marked ``cache_control: {"type": "ephemeral"}``, so the API caches it (when
    it is long enough) and later requests with the same system read it at a tenth of the input
    price. The SDK has no sampling parameters, so a temperature travels in ``extra_body``, and
    only when the request sets one: newer Claude models reject non-default sampling parameters.
    """

    model: str
    max_tokens: int
    messages: list[MessageParam]
    system: str | list[TextBlockParam] | anthropic.Omit
    extra_body: dict[str, object] | None

    @classmethod
    def of(cls, request: ModelRequest, model: str) -> _MessageCall:
        return cls(
            model=model,
            max_tokens=request.max_tokens,
            messages=[{"role": "user", "content": request.prompt}],
            system=_system_or_omit(request),
            extra_body=(
                None if request.temperature is None else {"temperature": request.temperature}
            ),
        )


def _refusal_message(
    error: BaseException, stage: Stage, model: str, secrets: tuple[str, ...]
) -> str:
    """The message for an error that is not retried: a 4xx refusal, or a server's "do not retry"."""
    status = error_status(error)
    api_message = _api_message(error, secrets)
    if status == 401:
        return "the Anthropic API rejected the API key (401): check ANTHROPIC_API_KEY"
    if status == 403:
        return (
            f"the API key has no access to model '{model}' (403): check --model, "
            f"or the key's workspace permissions"
        )
    if status == 404:
        return f"model '{model}' was not found (404): check --model"
    if status == 413:
        return f"a {stage} request was too large for the Anthropic API (413): lower --chunk-size"
    if status == 400:
        advice = (
            "lower --chunk-size or pass --context-window"
            if "too long" in api_message.lower()
            else "check --model and the token options"
        )
        return f"the Anthropic API rejected a {stage} request (400): {api_message}; {advice}"
    if status is not None:
        return f"the Anthropic API refused a {stage} request ({status}): {api_message}"
    return f"a {stage} request failed: {type(error).__name__}: {api_message}"


def _status_summary(error: anthropic.APIStatusError, secrets: tuple[str, ...]) -> str:
    kind = f" {error.type}" if error.type else ""
    return f"{error_status(error)}{kind}: {_api_message(error, secrets)}"


def _api_message(error: BaseException, secrets: tuple[str, ...]) -> str:
    """The API's own explanation (or the exception text), scrubbed, on one line, shortened."""
    text = getattr(error, "api_message", None) or str(error) or type(error).__name__
    text = _one_line(_scrub(str(text), secrets))
    if len(text) > _API_MESSAGE_LIMIT:
        text = text[: _API_MESSAGE_LIMIT - 1] + "…"
    return text


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    current: BaseException | None = error
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _is_timeout(error: BaseException) -> bool:
    timeouts = (anthropic.APITimeoutError, TimeoutError, asyncio.TimeoutError)  # distinct on 3.10
    return isinstance(error, timeouts) or _caused_by(error, httpx2.TimeoutException)


def _system_or_omit(request: ModelRequest) -> str | list[TextBlockParam] | anthropic.Omit:
    system = system_param(request)
    return anthropic.omit if system is None else system
