"""The one retry loop of docanalyze: which failures to retry, how long to wait, when to give up.

The Anthropic SDK's own retries are switched off (``max_retries=0``), so every retry of a model
request happens here, bounded by a number of attempts and by the time spent on one request.
Waits follow the server's ``retry-after-ms`` / ``retry-after`` headers when it sends them, and
otherwise exponential backoff with full jitter. A connection that cannot be opened to a server
that has not answered yet in this process (:mod:`docanalyze.models.anthropic.contact`) is tried only
a couple of times, quickly: the address is most likely wrong, and the user should hear so at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import anthropic
import httpx2

from docanalyze.models.anthropic.contact import ServerContact, causes, is_connect_failure

__all__ = [
    "NEVER_RETRY_STATUSES",
    "RETRYABLE_STATUSES",
    "RetryEvent",
    "RetryPolicy",
    "call_with_retries",
    "describe_error",
    "error_headers",
    "error_status",
    "is_back_pressure",
    "is_retryable",
    "is_timeout",
    "retry_delay",
    "server_requested_delay",
]

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
NEVER_RETRY_STATUSES = frozenset({400, 401, 403, 404, 413})

# An error event inside a 200 streaming response carries no status code, only its type.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request.

    ``max_attempts`` counts every failed attempt, the first included, except a 429 that says how
    long to wait (``retry-after``): that is back-pressure, not a failure, and is waited out as
    long as ``max_elapsed`` allows. ``max_elapsed`` bounds the seconds from the first attempt to
    the start of the last one (a wait that would pass it is not made).
    Backoff waits are drawn uniformly from ``[0, min(max_delay, base_delay * 2**retry))``.
    A connection that cannot be opened to a server that has not answered yet gets
    ``first_contact_attempts`` attempts (whatever ``max_attempts`` says), ``first_contact_delay``
    seconds apart.
    """

    max_attempts: int = 8
    max_elapsed: float = 900.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    first_contact_attempts: int = 2
    first_contact_delay: float = 0.5


