"""How long a planned stage takes at the configured limits, under stated assumptions.

A request is assumed to take :data:`FIRST_TOKEN_SECONDS` before its first output token, then to
write :data:`OUTPUT_TOKENS_PER_SECOND`. A stage ends no sooner than its slowest request, than
its requests' total time shared by ``--concurrency`` requests in flight, nor than its requests
and tokens divided by the ``--rpm``, ``--input-tpm`` and ``--output-tpm`` caps. The API's own
rate limits are not known before a run, so they are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FIRST_TOKEN_SECONDS", "OUTPUT_TOKENS_PER_SECOND", "Pace", "PlannedRequest"]

FIRST_TOKEN_SECONDS = 2.0
"""Assumed seconds from sending a request to its first output token."""
OUTPUT_TOKENS_PER_SECOND = 50.0
"""Assumed speed at which a reply is written."""


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
