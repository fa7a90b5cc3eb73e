"""Translating between our requests and replies and the Messages API's, for direct and batch calls."""

from __future__ import annotations

from anthropic.types import Message, TextBlock, TextBlockParam

from docanalyze.models.base import ModelReply, ModelRequest, Usage

__all__ = ["reply_from_message", "reply_text", "system_param"]


def system_param(request: ModelRequest) -> str | list[TextBlockParam] | None:
    """The ``system`` parameter: None when the request has none, a string, or a cached block.

    A request that asks for caching sends its system prompt as one text block marked
    ``cache_control: {"type": "ephemeral"}``.
    """
    if not request.system:
        return None
    if not request.cache_system:
        return request.system
    return [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}]


def reply_text(message: Message) -> str:
    """The text blocks of ``message``, joined (thinking and other blocks are left out)."""
    return "".join(block.text for block in message.content if isinstance(block, TextBlock))


def reply_from_message(message: Message, duration: float) -> ModelReply:
    """Our reply: the text blocks joined (thinking and other blocks ignored) and the usage."""
    text = reply_text(message)
    usage = message.usage
    return ModelReply(
        text=text,
        stop_reason=str(message.stop_reason or "unknown"),
        model=message.model,
        usage=Usage(
            requests=1,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        ),
        duration=duration,
    )
