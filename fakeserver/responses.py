"""What the endpoints hand to the HTTP transport: the incoming request and the response kinds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fakeserver.wire import StreamEvent

__all__ = [
    "BytesResponse",
    "ClosedWithoutReply",
    "EventStreamResponse",
    "IncomingRequest",
    "JsonResponse",
    "Response",
]


def _nothing_to_do() -> None:
    pass


@dataclass(frozen=True)
class IncomingRequest:
    """An HTTP request as read off the socket; ``headers`` have lower-cased names."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_body: bytes


@dataclass(frozen=True)
class JsonResponse:
    """A complete JSON response."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    on_finished: Callable[[], None] = _nothing_to_do


@dataclass(frozen=True)
class BytesResponse:
    """A complete response with a body of any type (e.g. the JSONL results of a batch)."""

    status: int
    payload: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    on_finished: Callable[[], None] = _nothing_to_do


@dataclass(frozen=True)
class EventStreamResponse:
    """A 200 response streamed as Server-Sent Events.

    The status line and headers are sent at once; the first event follows
    ``seconds_before_first_event`` later, the others ``seconds_between_events`` apart.
    """

    events: Iterable[StreamEvent]
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds_between_events: float = 0.0
    seconds_before_first_event: float = 0.0
    seconds_per_token: float = 0.0
    """Each event also waits this long for every token it carries (the model writing)."""
    thinking_tokens: int = 0
    """The tokens the thinking block stands for, written before the text."""
    on_finished: Callable[[], None] = _nothing_to_do


@dataclass(frozen=True)
class ClosedWithoutReply:
    """No response at all: write nothing for ``hang_seconds`` (None: not at all), then close."""

    hang_seconds: float | None = None
    on_finished: Callable[[], None] = _nothing_to_do


Response = JsonResponse | BytesResponse | EventStreamResponse | ClosedWithoutReply
