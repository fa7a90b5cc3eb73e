"""The one-line, key-free message of a request that failed for good, and what to do about it.

A request that was retried until the attempts or the time ran out says how often it was tried
and why it failed (status and API message, a timeout, or the connection, with the address it
tried); only a rate limit or an overload advises a lower ``--concurrency``. A connection that
could not be opened to a server that never answered says to check the address
(``ANTHROPIC_BASE_URL``) and the network. One the API refused (a 4xx) says which option or
variable to check: for a 401, ``ANTHROPIC_API_KEY``. Messages are built without the key; each
still passes through :func:`~docanalyze.models.anthropic.environment.redact` as a safety net.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anthropic

from docanalyze.errors import ModelError, RequestFailed
from docanalyze.models.anthropic.contact import (
    ServerContact,
    connect_failure_reason,
    is_connect_failure,
)
from docanalyze.models.anthropic.environment import redact
from docanalyze.models.anthropic.retry import (
    error_status,
    is_back_pressure,
    is_retryable,
    is_timeout,
)
from docanalyze.models.base import Stage

__all__ = ["DEFAULT_BASE_URL", "Endpoint", "failure_error", "safe_url"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
_API_MESSAGE_LIMIT = 300
_OVERLOAD_STATUSES = frozenset({429, 529})


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and what must never be shown: for messages about failed requests
    (``secrets`` are left out of its ``repr``)."""

    base_url: str | None
    base_url_from_env: bool
    timeout: float
    secrets: tuple[str, ...] = field(repr=False)

    @property
    def address(self) -> str:
        """The base URL without credentials, query or fragment (the SDK's default if unset)."""
        return safe_url(self.base_url or DEFAULT_BASE_URL)

    @property
    def contact(self) -> ServerContact:
        """Whether the server at :attr:`address` has answered in this process."""
        return ServerContact(self.address)

    @property
    def named(self) -> str:
        """The address, and where it was set when it was set by ``ANTHROPIC_BASE_URL``."""
        return self.address + (" (ANTHROPIC_BASE_URL)" if self.base_url_from_env else "")


def failure_error(
    error: BaseException,
    endpoint: Endpoint,
    *,
    stage: Stage,
    model: str,
    attempts: int,
    elapsed: float,
) -> ModelError:
    """The ModelError for a ``stage`` request that failed for good with ``error``: a
    :class:`RequestFailed` when it was retried until the attempts or the time ran out (a
    failure of this request), a plain ModelError when it concerns every request (a refusal
    such as a 401, or a server never reached)."""
    plural = "attempt" if attempts == 1 else "attempts"
    if is_connect_failure(error) and not endpoint.contact.answered:
        message = (
            f"could not connect to {endpoint.named}: {connect_failure_reason(error)} "
            f"({attempts} {plural} in {elapsed:.1f} s); {_check_address(endpoint)}"
        )
    elif is_retryable(error):
        message = (
            f"gave up on a {stage} request after {attempts} {plural} over {elapsed:.1f} s: "
            f"{_transient_summary(error, endpoint)}; {_transient_advice(error)}"
        )
        return RequestFailed(_one_line(redact(message, endpoint.secrets)), stage)
    else:
        message = _refusal_message(error, stage, model, endpoint.secrets)
    return ModelError(_one_line(redact(message, endpoint.secrets)))


def _check_address(endpoint: Endpoint) -> str:
    """What to check when the API's address cannot be reached at all."""
    if endpoint.base_url_from_env:
        return "check ANTHROPIC_BASE_URL and the network"
    if endpoint.base_url:
        return "check the base URL and the network"
    return "check the network (or ANTHROPIC_BASE_URL, to reach the API through a proxy)"


def _transient_advice(error: BaseException) -> str:
    """What to do after retries ran out: fewer requests at once only helps against limits."""
    if is_back_pressure(error):
        return (
            "the rate limits held it back for the whole retry time; try again later or lower --rpm"
        )
    if error_status(error) in _OVERLOAD_STATUSES:
        return "try again later or lower --concurrency"
    if isinstance(error, anthropic.APIStatusError) or is_timeout(error):
        return "try again later"
    return "check the network, then try again"


def _transient_summary(error: BaseException, endpoint: Endpoint) -> str:
    """A short description of a transient failure: its status and API message, or its kind."""
    if isinstance(error, anthropic.APIStatusError):
        return _status_summary(error, endpoint.secrets)
    if is_timeout(error) and not is_connect_failure(error):
        return f"the request timed out (timeout {endpoint.timeout:g} s)"
    if is_connect_failure(error):
        return f"could not connect to {endpoint.named} ({connect_failure_reason(error)})"
    cause = error.__cause__
    detail = type(cause).__name__ if cause is not None else _api_message(error, ())
    return f"the connection to {endpoint.named} failed ({detail})"


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
    text = _one_line(redact(str(text), secrets))
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
