"""Translating between our requests and replies and the Message Batches API's items.

A batch item is ``{"custom_id": ..., "params": {...}}``; its ``custom_id`` is the first
:data:`CUSTOM_ID_LENGTH` hex digits of the request's call key
(:func:`docanalyze.models.stored.call_key`), so it is the same in every process. Results come
back in any order, matched by ``custom_id``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar, cast

from anthropic.types.messages import MessageBatchResult
from anthropic.types.messages.batch_create_params import Request

from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.anthropic.message_parts import request_params
from docanalyze.models.base import ModelRequest
from docanalyze.text.packing import pack_in_order

__all__ = [
    "CUSTOM_ID_LENGTH",
    "RETRYABLE_ERROR_TYPES",
    "batch_item",
    "custom_id_of",
    "item_size",
    "refusal_advice",
    "result_problem",
    "split_batches",
]

CUSTOM_ID_LENGTH = 24
RETRYABLE_ERROR_TYPES = frozenset(
    {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}
)
"""Errors of a batch item that a new batch may not meet again."""

T = TypeVar("T")


def custom_id_of(key: str) -> str:
    """The batch ``custom_id`` of the request whose call key is ``key``."""
    return key[:CUSTOM_ID_LENGTH]


def batch_item(custom_id: str, request: ModelRequest, model: str, rules: Capabilities) -> Request:
    """The batch item of ``request``: the Messages API parameters a direct call would send to
    ``request.model or model`` (which follows ``rules``): see
    :func:`~docanalyze.models.anthropic.message_parts.request_params`."""
    params = request_params(request, request.model or model, rules)
    return cast(Request, {"custom_id": custom_id, "params": params})


def item_size(item: Request) -> int:
    """Bytes the item adds to the batch's JSON body."""
    return len(json.dumps(item, ensure_ascii=False).encode("utf-8")) + 1


def split_batches(
    sizes: Sequence[tuple[T, int]], max_requests: int, max_bytes: int
) -> list[list[T]]:
    """Items in order, cut into batches of at most ``max_requests`` items and ``max_bytes`` bytes
    (an item larger than ``max_bytes`` alone makes a batch of one)."""
    return pack_in_order(sizes, max_bytes, max_requests)


def result_problem(result: MessageBatchResult) -> tuple[str, bool]:
    """What went wrong with a result that did not succeed, and whether a new batch may help.

    Expired and canceled items are worth sending again, and so are errors of the kinds in
    :data:`RETRYABLE_ERROR_TYPES`; an invalid request, a rejected key and the like are not.
    """
    if result.type in ("expired", "canceled"):
        return result.type, True
    if result.type == "errored":
        error = result.error.error
        message = " ".join(error.message.split())[:300]
        return f"{error.type}: {message}", error.type in RETRYABLE_ERROR_TYPES
    return result.type, False


def refusal_advice(problem: str) -> str:
    """What the user can do about an item error that a new batch would meet again."""
    if problem.startswith("authentication_error"):
        return "check ANTHROPIC_API_KEY"
    if problem.startswith(("permission_error", "not_found_error")):
        return "check --model"
    if problem.startswith("billing_error"):
        return "check the plan and billing of the API key's organization"
    if "too long" in problem.lower():
        return "lower --chunk-size or pass --context-window"
    return "check --model and the token options"
