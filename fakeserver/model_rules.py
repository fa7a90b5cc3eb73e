"""Today's Claude models as the published docs describe them, for ``FakeMessagesAPI(model_rules=True)``.

This table is the fake server's own, written from the model pages, the migration guides, the
thinking troubleshooting page and the pricing page (checked 2026-12-01; the request rules of
Claude 4.6 to 4.8 and the forced tool choice 2026-12-02), not from docanalyze's catalog: a test
stands on what the service does, not on what the client expects.

What it makes the server do, by model:

- **thinking**: a request without ``thinking`` thinks when the model thinks by default (the 5.x
  family: adaptive thinking at the model's default effort); ``{"type": "adaptive"}`` thinks on any
  model that has it; ``disabled``/``between_tools`` turn it off where accepted, only at the
  efforts listed. Thinking comes back as a ``thinking`` block (display ``omitted``: empty text,
  a signature) before the text, spends ``max_tokens`` first, is billed as output and reported in
  ``usage.output_tokens_details.thinking_tokens``. How much a request thinks grows with the
  effort and the prompt (:func:`thinking_tokens`).
- **400s**: a ``thinking.type`` the model does not accept (``disabled`` on Sonnet 5.5, Opus 5.5
  and Fable; ``enabled`` with ``budget_tokens`` on Claude 4.7 and later), thinking off at an
  effort above ``high`` where that is not allowed, an effort the model does not have,
  non-default ``temperature``/``top_p``/``top_k`` (Claude 4.7 and later), assistant prefill (a
  last message from the assistant; Claude 4.6 and later) and a forced ``tool_choice`` (``any``
  or ``tool``; the 5.5 models and Fable 5.1 and later).
- **404** for a model the table does not have, or one that is retired.
- **tokenizer**: Claude 4.7 and later count 1.3 times the base tokenizer's tokens on most text,
  and the same on CJK characters: Anthropic gives "roughly 1.0-1.35x depending on the content
  type" for the newer tokenizer, and published measurements put Chinese near 1.0.
- **prompt cache minimum** per model (512 tokens on the 5.5 models).
- **the window**: a prompt over the window is a 400; a prompt that fits but leaves less than
  ``max_tokens`` of room is answered, and stops with ``model_context_window_exceeded`` if it
  reaches the window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fakeserver.errors import ApiError
from fakeserver.recording import count_request_tokens, request_texts
from fakeserver.tokenizer import count_cjk_tokens, count_tokens

__all__ = [
    "EFFORTS",
    "TODAYS_MODELS",
    "FakeModel",
    "check_request",
    "generic_model_info",
    "model_info_body",
    "thinking_tokens",
]

EFFORTS = ("low", "medium", "high", "xhigh", "max")
_UP_TO_HIGH = ("low", "medium", "high")
_NO_XHIGH = ("low", "medium", "high", "max")
_NEW_TOKENIZER = 1.3

# Thinking tokens of one request: a share of the prompt plus a base, by effort.
_THINKING_SHARE = {"low": 0.02, "medium": 0.10, "high": 0.35, "xhigh": 0.60, "max": 1.0}
_THINKING_BASE = {"low": 64, "medium": 256, "high": 1024, "xhigh": 2048, "max": 4096}


@dataclass(frozen=True)
class FakeModel:
    """One model's published behaviour."""

    id: str
    display_name: str
    line: str
    context_window: int = 1_000_000
    max_tokens: int = 128_000
    thinking_types: frozenset[str] = frozenset({"adaptive", "disabled"})
    thinks_by_default: bool = True
    efforts: tuple[str, ...] = EFFORTS
    default_effort: str | None = "high"
    off_efforts: tuple[str, ...] = _UP_TO_HIGH
    rejects_sampling: bool = True
    """Non-default ``temperature``/``top_p``/``top_k`` are 400s (Claude Opus 4.7 and later)."""
    rejects_prefill: bool = True
    """A last message from the assistant is a 400 (the Claude 4.6 models and later)."""
    rejects_forced_tools: bool = False
    """``tool_choice`` ``any`` or ``tool`` is a 400 (Sonnet 5.5, Opus 5.5, Haiku 5.5, Fable 5.1
    and later)."""
    tokenizer_ratio: float = _NEW_TOKENIZER
    min_cache_tokens: int = 1024
    lifecycle: str = "active"
    deprecated_at: str | None = None
    retires_at: str | None = None
    released: str = "2026-01-01"

    def count_text(self, text: str) -> int:
        """The tokens of ``text`` (a reply) by this model's tokenizer (see :meth:`count_request`)."""
        return self._scaled(count_tokens(text), lambda: count_cjk_tokens(text))

    def count_request(self, body: Mapping[str, Any]) -> int:
        """The input tokens of a request's ``body`` by this model's tokenizer: the newer
        tokenizer counts ``tokenizer_ratio`` times the base tokenizer's tokens, except on CJK
        characters (one token each by both)."""
        return self._scaled(
            count_request_tokens(body),
            lambda: sum(count_cjk_tokens(text) for text in request_texts(body)),
        )

    def _scaled(self, base: int, cjk_tokens: Callable[[], int]) -> int:
        if self.tokenizer_ratio == 1.0 or not base:
            return base
        cjk = cjk_tokens()
        return cjk + math.ceil((base - cjk) * self.tokenizer_ratio)


