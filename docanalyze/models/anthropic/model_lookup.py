"""Asking the Models API about a model, once a day: the answer is kept in the run store.

:meth:`ModelLookup.describe` returns what the API says (or, when it cannot be asked, what the
catalog says, with a notice), and raises a one-line :class:`~docanalyze.errors.ConfigError` for a
model that is retired or that the API does not know. A connection that cannot be opened to a
server that has not answered yet is tried twice, then is a :class:`~docanalyze.errors.ModelError`
naming the address: no message request could get through either. The store keeps the answer's
JSON under the model's name and the API's address, never the key.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anthropic
import httpx2

from docanalyze.errors import ConfigError
from docanalyze.models.anthropic.client import CONNECT_TIMEOUT
from docanalyze.models.anthropic.contact import is_connect_failure
from docanalyze.models.anthropic.environment import redact
from docanalyze.models.anthropic.error_messages import Endpoint, failure_error
from docanalyze.models.anthropic.model_api import (
    MODEL_INFO_MAX_AGE,
    ModelDescription,
    describe_from_api,
    describe_from_catalog,
    lifecycle_problem,
)
from docanalyze.models.anthropic.retry import RetryEvent, RetryPolicy, call_with_retries

if TYPE_CHECKING:
    from docanalyze.store import RunStore

__all__ = ["LOOKUP_TIMEOUT", "ModelLookup"]

LOOKUP_TIMEOUT = 30.0
"""Seconds one Models API call may take."""
LOOKUP_RETRY = RetryPolicy(max_attempts=1)
"""Asked once (the catalog serves when the API cannot answer), but a first connection twice."""


class ModelLookup:
    """Describes models through ``client.models.retrieve``, caching answers in ``store``."""

    def __init__(
        self, client: anthropic.AsyncAnthropic, store: RunStore | None, endpoint: Endpoint
    ) -> None:
        self._client = client
        self._store = store
        self._endpoint = endpoint

    async def describe(
        self, name: str, option: str = "--model"
    ) -> tuple[ModelDescription | None, str | None]:
        """What the API says of ``name`` and a notice (deprecated, or the API not reachable);
        errors name ``option``, where the model was chosen."""
        body = self._stored(name)
        if body is None:
            body, notice = await self._retrieve(name, option)
            if body is None:
                return describe_from_catalog(name), notice
            if self._store is not None:
                self._store.put_model(self._key(name), body)
        description = describe_from_api(body)
        error, notice = lifecycle_problem(description, option)
        if error is not None:
            raise error
        return description, notice

    def _key(self, name: str) -> str:
        return f"{self._endpoint.address}|{name}"

    def _stored(self, name: str) -> dict[str, object] | None:
        if self._store is None:
            return None
        return self._store.get_model(self._key(name), MODEL_INFO_MAX_AGE)

    async def _retrieve(
        self, name: str, option: str
    ) -> tuple[dict[str, object] | None, str | None]:
        endpoint, started = self._endpoint, time.monotonic()
        retries: list[RetryEvent] = []
        timeout = httpx2.Timeout(LOOKUP_TIMEOUT, connect=CONNECT_TIMEOUT)
        try:
            info = await call_with_retries(
                lambda: self._client.models.retrieve(name, timeout=timeout),
                LOOKUP_RETRY,
                on_retry=retries.append,
                contact=endpoint.contact,
            )
        except anthropic.APIStatusError as error:
            if error.status_code == 404:
                said = error.api_message or getattr(error, "message", "") or ""
                detail = redact(str(said), endpoint.secrets)
                raise ConfigError(
                    f"model '{name}' is not known to the Anthropic API (404 from the Models "
                    f"API{': ' + _short(detail) if detail else ''}): check {option}"
                ) from None
            if error.status_code in (401, 403):
                raise failure_error(
                    error, self._endpoint, stage="map", model=name, attempts=1, elapsed=0.0
                ) from None
            return None, self._unreachable(name, f"{error.status_code}")
        except (anthropic.APIConnectionError, httpx2.TransportError, TimeoutError) as error:
            if is_connect_failure(error) and not endpoint.contact.answered:
                elapsed = time.monotonic() - started
                raise failure_error(
                    error,
                    endpoint,
                    stage="map",
                    model=name,
                    attempts=len(retries) + 1,
                    elapsed=elapsed,
                ) from None
            return None, self._unreachable(name, type(error).__name__)
        return info.model_dump(mode="json"), None

    def _unreachable(self, name: str, why: str) -> str:
        return (
            f"the Models API could not be asked about {name} ({why}): using docanalyze's model "
            "table for its limits and rules"
        )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"
