"""How long a planned stage takes at the configured limits, under stated assumptions.

A request is assumed to take :data:`FIRST_TOKEN_SECONDS` before its first output token, then to
write :data:`OUTPUT_TOKENS_PER_SECOND`. A stage ends no sooner than its slowest request, than
its requests' total time shared by ``--concurrency`` requests in flight, nor than its requests
and tokens divided by the ``--rpm``, ``--input-tpm`` and ``--output-tpm`` caps. The API's own
rate limits are not known before a run, so they are not counted.

A corpus (:func:`corpus_time`) is timed as the corpus runner runs it: documents are let in as the
rate limits and the concurrency ceiling have room, not a fixed number at a time.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "FIRST_TOKEN_SECONDS",
    "OUTPUT_TOKENS_PER_SECOND",
    "SLOW_START_SLOTS",
    "CorpusTime",
    "Pace",
    "PlannedRequest",
    "corpus_time",
]

FIRST_TOKEN_SECONDS = 2.0
"""Assumed seconds from sending a request to its first output token."""
OUTPUT_TOKENS_PER_SECOND = 50.0
"""Assumed speed at which a reply is written."""
SLOW_START_SLOTS = 8
"""Requests in flight when a run starts (the client's adaptive concurrency starts there and
doubles as the server accepts requests: :mod:`docanalyze.models.anthropic.concurrency`)."""


@dataclass(frozen=True)
class PlannedRequest:
    """One request a run is expected to send: its input and its expected output, in tokens
    (``output_tokens`` includes the ``thinking_tokens``, billed as output)."""

    input_tokens: int
    output_tokens: int
    thinking_tokens: int = 0


@dataclass(frozen=True)
class Pace:
    """The limits a run is held to, and the assumed speed of one request."""

    concurrency: int
    rpm: int | None = None
    input_tpm: int | None = None
    output_tpm: int | None = None
    first_token_seconds: float = FIRST_TOKEN_SECONDS
    output_tokens_per_second: float = OUTPUT_TOKENS_PER_SECOND

    def request_seconds(self, request: PlannedRequest) -> float:
        """The assumed duration of one request."""
        return self.first_token_seconds + request.output_tokens / self.output_tokens_per_second

    def stage_seconds(self, requests: Sequence[PlannedRequest]) -> float:
        """The assumed duration of a stage whose requests may all run at once."""
        if not requests:
            return 0.0
        durations = [self.request_seconds(request) for request in requests]
        bounds = [max(durations), sum(durations) / self.concurrency]
        per_minute = (
            (self.rpm, len(requests)),
            (self.input_tpm, sum(request.input_tokens for request in requests)),
            (self.output_tpm, sum(request.output_tokens for request in requests)),
        )
        bounds.extend(60.0 * amount / cap for cap, amount in per_minute if cap)
        return max(bounds)

    def describe(self) -> str:
        """The assumptions behind :meth:`stage_seconds`, in one sentence."""
        caps = [
            f"{name} {cap:,}"
            for name, cap in (
                ("--rpm", self.rpm),
                ("--input-tpm", self.input_tpm),
                ("--output-tpm", self.output_tpm),
            )
            if cap
        ]
        limits = ", ".join([f"--concurrency {self.concurrency}", *caps])
        return (
            f"each request takes {self.first_token_seconds:g} s to its first token, then writes "
            f"{self.output_tokens_per_second:g} output tokens a second; stages run one after "
            f"another at {limits}; the API's own rate limits are not known before a run"
        )


DocumentStages = Sequence[Sequence[PlannedRequest]]
"""The requests of one document, stage by stage (map, each reduce level, final)."""


@dataclass(frozen=True)
class CorpusTime:
    """The assumed wall time of a corpus run, and what bounds it (the largest term)."""

    seconds: float
    bound: str
    """``the longest document``, ``--concurrency 256``, ``--rpm 4,000``, ..."""


def corpus_time(pace: Pace, documents: Sequence[DocumentStages]) -> CorpusTime:
    """The assumed wall time of a run of ``documents``, each a list of its stages' requests.

    Documents are let in as the limits have room, so all their requests share the slots and the
    rate buckets. A run takes at least its longest document (its stages one after another, each
    as long as its slowest request); at least its requests' total time shared by the slots, which
    start at :data:`SLOW_START_SLOTS` and double every round (a typical request) up to
    ``--concurrency``, as the client's adaptive concurrency does; and at least its requests and
    tokens beyond what the caps' buckets hold at the start (a bucket starts full, with a minute's
    worth) divided by the caps, plus a document's typical last request (one let in last still
    takes its time).
    """
    if not documents:
        return CorpusTime(0.0, "no document")
    durations = [[[pace.request_seconds(r) for r in stage] for stage in doc] for doc in documents]
    longest = max(sum(max(stage, default=0.0) for stage in doc) for doc in durations)
    tail = statistics.fmean(
        max(next((stage for stage in reversed(doc) if stage), [0.0])) for doc in durations
    )
    every = [seconds for doc in durations for stage in doc for seconds in stage]
    requests = [request for doc in documents for stage in doc for request in stage]
    round_seconds = statistics.fmean(every) if every else 0.0
    bounds = {
        "the longest document": longest,
        f"--concurrency {pace.concurrency:,}": _slot_seconds(
            sum(every), pace.concurrency, round_seconds
        ),
    }
    for name, cap, amount in (
        ("--rpm", pace.rpm, len(requests)),
        ("--input-tpm", pace.input_tpm, sum(request.input_tokens for request in requests)),
        ("--output-tpm", pace.output_tpm, sum(request.output_tokens for request in requests)),
    ):
        if cap:
            bounds[f"{name} {cap:,}"] = 60.0 * max(0, amount - cap) / cap + tail
    bound = max(bounds, key=lambda name: bounds[name])
    return CorpusTime(bounds[bound], bound)


def _slot_seconds(work: float, ceiling: int, round_seconds: float) -> float:
    """Seconds to do ``work`` request-seconds in slots that start at :data:`SLOW_START_SLOTS`
    and double every ``round_seconds`` up to ``ceiling``."""
    elapsed, slots = 0.0, min(SLOW_START_SLOTS, ceiling)
    while slots < ceiling and work > slots * round_seconds:
        work -= slots * round_seconds
        elapsed += round_seconds
        slots = min(ceiling, slots * 2)
    return elapsed + work / slots
