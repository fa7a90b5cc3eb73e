"""Checks a request the way the real Messages API does; a problem raises a clear ApiError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fakeserver.citable import citable_sources
from fakeserver.errors import ApiError
from fakeserver.structured_rules import check_structured_request

__all__ = [
    "MAX_REQUEST_BYTES",
    "check_context_window",
    "check_request_size",
    "parse_json_body",
    "require_headers",
    "validate_count_tokens_body",
    "validate_messages_body",
]

MESSAGE_ROLES = ("user", "assistant")
MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""The largest body ``/v1/messages`` and ``count_tokens`` accept (errors page: 32 MB)."""


def check_request_size(raw_body: bytes) -> None:
    """A 413 ``request_too_large`` for a body over :data:`MAX_REQUEST_BYTES`."""
    if len(raw_body) > MAX_REQUEST_BYTES:
        raise ApiError(
            413,
            f"Request exceeds the maximum allowed number of bytes: {len(raw_body)} > "
            f"{MAX_REQUEST_BYTES} (32 MB); send large PDFs in several requests",
            error_type="request_too_large",
        )


def require_headers(headers: Mapping[str, str], expected_api_key: str | None) -> None:
    """Authentication and version headers: 401 without a (matching) key, 400 without a version.

    ``headers`` must have lower-cased names. The key is read from ``x-api-key`` or from
    ``authorization: Bearer ...`` (the SDK sends the latter).
    """
    api_key = headers.get("x-api-key")
    if api_key is None:
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            api_key = bearer[len("bearer ") :].strip()
    if not api_key:
        raise ApiError(
            401, "missing API key: send an x-api-key header or an authorization: Bearer header"
        )
    if expected_api_key is not None and api_key != expected_api_key:
        raise ApiError(401, "invalid x-api-key: this fake server was started with a different key")
    if not headers.get("anthropic-version"):
        raise ApiError(400, "anthropic-version: header is required")


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    if not raw:
        raise ApiError(400, "request body is empty: send a JSON object")
    try:
        parsed = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(parsed).__name__}")
    return parsed


def validate_count_tokens_body(body: Mapping[str, Any]) -> None:
    """The fields ``/v1/messages/count_tokens`` needs: model, messages and an optional system."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model: Field required (the name of a Claude model)")
    _validate_system(body.get("system"))
    _validate_messages(body.get("messages"))
    citable_sources(body)  # documents and search results: their shape, citations, PDF pages


def validate_messages_body(body: Mapping[str, Any], max_output_tokens: int) -> None:
    """The fields ``/v1/messages`` needs, with the output limit ``max_output_tokens``, and the
    rules of structured outputs (:mod:`fakeserver.structured_rules`)."""
    validate_count_tokens_body(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise ApiError(400, "max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise ApiError(400, f"max_tokens: Input should be a valid integer, got {max_tokens!r}")
    if max_tokens < 1:
        raise ApiError(
            400, f"max_tokens: Input should be greater than or equal to 1, got {max_tokens}"
        )
    if max_tokens > max_output_tokens:
        raise ApiError(
            400,
            f"max_tokens: {max_tokens} > {max_output_tokens}, which is the maximum allowed number "
            f"of output tokens for {body['model']}",
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, f"stream: Input should be a valid boolean, got {stream!r}")
    stop_sequences = body.get("stop_sequences")
    if stop_sequences is not None and not (
        isinstance(stop_sequences, list) and all(isinstance(s, str) for s in stop_sequences)
    ):
        raise ApiError(400, "stop_sequences: Input should be a list of strings")
    check_structured_request(body)


def check_context_window(input_tokens: int, max_tokens: int, context_window: int) -> None:
    """Reject a prompt that, alone or with ``max_tokens`` of output, exceeds the context window."""
    if input_tokens > context_window:
        raise ApiError(400, f"prompt is too long: {input_tokens} tokens > {context_window} maximum")
    if input_tokens + max_tokens > context_window:
        raise ApiError(
            400,
            f"input length and `max_tokens` exceed context limit: {input_tokens} + {max_tokens} > "
            f"{context_window}, decrease input length or `max_tokens` and try again",
        )


def _validate_system(system: object) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise ApiError(400, "system: Input should be a string or a list of text blocks")
    for index, block in enumerate(system):
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise ApiError(
                400, f"system.{index}: Input should be a text block {{'type': 'text', ...}}"
            )
        if not isinstance(block.get("text"), str):
            raise ApiError(400, f"system.{index}.text: Field required")


def _validate_messages(messages: object) -> None:
    if messages is None:
        raise ApiError(400, "messages: Field required")
    if not isinstance(messages, list):
        raise ApiError(400, "messages: Input should be a valid list")
    if not messages:
        raise ApiError(400, "messages: at least one message is required")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ApiError(
                400, f"messages.{index}: Input should be an object with role and content"
            )
        role = message.get("role")
        if role not in MESSAGE_ROLES:
            raise ApiError(
                400, f"messages.{index}.role: Input should be 'user' or 'assistant', got {role!r}"
            )
        content = message.get("content")
        if content is None:
            raise ApiError(400, f"messages.{index}.content: Field required")
        if not isinstance(content, (str, list)):
            raise ApiError(
                400,
                f"messages.{index}.content: Input should be a string or a list of content blocks",
            )
        if isinstance(content, list):
            for block_index, block in enumerate(content):
                if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
                    raise ApiError(
                        400,
                        f"messages.{index}.content.{block_index}: Input should be a content block "
                        "with a 'type'",
                    )
