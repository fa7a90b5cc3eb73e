"""Exact prompt token counts from the API's free ``count_tokens`` endpoint (``plan --exact``).

Only ``client.messages.count_tokens`` is called, never a model: counting is free. The SDK's own
retries are off and at most :data:`MAX_CONCURRENT_COUNTS` counts are in flight at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from docanalyze.errors import ConfigError, ModelError
from docanalyze.models.anthropic.catalog import capabilities_of
from docanalyze.models.anthropic.environment import api_key_in, redact
from docanalyze.models.anthropic.message_parts import output_format, user_content
from docanalyze.models.base import CitableText, ModelRequest

__all__ = ["MAX_CONCURRENT_COUNTS", "NO_KEY_FOR_EXACT", "count_prompt_tokens", "require_api_key"]

MAX_CONCURRENT_COUNTS = 8
COUNT_TIMEOUT = 60.0
"""Seconds one count may take."""
NO_KEY_FOR_EXACT = (
    "--exact counts tokens with the Anthropic API: set ANTHROPIC_API_KEY, or drop --exact"
)


async def count_prompt_tokens(
    prompts: Sequence[str],
    model: str,
    *,
    citable: Sequence[Sequence[CitableText]] = (),
    output_schema: Mapping[str, Any] | None = None,
    concurrency: int = MAX_CONCURRENT_COUNTS,
    env: Mapping[str, str] | None = None,
) -> list[int]:
    """The input tokens of each prompt sent as one user message to ``model``, as the API counts:
    with the citable texts ``citable`` gives it (one sequence per prompt), sent before it as a
    run sends them (:func:`~docanalyze.models.anthropic.message_parts.user_content`), and with
    ``output_schema`` as its structured output format (``output_config.format``).

    Raises :class:`ConfigError` without ``ANTHROPIC_API_KEY``, and :class:`ModelError` when the
    API refuses a count.
    """
    api_key = require_api_key(env)
    import anthropic

    from docanalyze.models.anthropic.client import credentials, new_client

    gate = asyncio.Semaphore(max(1, min(concurrency, MAX_CONCURRENT_COUNTS)))
    creds = credentials(api_key, missing=NO_KEY_FOR_EXACT, auth_token_allowed=False)
    extra: dict[str, Any] = {}
    if output_schema is not None:
        extra["output_config"] = {"format": output_format(output_schema)}
    async with new_client(creds, timeout=COUNT_TIMEOUT) as client:

        async def count(prompt: str, beside: Sequence[CitableText]) -> int:
            request = ModelRequest(prompt, 1, "map", citable=tuple(beside))
            content = user_content(request, capabilities_of(model))
            async with gate:
                try:
                    result = await client.messages.count_tokens(
                        model=model, messages=[{"role": "user", "content": content}], **extra
                    )
                except anthropic.APIStatusError as error:
                    raise ModelError(_failure(f"HTTP {error.status_code}", api_key)) from None
                except anthropic.APIError as error:
                    raise ModelError(_failure(type(error).__name__, api_key)) from None
            return result.input_tokens

        besides = list(citable) or [()] * len(prompts)
        counts = (count(prompt, beside) for prompt, beside in zip(prompts, besides, strict=True))
        return list(await asyncio.gather(*counts))


def require_api_key(env: Mapping[str, str] | None = None) -> str:
    """``ANTHROPIC_API_KEY``; raises :class:`ConfigError` saying to set it when it is not set."""
    api_key = api_key_in(env)
    if not api_key:
        raise ConfigError(NO_KEY_FOR_EXACT)
    return api_key


def _failure(what: str, api_key: str) -> str:
    message = f"counting tokens with the API failed ({what}); try again, or drop --exact"
    return redact(message, (api_key,))
