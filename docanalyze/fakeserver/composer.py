"""The work shared by ``/v1/messages`` and Message Batches: check a request, then compose its reply.

:meth:`MessageComposer.prepare` validates the body, counts its input tokens and looks up the
prompt cache; :meth:`PreparedMessage.check_context_window` refuses a prompt that does not fit.
:meth:`MessageComposer.compose` takes the next reply text, cuts it to ``max_tokens``, writes the
prompt cache (the reply begins now) and counts the usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docanalyze.fakeserver.prompt_cache import CachePlan, PromptCache
from docanalyze.fakeserver.recording import RecordedRequest, count_request_tokens
from docanalyze.fakeserver.replies import Reply, ReplySource, finish_reply
from docanalyze.fakeserver.settings import ServerSettings
from docanalyze.fakeserver.stats import StatsRecorder
from docanalyze.fakeserver.validation import check_context_window, validate_messages_body
from docanalyze.fakeserver.wire import Usage

__all__ = ["ComposedReply", "MessageComposer", "PreparedMessage"]


@dataclass(frozen=True)
class PreparedMessage:
    """A valid message request: its body, ``max_tokens``, input tokens and prompt-cache plan.

    ``input_tokens`` counts the whole input, cached or not.
    """

    body: Mapping[str, Any]
    max_tokens: int
    input_tokens: int
    cache: CachePlan

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens not read from the cache (what the real API's input rate limit counts)."""
        return self.input_tokens - self.cache.read_tokens

    def check_context_window(self, context_window: int) -> None:
        """Raise the real 400 if the prompt, alone or with ``max_tokens``, does not fit."""
        check_context_window(self.input_tokens, self.max_tokens, context_window)

    def usage(self, output_tokens: int) -> Usage:
        """The reply's usage: input after the cached prefix, the prefix read or written."""
        return Usage(
            input_tokens=self.input_tokens - self.cache.prefix_tokens,
            output_tokens=output_tokens,
            cache_creation_input_tokens=self.cache.write_tokens,
            cache_read_input_tokens=self.cache.read_tokens,
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
        """Validate ``body`` (a 400 ApiError if invalid), count it and plan its cache use."""
        validate_messages_body(body, self.settings.max_output_tokens)
        return PreparedMessage(
            body=body,
            max_tokens=body["max_tokens"],
            input_tokens=count_request_tokens(body),
            cache=self.cache.plan(body),
        )

    def compose(self, prepared: PreparedMessage, recorded: RecordedRequest) -> ComposedReply:
        """The reply to ``prepared`` (recorded as ``recorded``); the prompt cache is written."""
        reply = finish_reply(
            self.replies.next_reply(recorded),
            max_tokens=prepared.max_tokens,
            stop_sequences=prepared.body.get("stop_sequences") or (),
        )
        self._use_cache(prepared.cache)
        return ComposedReply(reply, prepared.usage(reply.output_tokens))

    def _use_cache(self, plan: CachePlan) -> None:
        self.cache.commit(plan)
        if plan.read_tokens:
            self.stats.add("cache_reads")
            self.stats.add("cache_read_tokens", plan.read_tokens)
        if plan.write_tokens:
            self.stats.add("cache_writes")
            self.stats.add("cache_write_tokens", plan.write_tokens)
