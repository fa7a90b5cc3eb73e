"""What the fake server remembers about each request, and how it reads a request body's text."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fakeserver.citable import citable_text
from fakeserver.tokenizer import count_tokens

__all__ = [
    "REDACTED",
    "RecordedRequest",
    "RequestLog",
    "block_text",
    "content_text",
    "count_request_tokens",
    "last_user_text",
    "redact_headers",
    "request_texts",
    "system_text",
]

REDACTED = "<redacted>"
SECRET_HEADERS = frozenset({"x-api-key", "authorization"})
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REQUEST = 3


def content_text(content: object) -> str:
    """The text of a message's ``content``: a string, or the text of a list of content blocks.

    Text blocks give their ``text``; a document or search_result block gives its title, context
    and text (:func:`~fakeserver.citable.citable_text`: a PDF's text too); a tool_result gives
    the text of its own content. Other blocks (images, tool calls) give nothing.
    Block texts are joined with a newline.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(text for text in (block_text(block) for block in content) if text)


def block_text(block: object) -> str:
    """The text of one content block, as :func:`content_text` reads it ("" for other blocks)."""
    if not isinstance(block, Mapping):
        return ""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return text if isinstance(text, str) else ""
    if kind in ("document", "search_result"):
        return citable_text(block)
    if kind == "tool_result":
        return content_text(block.get("content"))
    return ""


def system_text(body: Mapping[str, Any]) -> str:
    """The request's system prompt as one string (text blocks joined with a newline)."""
    return content_text(body.get("system"))


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last message with role "user", or "" when there is none."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def request_texts(body: Mapping[str, Any]) -> list[str]:
    """The texts of a request that count as input: its system prompt, then every message's."""
    messages = body.get("messages")
    message_list = messages if isinstance(messages, list) else []
    contents = [m.get("content") if isinstance(m, Mapping) else None for m in message_list]
    return [system_text(body), *(content_text(content) for content in contents)]


def count_request_tokens(body: Mapping[str, Any]) -> int:
    """Input tokens of a request: system + every message's text + 4 per message + 3, and the
    format prompt of a structured request (:func:`format_prompt`)."""
    texts = request_texts(body)
    framing = TOKENS_PER_REQUEST + TOKENS_PER_MESSAGE * (len(texts) - 1)
    return framing + sum(count_tokens(text) for text in texts) + count_tokens(format_prompt(body))


def format_prompt(body: Mapping[str, Any]) -> str:
    """What a structured request adds to its input: "Claude automatically receives an
    additional system prompt explaining the expected output format", so "your input token count
    is slightly higher" (https://platform.claude.com/docs/en/build-with-claude/structured-outputs,
    "Prompt modification and token costs"). Its size is not published: the schema's JSON stands
    for it. Empty for a request without ``output_config.format`` (or the older ``output_format``)."""
    config = body.get("output_config")
    found = config.get("format") if isinstance(config, Mapping) else body.get("output_format")
    schema = found.get("schema") if isinstance(found, Mapping) else None
    return json.dumps(schema, ensure_ascii=False) if schema is not None else ""


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with lower-cased names, and credentials replaced by ``"<redacted>"``."""
    return {
        name.lower(): (REDACTED if name.lower() in SECRET_HEADERS else value)
        for name, value in headers.items()
    }


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake server answered, as a test would want to assert on it.

    ``headers`` has lower-cased names and credentials redacted. ``body`` is the parsed JSON body
    (``{}`` when it was not a JSON object). ``input_tokens`` is the server's count (0 when the
    request was rejected before counting). ``status`` is the HTTP status the server answered, or 0
    when it closed the connection without a reply (a dropped or hung connection fault).
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are the part of
    ``input_tokens`` read from or written to the prompt cache. A request processed inside a
    Message Batch has ``path`` "/v1/messages/batches", its ``batch_id`` and ``custom_id``.
    """

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    input_tokens: int
    stream: bool
    status: int
    method: str = "POST"
    request_id: str = field(default="")
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    batch_id: str | None = None
    custom_id: str | None = None
    output_tokens: int = 0
    """The reply's output tokens, thinking included (0 without a reply)."""
    received_at: float = 0.0
    """When the request arrived (``time.time()``)."""

    @property
    def prompt(self) -> str:
        """Text of the last user message (string content or the joined text blocks)."""
        return last_user_text(self.body)

    @property
    def system(self) -> str:
        """The system prompt: the string, or its text blocks joined with a newline."""
        return system_text(self.body)

    @property
    def max_tokens(self) -> int | None:
        """The requested ``max_tokens``, or None when absent or not an integer."""
        value = self.body.get("max_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def model(self) -> str | None:
        """The requested model, or None when absent."""
        value = self.body.get("model")
        return value if isinstance(value, str) else None


class RequestLog:
    """A thread-safe, append-only list of recorded requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def append(self, request: RecordedRequest) -> None:
        """Remember ``request``."""
        with self._lock:
            self._entries.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        """A copy of every request recorded so far, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._entries.clear()
