"""What a corpus run tells as each file is done: how far it is, and how long the rest should
take from its pace and its rate limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from docanalyze.corpus.index import IndexEntry
from docanalyze.models.base import Usage

__all__ = ["FileDone", "FileHandler", "eta_seconds"]


@dataclass(frozen=True)
class FileDone:
    """A file of a corpus run is done: its index ``entry``, whether it was ``skipped`` (done by
    an earlier run), and how far the run is: files ``done`` (skipped ones included) of
    ``total``, ``failed`` so far."""

    entry: IndexEntry
    skipped: bool
    done: int
    total: int
    failed: int
    in_flight: int = 0
    """Files being analyzed now (on a Ray cluster: across the cluster)."""
    requests_in_flight: int = 0
    """Requests in flight now (of the run's limiter; on Ray: the cluster's)."""
    eta_seconds: float | None = None
    """Seconds the rest should take, at the pace so far and the rate limits known
    (:func:`eta_seconds`); None before a file was analyzed."""


FileHandler = Callable[[FileDone], None]
"""Called after each file's report and index line are written (or the file is skipped)."""


def eta_seconds(
    left: int, analyzed: int, usage: Usage, per_minute: Mapping[str, float], elapsed: float
) -> float | None:
    """Seconds until the ``left`` files are done: at the pace of the ``analyzed`` ones so far
    (``elapsed`` seconds, ``usage``), and no sooner than their requests and tokens (as many
    as an analyzed file's on average) pass the limits ``per_minute`` (``requests``,
    ``input-tokens``, ``output-tokens``). None before a file was analyzed."""
    if left <= 0:
        return 0.0
    if analyzed <= 0:
        return None
    needs = {
        "requests": usage.requests,
        "input-tokens": usage.input_tokens,
        "output-tokens": usage.output_tokens,
    }
    by_limits = [
        60.0 * needs[kind] / analyzed * left / limit
        for kind, limit in per_minute.items()
        if kind in needs and limit > 0
    ]
    return max([elapsed / analyzed * left, *by_limits])