_ALWAYS = frozenset({"adaptive"})


def _on_request(model_id: str, name: str, line: str, **settings: Any) -> FakeModel:
    """A model that thinks only when asked (before 5.x)."""
    return FakeModel(model_id, name, line, thinks_by_default=False, off_efforts=EFFORTS, **settings)


TODAYS_MODELS: dict[str, FakeModel] = {
    model.id: model
    for model in (
        FakeModel("claude-fable-5-2", "Claude Fable 5.2", "fable", thinking_types=_ALWAYS,
                  off_efforts=(), min_cache_tokens=512, released="2026-11-09",
                  rejects_forced_tools=True),
        FakeModel("claude-fable-5-1", "Claude Fable 5.1", "fable", thinking_types=_ALWAYS,
                  off_efforts=(), min_cache_tokens=512, released="2026-09-01",
                  rejects_forced_tools=True),
        FakeModel("claude-fable-5", "Claude Fable 5", "fable", thinking_types=_ALWAYS,
                  off_efforts=(), min_cache_tokens=512),
        FakeModel("claude-opus-5-5", "Claude Opus 5.5", "opus", thinking_types=_ALWAYS,
                  default_effort="medium", off_efforts=(), min_cache_tokens=512,
                  rejects_forced_tools=True),
        FakeModel("claude-opus-5", "Claude Opus 5", "opus", min_cache_tokens=512,
                  released="2026-07-24"),
        FakeModel("claude-sonnet-5-5", "Claude Sonnet 5.5", "sonnet",
                  thinking_types=frozenset({"adaptive", "between_tools"}), min_cache_tokens=512,
                  released="2026-09-28", rejects_forced_tools=True),
        FakeModel("claude-sonnet-5", "Claude Sonnet 5", "sonnet", off_efforts=EFFORTS,
                  released="2026-06-30"),
        FakeModel("claude-haiku-5-5", "Claude Haiku 5.5", "haiku", default_effort="medium",
                  min_cache_tokens=512, released="2026-10-07", rejects_forced_tools=True),
        _on_request("claude-opus-4-8", "Claude Opus 4.8", "opus"),
        _on_request("claude-opus-4-7", "Claude Opus 4.7", "opus", min_cache_tokens=2048),
        _on_request("claude-opus-4-6", "Claude Opus 4.6", "opus",
                    thinking_types=frozenset({"adaptive", "disabled", "enabled"}),
                    efforts=_NO_XHIGH, tokenizer_ratio=1.0, min_cache_tokens=4096,
                    rejects_sampling=False),
        _on_request("claude-sonnet-4-6", "Claude Sonnet 4.6", "sonnet",
                    thinking_types=frozenset({"adaptive", "disabled", "enabled"}),
                    efforts=_NO_XHIGH, tokenizer_ratio=1.0, min_cache_tokens=2048,
                    rejects_sampling=False),
        _on_request("claude-haiku-4-5", "Claude Haiku 4.5", "haiku", context_window=200_000,
                    max_tokens=64_000, thinking_types=frozenset({"enabled", "disabled"}),
                    efforts=(), default_effort=None, tokenizer_ratio=1.0,
                    min_cache_tokens=4096, rejects_sampling=False, rejects_prefill=False),
        _on_request("claude-opus-4-5", "Claude Opus 4.5", "opus", context_window=200_000,
                    max_tokens=64_000, thinking_types=frozenset({"enabled", "disabled"}),
                    efforts=_UP_TO_HIGH, tokenizer_ratio=1.0, min_cache_tokens=4096,
                    rejects_sampling=False, rejects_prefill=False,
                    lifecycle="deprecated", deprecated_at="2026-11-23T00:00:00Z",
                    retires_at="2027-01-22T00:00:00Z"),
        _on_request("claude-sonnet-4-5", "Claude Sonnet 4.5", "sonnet", context_window=200_000,
                    max_tokens=64_000, thinking_types=frozenset({"enabled", "disabled"}),
                    efforts=(), default_effort=None, tokenizer_ratio=1.0,
                    rejects_sampling=False, rejects_prefill=False,
                    lifecycle="retired", deprecated_at="2026-08-01T00:00:00Z",
                    retires_at="2026-11-30T00:00:00Z"),
    )
}  # fmt: skip


