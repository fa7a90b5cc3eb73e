"""The work shared by ``/v1/messages`` and Message Batches: check a request, then compose its reply.

:meth:`MessageComposer.prepare` validates the body, counts its input tokens and looks up the
prompt cache; :meth:`PreparedMessage.check_context_window` refuses a prompt that does not fit.
:meth:`MessageComposer.compose` takes the next reply text, cuts it to ``max_tokens``, writes the
prompt cache (the reply begins now) and counts the usage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fakeserver.errors import ApiError
from fakeserver.model_rules import FakeModel, check_request, thinking_tokens
from fakeserver.prompt_cache import CachePlan, PromptCache
from fakeserver.recording import RecordedRequest, count_request_tokens
from fakeserver.replies import Reply, ReplySource, finish_reply
from fakeserver.settings import ServerSettings
from fakeserver.stats import StatsRecorder
from fakeserver.validation import check_context_window, validate_messages_body
from fakeserver.wire import Usage

__all__ = ["ComposedReply", "MessageComposer", "PreparedMessage"]


@dataclass(frozen=True)
class PreparedMessage:
    """A valid message request: its body, ``max_tokens``, input tokens and prompt-cache plan.

    ``input_tokens`` counts the whole input, cached or not, by the model's tokenizer; ``model``
    holds the model's rules when the server follows them (then a prompt that fits the window
    but not with ``max_tokens`` is answered, up to the window).
    """

    body: Mapping[str, Any]
    max_tokens: int
    input_tokens: int
    cache: CachePlan
    model: FakeModel | None = None
    ratio: float = 1.0
    """The model's tokens per base-tokenizer token on this request's text (its prefixes and
    its reply are counted at the same rate)."""

    def scaled(self, base_tokens: int) -> int:
        """``base_tokens`` of the base tokenizer, by the model's tokenizer."""
        return math.ceil(base_tokens * self.ratio) if base_tokens else 0

    @property
    def cache_read_tokens(self) -> int:
        """Tokens read from the prompt cache, by the model's tokenizer (as the usage reports)."""
        return self.scaled(self.cache.read_tokens)

    @property
    def cache_write_tokens(self) -> int:
        """Tokens written to the prompt cache, by the model's tokenizer (as the usage reports)."""
        return self.scaled(self.cache.write_tokens)

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens not read from the cache (what the real API's input rate limit counts)."""
        return self.input_tokens - self.cache_read_tokens

    def check_context_window(self, context_window: int) -> None:
        """Raise the real 400 if the prompt, alone or with ``max_tokens``, does not fit."""
        window = self.model.context_window if self.model is not None else context_window
        max_tokens = 0 if self.model is not None else self.max_tokens
        check_context_window(self.input_tokens, max_tokens, window)

    def window_room(self, context_window: int) -> int | None:
        """Output tokens the window leaves after the prompt, when the server follows model rules."""
        if self.model is None:
            return None
        return max(0, min(context_window, self.model.context_window) - self.input_tokens)

    def usage(self, reply: Reply) -> Usage:
        """The reply's usage: input after the cached prefix, the prefix read or written."""
        prefix = self.scaled(self.cache.prefix_tokens)
        return Usage(
            input_tokens=self.input_tokens - prefix,
            output_tokens=reply.output_tokens,
            cache_creation_input_tokens=self.cache_write_tokens,
            cache_read_input_tokens=self.cache_read_tokens,
            thinking_tokens=reply.thinking_tokens if reply.report_details else None,
        )


@dataclass(frozen=True)
class ComposedReply:
    """The reply to a message request and its usage."""

    reply: Reply
    usage: Usage


class MessageComposer:
    """Prepares message requests and composes their replies (see the module docstring)."""

    def __init__(
        self,
        settings: ServerSettings,
        replies: ReplySource,
        cache: PromptCache,
        stats: StatsRecorder,
    ) -> None:
        self.settings = settings
        self.replies = replies
        self.cache = cache
        self.stats = stats

    def prepare(self, body: Mapping[str, Any]) -> PreparedMessage:
        """Validate ``body`` (a 400 ApiError if invalid), count it and plan its cache use.

        With model rules, an unknown or retired model is a 404 and a request the model does not
        accept a 400 (:func:`~fakeserver.model_rules.check_request`).
        """
        model = self.model_of(body)
        max_output = model.max_tokens if model is not None else self.settings.max_output_tokens
        validate_messages_body(body, max_output)
        if model is None:
            cache = self.cache.plan(body)
            return PreparedMessage(body, body["max_tokens"], count_request_tokens(body), cache)
        check_request(body, model)
        input_tokens = model.count_request(body)
        ratio = input_tokens / max(1, count_request_tokens(body))
        cache = self.cache.plan(body, min_tokens=math.ceil(model.min_cache_tokens / ratio))
        return PreparedMessage(body, body["max_tokens"], input_tokens, cache, model, ratio)

    def model_of(self, body: Mapping[str, Any]) -> FakeModel | None:
        """The rules of the request's model (None without model rules); 404 for a model the
        server does not have or that is retired."""
        if not self.settings.model_rules:
            return None
        name = body.get("model")
        model = self.settings.model(name)
        if model is None or model.lifecycle == "retired":
            raise ApiError(404, f"model: {name}", error_type="not_found_error")
        return model

    def compose(self, prepared: PreparedMessage, recorded: RecordedRequest) -> ComposedReply:
        """The reply to ``prepared`` (recorded as ``recorded``); the prompt cache is written."""
        model = prepared.model
        thinking = (
            thinking_tokens(prepared.body, model, prepared.input_tokens) if model is not None else 0
        )
        reply = finish_reply(
            self.replies.next_reply(recorded),
            max_tokens=prepared.max_tokens,
            stop_sequences=prepared.body.get("stop_sequences") or (),
            thinking=thinking,
            window_room=prepared.window_room(self.settings.context_window),
            ratio=model.tokenizer_ratio if model is not None else 1.0,
            count=model.count_text if model is not None else None,
            rules=model is not None,
        )
        self._use_cache(prepared)
        self._count_reply(reply)
        return ComposedReply(reply, prepared.usage(reply))

    def _count_reply(self, reply: Reply) -> None:
        if reply.stop_reason in ("max_tokens", "model_context_window_exceeded"):
            self.stats.add("cut_replies")
        elif reply.stop_reason == "refusal":
            self.stats.add("refusals")
        if reply.thinking_tokens:
            self.stats.add("thinking_tokens", reply.thinking_tokens)

    def _use_cache(self, prepared: PreparedMessage) -> None:
        self.cache.commit(prepared.cache)
        if prepared.cache_read_tokens:
            self.stats.add("cache_reads")
            self.stats.add("cache_read_tokens", prepared.cache_read_tokens)
        if prepared.cache_write_tokens:
            self.stats.add("cache_writes")
            self.stats.add("cache_write_tokens", prepared.cache_write_tokens)
