"""The one-line, key-free message of a request that failed for good, and what to do about it.

A request that was retried until the attempts or the time ran out says how often it was tried
and why it failed (status and API message, a timeout, or the connection, with the address it
tried); one the API refused (a 4xx) says which option or variable to check: for a 401,
``ANTHROPIC_API_KEY``. Every message passes through :func:`scrub`, so no secret reaches it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import anthropic
import httpx2

from docanalyze.errors import ModelError
from docanalyze.models.anthropic.retry import error_status, is_retryable
from docanalyze.models.base import Stage

__all__ = ["REDACTED", "Endpoint", "failure_error", "safe_url", "scrub"]

REDACTED = "[redacted]"
_API_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and what must never be shown: for messages about failed requests."""

    base_url: str | None
    base_url_from_env: bool
    timeout: float
    secrets: tuple[str, ...]


def failure_error(
    error: BaseException,
    endpoint: Endpoint,
    *,
    stage: Stage,
    model: str,
    attempts: int,
    elapsed: float,
) -> ModelError:
    """The ModelError for a ``stage`` request that failed for good with ``error``."""
    if is_retryable(error):
        plural = "attempt" if attempts == 1 else "attempts"
        message = (
            f"gave up on a {stage} request after {attempts} {plural} over {elapsed:.1f} s: "
            f"{_transient_summary(error, endpoint)}; try again later or lower --concurrency"
        )
    else:
        message = _refusal_message(error, stage, model, endpoint.secrets)
    return ModelError(_one_line(scrub(message, endpoint.secrets)))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``[redacted]``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _transient_summary(error: BaseException, endpoint: Endpoint) -> str:
    """A short description of a transient failure: its status and API message, or its kind."""
    if isinstance(error, anthropic.APIStatusError):
        return _status_summary(error, endpoint.secrets)
    if _is_timeout(error):
        return f"the request timed out (timeout {endpoint.timeout:g} s)"
    where = safe_url(endpoint.base_url or "https://api.anthropic.com")
    source = " (ANTHROPIC_BASE_URL)" if endpoint.base_url_from_env else ""
    if _caused_by(error, httpx2.ConnectError):
        return f"could not connect to {where}{source}"
    cause = error.__cause__
    detail = type(cause).__name__ if cause is not None else _api_message(error, ())
    return f"the connection to {where}{source} failed ({detail})"


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
        return f"model '{model}' was not found (404: {api_message}): check --model"
    if status == 413:
        return f"a {stage} request was too large for the Anthropic API (413): lower --chunk-size"
    if status == 400:
        kind = getattr(error, "type", None)
        label = f"400 {kind}" if kind else "400"
        advice = _advice_for_400(api_message)
        message = (
            f"the Anthropic API rejected a {stage} request to {model} ({label}): {api_message}"
        )
        return f"{message}; {advice}" if advice else message
    if status is not None:
        return f"the Anthropic API refused a {stage} request ({status}): {api_message}"
    return f"a {stage} request failed: {type(error).__name__}: {api_message}"


_ADVICE_400 = (
    (("too long", "context limit", "context window"), "lower --chunk-size or pass --context-window"),
    (("temperature", "top_p", "top_k"), "remove temperature from the template's docanalyze: header"),
    (("thinking", "effort", "budget_tokens"), "check --thinking and --effort (or the template header)"),
    (("usage limit", "spend limit", "credit balance"), "raise the limit in the Claude Console, or wait until it resets"),
    (("retired", "deprecated"), "choose another --model"),
)  # fmt: skip


def _advice_for_400(api_message: str) -> str | None:
    """What to do about a 400, from the API's own message; None when it speaks for itself."""
    lowered = api_message.lower()
    for words, advice in _ADVICE_400:
        if any(word in lowered for word in words):
            return advice
    return None


def _status_summary(error: anthropic.APIStatusError, secrets: tuple[str, ...]) -> str:
    kind = f" {error.type}" if error.type else ""
    return f"{error_status(error)}{kind}: {_api_message(error, secrets)}"


def _api_message(error: BaseException, secrets: tuple[str, ...]) -> str:
    """The API's own explanation (or the exception text), scrubbed, on one line, shortened."""
    text = getattr(error, "api_message", None) or str(error) or type(error).__name__
    text = _one_line(scrub(str(text), secrets))
    if len(text) > _API_MESSAGE_LIMIT:
        text = text[: _API_MESSAGE_LIMIT - 1] + "…"
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def safe_url(url: str) -> str:
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