def check_request(body: Mapping[str, Any], model: FakeModel) -> None:
    """Raise the API's 400 for a request ``model`` does not accept (see the module docstring)."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    effort = _effort(body, model)
    if kind is not None and kind not in model.thinking_types:
        raise ApiError(400, _unsupported_thinking_message(kind, model))
    if kind in ("disabled", "between_tools") and model.thinks_by_default:
        level = effort or model.default_effort
        if level not in model.off_efforts:
            raise ApiError(
                400,
                f'"thinking.type.{kind}" is not supported with effort "{level}" on this model: '
                f"thinking can be off only at effort {', '.join(model.off_efforts)}",
            )
    _check_strict(body, model)


def _effort(body: Mapping[str, Any], model: FakeModel) -> str | None:
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, Mapping) else None
    if effort is None:
        return None
    if effort not in EFFORTS:
        raise ApiError(
            400, f"output_config.effort: Input should be {', '.join(map(repr, EFFORTS))}"
        )
    if effort not in model.efforts:
        accepted = ", ".join(model.efforts) or "none"
        raise ApiError(
            400, f'effort "{effort}" is not supported by {model.id} (supported: {accepted})'
        )
    return str(effort)


def _unsupported_thinking_message(kind: str, model: FakeModel) -> str:
    if "between_tools" in model.thinking_types and kind == "disabled":
        return (
            '"thinking.type.disabled" is not supported for this model. Use '
            '"thinking.type.between_tools" to turn off up-front thinking.'
        )
    if model.thinks_by_default:
        return (
            f'"thinking.type.{kind}" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
        )
    return f'"thinking.type.{kind}" is not supported for this model.'


def _check_strict(body: Mapping[str, Any], model: FakeModel) -> None:
    for name, default in (("temperature", 1.0), ("top_p", None), ("top_k", None)):
        if model.rejects_sampling and name in body and body[name] != default:
            raise ApiError(
                400,
                f"`{name}` is not supported for this model: non-default sampling parameters "
                "are rejected; remove it",
            )
    messages = body.get("messages")
    if model.rejects_prefill and isinstance(messages, list) and messages:
        last = messages[-1]
        if isinstance(last, Mapping) and last.get("role") == "assistant":
            raise ApiError(
                400,
                "This model does not support assistant message prefill. The conversation must "
                "end with a user message.",
            )
    tool_choice = body.get("tool_choice")
    if (
        model.rejects_forced_tools
        and isinstance(tool_choice, Mapping)
        and tool_choice.get("type") in ("any", "tool")
    ):
        raise ApiError(
            400,
            f'tool_choice.type "{tool_choice.get("type")}" is not supported for this model: '
            'use "auto" or "none"',
        )


def thinking_tokens(body: Mapping[str, Any], model: FakeModel, input_tokens: int) -> int:
    """How many tokens ``model`` thinks for this (valid) request, before ``max_tokens`` cuts it."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind in ("disabled", "between_tools"):
        return 0
    if kind is None and not model.thinks_by_default:
        return 0
    if kind not in (None, "adaptive", "enabled"):
        return 0
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, Mapping) else None
    level = str(effort or model.default_effort or "high")
    wanted = int(input_tokens * _THINKING_SHARE[level]) + _THINKING_BASE[level]
    if kind == "enabled" and isinstance(thinking, Mapping):
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int):
            wanted = min(wanted, budget)
    return wanted


def model_info_body(model: FakeModel) -> dict[str, Any]:
    """The Models API's ``ModelInfo`` JSON for ``model``."""

    def support(flag: bool) -> dict[str, bool]:
        return {"supported": flag}

    types = {kind: support(kind in model.thinking_types) for kind in
             ("adaptive", "between_tools", "disabled", "enabled")}  # fmt: skip
    effort: dict[str, Any] = {level: support(level in model.efforts) for level in EFFORTS}
    effort["supported"] = bool(model.efforts)
    capabilities = {
        "batch": support(True),
        "citations": support(True),
        "code_execution": support(True),
        "context_management": {"supported": True},
        "effort": effort,
        "image_input": support(True),
        "pdf_input": support(True),
        "server_tools": {
            "supported": True,
            "code_execution": support(True),
            "web_search": support(True),
        },
        "structured_outputs": support(True),
        "thinking": {"supported": bool({"adaptive", "enabled"} & model.thinking_types),
                     "types": types},
    }  # fmt: skip
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.display_name,
        "created_at": f"{model.released}T00:00:00Z",
        "line": model.line,
        "lifecycle": model.lifecycle,
        "deprecated_at": model.deprecated_at,
        "retires_at": model.retires_at,
        "max_input_tokens": model.context_window,
        "max_tokens": model.max_tokens,
        "capabilities": capabilities,
    }


def generic_model_info(model_id: str, context_window: int, max_tokens: int) -> dict[str, Any]:
    """A ``ModelInfo`` for any id, from a server that does not follow model rules: active, with
    the server's own limits, and no capability information (``capabilities: null``)."""
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id,
        "created_at": "2026-01-01T00:00:00Z",
        "line": None,
        "lifecycle": "active",
        "deprecated_at": None,
        "retires_at": None,
        "max_input_tokens": context_window,
        "max_tokens": max_tokens,
        "capabilities": None,
    }
