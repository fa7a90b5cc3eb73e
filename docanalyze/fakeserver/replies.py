"""Where reply texts come from (scripted replies, then a responder) and how a reply is finished.

A reply is cut at the first stop sequence found in it, then to ``max_tokens`` tokens of the fake
tokenizer, and gets the matching ``stop_reason``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from docanalyze.fakeserver.errors import ApiError
from docanalyze.fakeserver.recording import RecordedRequest
from docanalyze.fakeserver.tokenizer import count_tokens, truncate_to_tokens

__all__ = ["Reply", "ReplySource", "Responder", "ScriptedReply", "echo_responder", "finish_reply"]

Responder = Callable[[RecordedRequest], str]
"""Returns the reply text for a request."""


def echo_responder(request: RecordedRequest) -> str:
    """The default responder: the reply is the text of the last user message."""
    return request.prompt


@dataclass(frozen=True)
class ScriptedReply:
    """A reply queued by ``FakeMessagesAPI.enqueue``; ``stop_reason`` overrides the computed one."""

    text: str
    stop_reason: str | None = None


class ReplySource:
    """Scripted replies first, first in first out; then the responder. Thread-safe."""

    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self._lock = threading.Lock()
        self._scripted: deque[ScriptedReply] = deque()

    def enqueue(self, reply: ScriptedReply) -> None:
        """Queue ``reply`` to answer the next request not yet served by an earlier one."""
        with self._lock:
            self._scripted.append(reply)

    def pending(self) -> int:
        """How many scripted replies are still waiting."""
        with self._lock:
            return len(self._scripted)

    def next_reply(self, request: RecordedRequest) -> ScriptedReply:
        """The reply for ``request``: the oldest scripted one, or the responder's.

        A responder that raises becomes a 500 ``api_error`` naming the exception.
        """
        with self._lock:
            if self._scripted:
                return self._scripted.popleft()
        try:
            return ScriptedReply(self._responder(request))
        except Exception as error:
            message = f"the fake server's responder failed: {type(error).__name__}: {error}"
            raise ApiError(500, message) from error


@dataclass(frozen=True)
class Reply:
    """The text the server sends back, its token count and why it stopped."""

    text: str
    output_tokens: int
    stop_reason: str
    stop_sequence: str | None = None


def finish_reply(
    scripted: ScriptedReply, *, max_tokens: int, stop_sequences: Sequence[str] = ()
) -> Reply:
    """Apply stop sequences and the ``max_tokens`` limit to ``scripted``.

    The stop reason is "stop_sequence" if the text was cut at a stop sequence, else "max_tokens"
    if it was longer than ``max_tokens``, else "end_turn"; a scripted stop reason wins over all.
    """
    text, stop_sequence = _cut_at_stop_sequence(scripted.text, stop_sequences)
    stop_reason = "stop_sequence" if stop_sequence is not None else "end_turn"
    if count_tokens(text) > max_tokens:
        text = truncate_to_tokens(text, max_tokens)
        stop_reason, stop_sequence = "max_tokens", None
    if scripted.stop_reason is not None:
        stop_reason = scripted.stop_reason
    return Reply(
        text=text,
        output_tokens=count_tokens(text),
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
    )


def _cut_at_stop_sequence(text: str, stop_sequences: Sequence[str]) -> tuple[str, str | None]:
    """``text`` up to the earliest stop sequence in it, and that sequence (None if none occurs)."""
    earliest: tuple[int, str] | None = None
    for sequence in stop_sequences:
        position = text.find(sequence) if sequence else -1
        if position >= 0 and (earliest is None or position < earliest[0]):
            earliest = (position, sequence)
    if earliest is None:
        return text, None
    return text[: earliest[0]], earliest[1]
