"""Translating between our requests and replies and the Messages API's, for direct and batch calls.

:func:`request_params` is the one place that decides what a request sends, by the rules of the
model that answers it (:class:`~docanalyze.models.anthropic.capabilities.Capabilities`):

- ``thinking``: ``"on"`` sends ``{"type": "adaptive"}`` (budgeted ``enabled`` on a model that has
  only that); ``"off"`` sends the model's way of turning thinking off (``between_tools`` on
  Sonnet 5.5, ``disabled`` elsewhere), nothing on a model that does not think unless asked, and,
  on a model that always thinks, nothing but its lowest effort;
- ``output_config.effort`` only on a model with an effort parameter;
- ``temperature`` only when the request sets one and the model accepts sampling parameters.

Only one user message is ever sent: no assistant prefill, no tools, no ``tool_choice``.
"""

from __future__ import annotations

from typing import Any

from anthropic.types import Message, TextBlock, TextBlockParam

from docanalyze.models.anthropic.capabilities import Capabilities
from docanalyze.models.base import ModelReply, ModelRequest, Refusal, Usage

__all__ = [
    "MIN_THINKING_BUDGET",
    "reply_from_message",
    "reply_text",
    "request_params",
    "system_param",
]

MIN_THINKING_BUDGET = 1024
"""The smallest ``budget_tokens`` of budgeted (``enabled``) thinking."""


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


def request_params(request: ModelRequest, model: str, rules: Capabilities) -> dict[str, Any]:
    """The Messages API parameters that ask ``model`` (with ``rules``) for ``request``."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": "user", "content": request.prompt}],
    }
    system = system_param(request)
    if system is not None:
        params["system"] = system
    thinking, effort = _thinking_settings(request, rules)
    if thinking is not None:
        params["thinking"] = thinking
    if effort is not None:
        params["output_config"] = {"effort": effort}
    if request.temperature is not None and not rules.rejects_sampling:  # checked at load time
        params["temperature"] = request.temperature
    return params


def _thinking_settings(
    request: ModelRequest, rules: Capabilities
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``thinking`` parameter and the effort of ``request`` under ``rules``."""
    if not rules.known:  # nobody describes the model: send what was asked
        return ({"type": "adaptive"} if request.thinking == "on" else None), request.effort
    effort = request.effort if request.effort in rules.efforts else None
    if request.thinking == "on":
        if "adaptive" in rules.thinking_types:
            return {"type": "adaptive"}, effort
        if "enabled" in rules.thinking_types:
            budget = max(MIN_THINKING_BUDGET, request.thinking_allowance)
            if budget < request.max_tokens:
                return {"type": "enabled", "budget_tokens": budget}, effort
        return None, effort
    if request.thinking == "off" and rules.thinks_by_default:
        off_type = rules.off_type
        if off_type is not None and rules.off_allowed_at(effort):
            return {"type": off_type}, effort
        return None, effort or rules.lowest_effort
    return None, effort


def reply_text(message: Message) -> str:
    """The text blocks of ``message``, joined (thinking and other blocks are left out)."""
    return "".join(block.text for block in message.content if isinstance(block, TextBlock))


def reply_from_message(message: Message, duration: float) -> ModelReply:
    """Our reply: the text blocks joined (thinking and other blocks ignored), the usage with its
    thinking tokens, and the refusal's details when the model refused."""
    text = reply_text(message)
    usage = message.usage
    details = usage.output_tokens_details
    stop = message.stop_details
    refusal = None
    if message.stop_reason == "refusal":
        refusal = Refusal(
            category=stop.category if stop else None, explanation=stop.explanation if stop else None
        )
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
            thinking_tokens=details.thinking_tokens if details else 0,
        ),
        duration=duration,
        refusal=refusal,
    )
