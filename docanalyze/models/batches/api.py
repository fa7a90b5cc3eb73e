"""The Message Batches endpoints as :class:`~docanalyze.models.batches.model.BatchModel` uses them.

:class:`BatchAPI` is the small surface the batch model needs (create, retrieve, results, cancel);
:class:`SdkBatchAPI` implements it with the official SDK
(``AsyncAnthropic().messages.batches``). Transient failures of these calls (429, 5xx, dropped
connections) are retried by :func:`docanalyze.models.anthropic.retry.call_with_retries`; a call that
fails for good becomes a one-line :class:`~docanalyze.errors.ModelError` without the API key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import anthropic
import httpx2
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from anthropic.types.messages.batch_create_params import Request

from docanalyze.errors import ModelError
from docanalyze.models.anthropic.client import credentials, new_client
from docanalyze.models.anthropic.environment import redact
from docanalyze.models.anthropic.retry import (
    RetryPolicy,
    call_with_retries,
    error_status,
    is_retryable,
)

__all__ = ["BatchAPI", "BatchGone", "SdkBatchAPI"]

T = TypeVar("T")

CONTROL_TIMEOUT = 120.0
"""Seconds one create, retrieve, results or cancel call may take."""
CONTROL_RETRY = RetryPolicy(max_attempts=6, max_elapsed=300.0)


class BatchGone(ModelError):
    """The API does not know the batch (404), or its results are no longer available."""


class BatchAPI(Protocol):
    """The Message Batches endpoints (``/v1/messages/batches``)."""

    async def create(self, requests: list[Request]) -> MessageBatch:
        """Submit ``requests`` as one batch."""
        ...

    async def retrieve(self, batch_id: str) -> MessageBatch:
        """The batch's status and request counts."""
        ...

    async def results(self, batch_id: str) -> list[MessageBatchIndividualResponse]:
        """Every result of an ended batch (in any order)."""
        ...

    async def cancel(self, batch_id: str) -> MessageBatch:
        """Ask the API to stop processing the batch."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class SdkBatchAPI:
    """:class:`BatchAPI` through ``anthropic.AsyncAnthropic``.

    ``api_key`` and ``base_url`` default to ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``. The
    SDK client is created inside the running event loop, again whenever the loop changes.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy = CONTROL_RETRY,
        timeout: float = CONTROL_TIMEOUT,
    ) -> None:
        self._credentials = credentials(
            api_key,
            base_url,
            missing="ANTHROPIC_API_KEY is not set: --batch sends requests to the Message Batches "
            "API; set it, or drop --batch",
            auth_token_allowed=False,
        )
        self._retry = retry
        self._timeout = timeout
        self._client: anthropic.AsyncAnthropic | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def create(self, requests: list[Request]) -> MessageBatch:
        """Submit ``requests`` as one batch."""
        batches = self._batches()
        return await self._call("submit a batch", lambda: batches.create(requests=requests))

    async def retrieve(self, batch_id: str) -> MessageBatch:
        """The batch's status and request counts."""
        batches = self._batches()
        return await self._call(f"check batch {batch_id}", lambda: batches.retrieve(batch_id))

    async def results(self, batch_id: str) -> list[MessageBatchIndividualResponse]:
        """Every result of an ended batch, downloaded as JSON Lines."""
        batches = self._batches()

        async def download() -> list[MessageBatchIndividualResponse]:
            decoder = await batches.results(batch_id)
            return [line async for line in decoder]

        return await self._call(f"download the results of batch {batch_id}", download)

    async def cancel(self, batch_id: str) -> MessageBatch:
        """Ask the API to stop processing the batch."""
        batches = self._batches()
        return await self._call(f"cancel batch {batch_id}", lambda: batches.cancel(batch_id))

    async def aclose(self) -> None:
        """Close the SDK client's connections (a later call opens a new client)."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()

    def _batches(self) -> anthropic.resources.messages.AsyncBatches:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = new_client(self._credentials, timeout=self._timeout)
            self._loop = loop
        return self._client.messages.batches

    async def _call(self, action: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call_with_retries(call, self._retry)
        except (anthropic.AnthropicError, httpx2.TransportError, TimeoutError) as error:
            kind = BatchGone if error_status(error) == 404 else ModelError
            raise kind(self._failure(action, error)) from None

    def _failure(self, action: str, error: BaseException) -> str:
        status = error_status(error)
        if status == 401:
            return "the Anthropic API rejected the API key (401): check ANTHROPIC_API_KEY"
        detail = getattr(error, "message", None) or type(error).__name__
        detail = redact(" ".join(str(detail).split()), self._credentials.secrets)[:300]
        code = f" ({status})" if status is not None else ""
        advice = (
            "try again later" if is_retryable(error) else "check --model and ANTHROPIC_BASE_URL"
        )
        return f"could not {action}{code}: {detail}; {advice}"
