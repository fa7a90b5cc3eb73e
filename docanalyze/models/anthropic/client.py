"""The one place that reads the API key and builds SDK clients.

:func:`credentials` reads ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) and
``ANTHROPIC_BASE_URL`` unless given, and refuses a base URL that carries a user name and
password; an empty ``ANTHROPIC_BASE_URL`` is unset. :func:`new_client` builds an ``AsyncAnthropic`` with the SDK's own retries off
(``max_retries=0``: docanalyze has one retry loop, :mod:`docanalyze.models.anthropic.retry`).
"""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anthropic
import httpx2

from docanalyze.errors import ConfigError
from docanalyze.models.anthropic.environment import api_key_in
from docanalyze.models.anthropic.error_messages import DEFAULT_BASE_URL

__all__ = ["CONNECT_TIMEOUT", "Credentials", "credentials", "new_client"]

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Credentials:
    """How to reach the API: a key or an auth token, and the base URL (None: the SDK's).

    The key and the token are left out of its ``repr``."""

    api_key: str | None = field(repr=False)
    auth_token: str | None = field(repr=False)
    base_url: str | None
    base_url_from_env: bool

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown."""
        return tuple(secret for secret in (self.api_key, self.auth_token) if secret)


def credentials(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    missing: str,
    auth_token_allowed: bool = True,
) -> Credentials:
    """The credentials to use: the arguments, else the environment.

    Raises :class:`ConfigError` with ``missing`` when there is neither a key nor (where
    allowed) an auth token, and when the base URL holds a user name and password.
    """
    key = api_key or api_key_in()
    token = None
    if not key and auth_token_allowed:
        token = os.environ.get("ANTHROPIC_AUTH_TOKEN") or None
    if not key and not token:
        raise ConfigError(missing)
    from_env = not base_url and bool(os.environ.get("ANTHROPIC_BASE_URL"))
    url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
    if url and urlsplit(url).password is not None:
        where = "ANTHROPIC_BASE_URL" if from_env else "the base URL"
        raise ConfigError(
            f"{where} holds a user name and password (user:password@host): remove them; "
            "the API key is sent in a header of its own"
        )
    return Credentials(key, token, url, from_env)


def new_client(
    creds: Credentials, *, timeout: float, aiohttp: bool = False
) -> anthropic.AsyncAnthropic:
    """An SDK client for ``creds``, its retries off; ``aiohttp`` puts it on aiohttp, which with a
    hundred streams open costs about half the CPU of the default httpx transport."""
    limits = httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
    http_client = (
        anthropic.DefaultAioHttpClient(timeout=limits, verify=_tls_context()) if aiohttp else None
    )
    # A key, else a bearer token: the SDK sends whichever it is given.
    secret = {"api_key": creds.api_key} if creds.api_key else {"auth_token": creds.auth_token}
    # Never None: the SDK would read ANTHROPIC_BASE_URL again, and take an empty one as a URL.
    base_url = creds.base_url or DEFAULT_BASE_URL
    return anthropic.AsyncAnthropic(
        **secret, base_url=base_url, max_retries=0, timeout=limits, http_client=http_client
    )


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The TLS settings every client of the process shares (the SDK's defaults: the system's or
    ``SSL_CERT_FILE``'s certificates). Loading them takes tens of milliseconds, which a corpus
    of a thousand documents, one client each, would otherwise pay a thousand times."""
    return httpx2.create_ssl_context()
