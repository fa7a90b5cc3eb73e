"""The Messages API's wire format: Message JSON, the streaming event sequence, SSE framing, ids."""

from __future__ import annotations

import base64
import json
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from fakeserver.replies import Reply, TextPart
from fakeserver.tokenizer import split_into_chunks

__all__ = [
    "StreamEvent",
    "Usage",
    "content_blocks",
    "encode_sse",
    "message_body",
    "new_batch_id",
    "new_message_id",
    "new_request_id",
    "stream_events",
    "usage_body",
]

StreamEvent = tuple[str, dict[str, Any]]
"""An SSE event: its name and its JSON data."""

_ID_ALPHABET = string.ascii_letters + string.digits


def _random_id(prefix: str) -> str:
    # One read of 22 random bytes: a draw per character cost the server more than the rest
    # of a request. Taken modulo 62, some letters come up slightly more often; ids only need
    # to be unique.
    return (
        prefix + "01" + "".join(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in os.urandom(22))
    )


def new_message_id() -> str:
    """A fresh message id shaped like the real ones (``msg_01...``)."""
    return _random_id("msg_")


def new_request_id() -> str:
    """A fresh request id shaped like the real ones (``req_01...``), for the request-id header."""
    return _random_id("req_")


def new_batch_id() -> str:
    """A fresh Message Batch id shaped like the real ones (``msgbatch_01...``)."""
    return _random_id("msgbatch_")


@dataclass(frozen=True)
class Usage:
    """A reply's token counts, as in the real ``usage`` object.

    ``input_tokens`` counts only the input after the cached prefix; the prefix is counted in
    ``cache_creation_input_tokens`` (written now) or ``cache_read_input_tokens`` (read).
    """

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    thinking_tokens: int | None = None
    """Reported as ``output_tokens_details.thinking_tokens`` when not None."""


def usage_body(usage: Usage) -> dict[str, Any]:
    """The ``usage`` object of a Message."""
    body: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
    }
    if usage.thinking_tokens is not None:
        body["output_tokens_details"] = {"thinking_tokens": usage.thinking_tokens}
    return body


def _signature() -> str:
    """An opaque thinking signature, shaped like a real one."""
    return base64.b64encode(os.urandom(48)).decode()


def content_blocks(reply: Reply) -> list[dict[str, Any]]:
    """The content of a reply: a thinking block (display ``omitted``: empty text) when the model
    thought, then the text: one text block, or one per part of a cited reply, each part with
    citations carrying its ``citations`` list."""
    blocks: list[dict[str, Any]] = []
    if reply.thinking_block:
        blocks.append({"type": "thinking", "thinking": "", "signature": _signature()})
    for part in _text_parts(reply):
        block: dict[str, Any] = {"type": "text", "text": part.text}
        if part.citations:
            block["citations"] = [dict(citation) for citation in part.citations]
        blocks.append(block)
    return blocks


def _text_parts(reply: Reply) -> tuple[TextPart, ...]:
    """The reply's text blocks: its parts, or its whole text as one block."""
    return reply.parts or (TextPart(reply.text),)


def message_body(*, message_id: str, model: str, reply: Reply, usage: Usage) -> dict[str, Any]:
    """The complete Message JSON of a non-streamed reply."""
    body: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(reply),
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": usage_body(usage),
    }
    if reply.report_details:
        body["stop_details"] = dict(reply.stop_details) if reply.stop_details else None
    return body


def stream_events(
    *, message_id: str, model: str, reply: Reply, usage: Usage, tokens_per_delta: int
) -> Iterator[StreamEvent]:
    """The events of a streamed reply, in the real order.

    message_start carries ``usage`` with 1 output token; message_delta the final output tokens.

    message_start, content_block_start, ping, one content_block_delta per ``tokens_per_delta``
    tokens of text, content_block_stop, message_delta (stop reason and output tokens), message_stop.
    A cited reply streams one text block per part, each with its ``citations_delta`` events.
    """
    yield (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage_body(replace(usage, output_tokens=1, thinking_tokens=None)),
            },
        },
    )
    index = 0
    if reply.thinking_block:
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        )
        yield (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": _signature()},
            },
        )
        yield "content_block_stop", {"type": "content_block_stop", "index": 0}
        index = 1
    for number, part in enumerate(_text_parts(reply)):
        yield from _text_block_events(part, index + number, tokens_per_delta, ping=number == 0)
    delta: dict[str, Any] = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    final_usage: dict[str, Any] = {"output_tokens": reply.output_tokens}
    if reply.report_details:
        delta["stop_details"] = dict(reply.stop_details) if reply.stop_details else None
        final_usage["output_tokens_details"] = {"thinking_tokens": reply.thinking_tokens}
    yield (
        "message_delta",
        {"type": "message_delta", "delta": delta, "usage": final_usage},
    )
    yield "message_stop", {"type": "message_stop"}


def _text_block_events(
    part: TextPart, index: int, tokens_per_delta: int, *, ping: bool
) -> Iterator[StreamEvent]:
    """One text block streamed: its start, its text deltas, one ``citations_delta`` per
    citation (after the text it backs), its stop; the first block is followed by a ping."""
    start = {"type": "text", "text": ""}
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": start},
    )
    if ping:
        yield "ping", {"type": "ping"}
    deltas: list[dict[str, Any]] = [
        *(
            {"type": "text_delta", "text": chunk}
            for chunk in split_into_chunks(part.text, tokens_per_delta)
        ),
        *({"type": "citations_delta", "citation": dict(citation)} for citation in part.citations),
    ]
    for delta in deltas:
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def encode_sse(event: StreamEvent) -> bytes:
    """One event framed as Server-Sent Events: ``event: NAME\\ndata: JSON\\n\\n``."""
    name, data = event
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()
