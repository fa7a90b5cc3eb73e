"""Where reply texts come from (scripted replies, then a responder) and how a reply is finished.

A reply is cut at the first stop sequence found in it, then to ``max_tokens`` tokens of the fake
tokenizer, and gets the matching ``stop_reason``. A reply made of :class:`TextPart` s (a cited
answer) is cut the same way: the part the cut falls in keeps its text up to the cut but loses
its citations (in a stream they come after the text), later parts are dropped.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fakeserver.errors import ApiError
from fakeserver.recording import RecordedRequest
from fakeserver.tokenizer import count_tokens, truncate_to_tokens

__all__ = [
    "Reply",
    "ReplySource",
    "Responder",
    "ScriptedReply",
    "TextPart",
    "echo_responder",
    "finish_reply",
    "padded_to_share",
]

PADDING_LINE = "Further detail of this part is noted here for the record."
"""What a reply is padded with to reach its share of the input (see :func:`padded_to_share`)."""

Responder = Callable[[RecordedRequest], "str | ScriptedReply"]
"""Returns the reply text for a request (or a whole scripted reply, e.g. a refusal)."""


def echo_responder(request: RecordedRequest) -> str:
    """The default responder: the reply is the text of the last user message."""
    return request.prompt


def padded_to_share(responder: Responder, share: float) -> Responder:
    """``responder`` whose replies are padded with :data:`PADDING_LINE` lines up to ``share``
    of the request's input tokens, as long as a real model's replies to such prompts (a reply
    already that long, or a scripted refusal, is left as it is)."""
    if not 0 < share <= 1:
        raise ValueError(f"reply_share must be more than 0 and at most 1, got {share}")
    line_tokens = count_tokens(PADDING_LINE)

    def respond(request: RecordedRequest) -> str | ScriptedReply:
        answer = responder(request)
        text = answer.text if isinstance(answer, ScriptedReply) else answer
        if isinstance(answer, ScriptedReply) and answer.stop_reason == "refusal":
            return answer
        missing = int(share * request.input_tokens) - count_tokens(text)
        if missing <= 0:
            return answer
        padding = ("\n" + PADDING_LINE) * math.ceil(missing / line_tokens)
        if not isinstance(answer, ScriptedReply):
            return text + padding
        if answer.parts:
            return ScriptedReply.cited([*answer.parts, TextPart(padding)])
        return replace(answer, text=text + padding)

    return respond


@dataclass(frozen=True)
class TextPart:
    """One text block of a reply and the citations that back it (the API's ``citations``
    objects: ``char_location``, ``page_location``, ``content_block_location`` or
    ``search_result_location``); a part without citations is sent without the field."""

    text: str
    citations: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ScriptedReply:
    """A reply queued by ``FakeMessagesAPI.enqueue`` (or returned by a responder);
    ``stop_reason`` overrides the computed one, ``stop_details`` goes with a refusal (e.g.
    ``{"type": "refusal", "category": "cyber", "explanation": "..."}``).

    ``parts``, when given, are the reply's text blocks (``text`` is then their texts joined):
    build such a reply with :meth:`cited`.
    """

    text: str
    stop_reason: str | None = None
    stop_details: Mapping[str, Any] | None = None
    parts: tuple[TextPart, ...] = ()

    @classmethod
    def cited(cls, parts: Sequence[TextPart]) -> ScriptedReply:
        """A reply made of ``parts``, each its own text block with its citations."""
        return cls("".join(part.text for part in parts), parts=tuple(parts))


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
            answer = self._responder(request)
        except Exception as error:
            message = f"the fake server's responder failed: {type(error).__name__}: {error}"
            raise ApiError(500, message) from error
        return answer if isinstance(answer, ScriptedReply) else ScriptedReply(answer)


@dataclass(frozen=True)
class Reply:
    """The text the server sends back, its token count and why it stopped.

    ``output_tokens`` counts the thinking too; ``thinking_tokens`` is that part, and
    ``thinking_block`` says whether a thinking block comes before the text. ``report_details``
    adds ``usage.output_tokens_details`` (a server that follows today's model rules).
    """

    text: str
    output_tokens: int
    stop_reason: str
    stop_sequence: str | None = None
    thinking_tokens: int = 0
    thinking_block: bool = False
    stop_details: Mapping[str, Any] | None = None
    report_details: bool = False
    parts: tuple[TextPart, ...] = ()
    """The text blocks of a cited reply (their texts joined are ``text``); empty otherwise."""


def finish_reply(
    scripted: ScriptedReply,
    *,
    max_tokens: int,
    stop_sequences: Sequence[str] = (),
    thinking: int = 0,
    window_room: int | None = None,
    ratio: float = 1.0,
    count: Callable[[str], int] | None = None,
    rules: bool = False,
) -> Reply:
    """Apply stop sequences, thinking, and the ``max_tokens`` limit to ``scripted``.

    ``thinking`` tokens are spent first; the text gets what is left of ``max_tokens`` (and of
    ``window_room``, the room the context window leaves, when smaller). Text tokens are
    ``count``'s (the model's tokenizer), else the base tokenizer's times ``ratio``; the text is
    cut to fit at ``ratio`` tokens per base token. The stop reason is "stop_sequence" if the
    text was cut at a stop sequence, else "model_context_window_exceeded" or "max_tokens" if it
    did not fit, else "end_turn"; a scripted stop reason wins over all.
    """
    limit = max_tokens if window_room is None else min(max_tokens, window_room)
    cut_reason = "max_tokens" if limit == max_tokens else "model_context_window_exceeded"
    thought = min(thinking, limit)
    room = math.floor((limit - thought) / ratio)
    text, stop_sequence = _cut_at_stop_sequence(scripted.text, stop_sequences)
    stop_reason = "stop_sequence" if stop_sequence is not None else "end_turn"
    if thought >= limit and thinking > 0:
        text, stop_reason, stop_sequence = "", cut_reason, None
    elif count_tokens(text) > room:
        text = truncate_to_tokens(text, room)
        stop_reason, stop_sequence = cut_reason, None
    if scripted.stop_reason is not None:
        stop_reason = scripted.stop_reason
    text_tokens = count_tokens(text)
    if count is not None:
        scaled = count(text)
    else:
        scaled = math.ceil(text_tokens * ratio) if text_tokens else 0
    return Reply(
        text=text,
        output_tokens=min(limit, thought + scaled) if ratio != 1.0 else thought + scaled,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        thinking_tokens=thought,
        thinking_block=thinking > 0,
        stop_details=scripted.stop_details if stop_reason == "refusal" else None,
        report_details=rules,
        parts=_parts_up_to(scripted.parts, len(text)),
    )


def _parts_up_to(parts: Sequence[TextPart], length: int) -> tuple[TextPart, ...]:
    """The parts that hold the first ``length`` characters of their joined text; a part cut
    short keeps no citation."""
    kept: list[TextPart] = []
    start = 0
    for part in parts:
        room = length - start
        if room <= 0:
            break
        kept.append(part if len(part.text) <= room else TextPart(part.text[:room]))
        start += len(part.text)
    return tuple(kept)


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
