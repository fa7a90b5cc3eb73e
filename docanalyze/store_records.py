"""What the run store hands back: a stored reply, a run's record, a submitted batch, cache counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docanalyze.models.base import ModelReply, ReplyBlock, ReplyCitation, Usage

__all__ = [
    "CacheStats",
    "RunRecord",
    "StoredCall",
    "SubmittedBatch",
    "blocks_from_json",
    "blocks_to_json",
]


@dataclass(frozen=True)
class StoredCall:
    """A stored reply, as a :class:`ModelReply` would carry it (with its cited blocks)."""

    text: str
    stop_reason: str
    model: str
    usage: Usage
    duration: float
    blocks: tuple[ReplyBlock, ...] = ()

    def as_reply(self) -> ModelReply:
        return ModelReply(
            self.text, self.stop_reason, self.model, self.usage, self.duration, blocks=self.blocks
        )


def blocks_to_json(blocks: tuple[ReplyBlock, ...]) -> str | None:
    """A reply's blocks as the store keeps them: ``[{"text", "citations": [{"source",
    "cited_text"}]}]``; None for a reply without blocks."""
    if not blocks:
        return None
    return json.dumps(
        [
            {
                "text": block.text,
                "citations": [
                    {"source": c.source, "cited_text": c.cited_text} for c in block.citations
                ],
            }
            for block in blocks
        ],
        ensure_ascii=False,
    )


def blocks_from_json(stored: str | None) -> tuple[ReplyBlock, ...]:
    """The blocks :func:`blocks_to_json` wrote (none for a row stored without them)."""
    if not stored:
        return ()
    return tuple(
        ReplyBlock(
            block["text"],
            tuple(ReplyCitation(int(c["source"]), c["cited_text"]) for c in block["citations"]),
        )
        for block in json.loads(stored)
    )


@dataclass(frozen=True)
class RunRecord:
    """One run as the store keeps it. ``status``: running, complete, failed, interrupted, killed."""

    id: str
    started_at: float
    finished_at: float | None
    status: str
    inputs: list[dict[str, str]]
    options: dict[str, Any]
    model: str
    requests: int
    cached: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    error: str | None
    result: dict[str, Any] | None
    last_reply_at: float | None = None
    """When the last reply stored for a run that never finished (killed, running) arrived."""


@dataclass(frozen=True)
class SubmittedBatch:
    """A Message Batch sent to the API: its id and, by custom_id, the call key and stage of
    each request in it. ``status``: pending (results not yet stored), collected, or lost."""

    id: str
    created_at: float
    status: str
    requests: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds: replies, their tokens, and the money they cost when first asked."""

    path: Path
    calls: int
    input_tokens: int
    output_tokens: int
    size_bytes: int
    runs: int