@dataclass(frozen=True)
class RetryEvent:
    """One failed attempt that will be retried after ``delay`` seconds.

    ``attempt`` is the 1-based number of the attempt that failed; ``reason`` is a short, key-free
    description such as ``"529"`` or ``"APIConnectionError"``; ``status`` is the HTTP status, or
    None for connection failures and timeouts.
    """

    attempt: int
    delay: float
    reason: str
    status: int | None
    elapsed: float


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """The value of header ``name`` in ``headers``, looked up case-insensitively."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def header_number(text: str | None) -> float | None:
    """A header's value as a finite number >= 0, or None when absent or malformed."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def server_requested_delay(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, then ``retry-after``), or None."""
    milliseconds = header_number(_header(headers, "retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    retry_after = _header(headers, "retry-after")
    seconds = header_number(retry_after)
    if seconds is not None:
        return seconds
    if retry_after is None:
        return None
    parsed = email.utils.parsedate_tz(retry_after)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def retry_delay(
    attempt: int,
    headers: Mapping[str, str] | None,
    policy: RetryPolicy,
    rng: random.Random,
) -> float:
    """Seconds to wait before the next attempt.

    ``attempt`` counts the retries already made (0 before the first retry). A server's
    ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) is honoured as given;
    otherwise the wait is full-jitter exponential backoff capped at ``policy.max_delay``.
    """
    requested = server_requested_delay(headers)
    if requested is not None:
        return requested
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** min(attempt, 64))
    return rng.uniform(0.0, ceiling)


def error_status(error: BaseException) -> int | None:
    """The HTTP status an API error stands for, or None when there is no status.

    An error event in a streaming response arrives with status 200; its error type
    (e.g. ``overloaded_error``) gives the status it stands for.
    """
    if not isinstance(error, anthropic.APIStatusError):
        return None
    if error.status_code >= 400:
        return error.status_code
    return _STATUS_OF_ERROR_TYPE.get(str(error.type or ""), error.status_code)


def error_headers(error: BaseException) -> Mapping[str, str] | None:
    """The response headers behind an API status error, or None."""
    if isinstance(error, anthropic.APIStatusError):
        return error.response.headers
    return None


def _is_retryable_status_error(error: anthropic.APIStatusError) -> bool:
    status = error_status(error)
    if status in NEVER_RETRY_STATUSES:
        return False
    should_retry = _header(error.response.headers, "x-should-retry")
    if should_retry == "true":
        return True
    if should_retry == "false":
        return False
    return status in RETRYABLE_STATUSES


def _is_retryable_single(error: BaseException) -> bool | None:
    """True or False when ``error`` itself decides; None to look at its cause."""
    if isinstance(error, anthropic.APIStatusError):
        return _is_retryable_status_error(error)
    if isinstance(error, anthropic.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(error, (httpx2.TransportError, TimeoutError, asyncio.TimeoutError)):
        # A connection dropped or timed out while a streamed body was being read.
        return True
    return None


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt could succeed where ``error`` failed.

    Retried: statuses in :data:`RETRYABLE_STATUSES` (``x-should-retry: true`` forces a retry and
    ``false`` forbids it, but :data:`NEVER_RETRY_STATUSES` are never retried), connection
    failures and timeouts, including ones raised while a stream is read. The ``__cause__`` chain
    is followed, so a wrapped retryable error stays retryable.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _is_retryable_single(current)
        if verdict is not None:
            return verdict
        current = current.__cause__
    return False


def is_timeout(error: BaseException) -> bool:
    """Whether ``error`` (or an error in its cause chain) is a timeout."""
    timeouts = (
        anthropic.APITimeoutError,
        httpx2.TimeoutException,
        TimeoutError,
        asyncio.TimeoutError,
    )
    return any(isinstance(link, timeouts) for link in causes(error))


def is_back_pressure(error: BaseException) -> bool:
    """Whether ``error`` is a 429 that says how long to wait: the server pacing its clients, which
    a request waits out (within the retry time) rather than counts as a failed attempt."""
    return error_status(error) == 429 and server_requested_delay(error_headers(error)) is not None


def describe_error(error: BaseException) -> str:
    """A short, key-free reason for a retry event.

    The HTTP status (``"529"``), else ``"timeout"`` or ``"connection"`` for failures without a
    response, else the exception's class name.
    """
    status = error_status(error)
    if status is not None:
        return str(status)
    if is_timeout(error):
        return "timeout"
    if isinstance(error, (anthropic.APIConnectionError, httpx2.TransportError)):
        return "connection"
    return type(error).__name__


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[RetryEvent], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    waited_elsewhere: Callable[[BaseException], float | None] | None = None,
    contact: ServerContact | None = None,
) -> T:
    """Await ``call()`` until it succeeds, retrying what :func:`is_retryable` allows.

    Gives up after ``policy.max_attempts`` failed attempts (a 429 with ``retry-after`` is not
    one: see :func:`is_back_pressure`), or when the next wait would end past
    ``policy.max_elapsed`` seconds from the start, and then raises the last error unchanged.
    Errors that are not retryable (and cancellation) propagate at once. ``on_retry`` hears of
    every retry before its wait.

    ``waited_elsewhere(error)`` may return the seconds a shared wait will hold the next attempt
    (the rate limiter's cooldown after a 429): that delay is reported and counted against
    ``max_elapsed``, but not slept here, since the next attempt waits for it anyway.

    ``contact`` learns when the server answers (a reply or an error status). While it has not,
    a connection that cannot be opened is tried ``policy.first_contact_attempts`` times,
    ``policy.first_contact_delay`` seconds apart, instead of the full policy.
    """
    rng = rng if rng is not None else random.Random()
    started = clock()
    attempt = failed = 0
    while True:
        attempt += 1
        try:
            result = await call()
        except Exception as error:
            if contact is not None and error_status(error) is not None:
                contact.note_answer()
            first_contact = (
                contact is not None and not contact.answered and is_connect_failure(error)
            )
            limit = policy.first_contact_attempts if first_contact else policy.max_attempts
            failed += 0 if is_back_pressure(error) else 1
            if not is_retryable(error) or failed >= limit:
                raise
            shared = None if waited_elsewhere is None else waited_elsewhere(error)
            if shared is not None:
                delay = shared
            elif first_contact:
                delay = policy.first_contact_delay
            else:
                delay = retry_delay(attempt - 1, error_headers(error), policy, rng)
            elapsed = clock() - started
            if elapsed + delay > policy.max_elapsed:
                raise
            if on_retry is not None:
                on_retry(
                    RetryEvent(attempt, delay, describe_error(error), error_status(error), elapsed)
                )
            if shared is None:
                await sleep(delay)
        else:
            if contact is not None:
                contact.note_answer()
            return result
