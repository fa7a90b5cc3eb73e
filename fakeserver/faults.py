"""Seeded fault injection: 529 and 500 answers, dropped and hung connections, slow streams.

One ``random.Random(seed)`` draws one number per admitted ``/v1/messages`` request, in arrival
order, so that a run repeats exactly for the same order of requests. The number picks at most one
fault, by cumulative probability in the order of the :class:`Faults` fields. ``slow_stream``
only affects streamed requests: a non-streamed request that draws it gets a normal reply.
:class:`FailMatching` is not drawn: it fails every request whose body holds a given text, so
that one part of a document fails for good, however often it is retried.
"""

from __future__ import annotations

import enum
import json
import random
import threading
from dataclasses import dataclass

from fakeserver.errors import ApiError, ConnectionFault
from fakeserver.policies import Exchange

__all__ = ["FailMatching", "Fault", "FaultInjector", "Faults"]


@dataclass(frozen=True)
class Faults:
    """How often each fault happens (probabilities, summing to at most 1) and its timing."""

    seed: int = 0
    overloaded: float = 0.0  # a 529 overloaded_error
    server_error: float = 0.0  # a 500 api_error
    dropped: float = 0.0  # the connection is closed with no reply
    hang: float = 0.0  # no bytes for hang_seconds, then the connection is closed
    slow_stream: float = 0.0  # a streamed reply's events come slow_event_seconds apart
    hang_seconds: float = 30.0
    slow_event_seconds: float = 0.5

    def __post_init__(self) -> None:
        for fault in Fault:
            probability = self.probability(fault)
            if not 0.0 <= probability <= 1.0:
                raise ValueError(
                    f"{fault.value} must be a probability in [0, 1], got {probability}"
                )
        total = sum(self.probability(fault) for fault in Fault)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities must add up to at most 1, got {total:g}")
        if self.hang_seconds < 0 or self.slow_event_seconds < 0:
            raise ValueError("hang_seconds and slow_event_seconds must be >= 0")

    @property
    def any_enabled(self) -> bool:
        """Whether any fault has a probability above 0."""
        return any(self.probability(fault) > 0 for fault in Fault)

    def probability(self, fault: Fault) -> float:
        """The configured probability of ``fault``."""
        value: float = getattr(self, fault.value)
        return value


class Fault(enum.Enum):
    """The faults a request can draw, in the order their probabilities are stacked."""

    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    DROPPED = "dropped"
    HANG = "hang"
    SLOW_STREAM = "slow_stream"


class FaultInjector:
    """A :class:`~fakeserver.policies.RequestPolicy` that injects :class:`Faults`.

    529 and 500 answers carry ``x-should-retry: true``, like the real API's.
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()

    def next_fault(self) -> Fault | None:
        """Draw the fault of the next request (None: no fault); thread-safe."""
        with self._lock:
            draw = self._random.random()
        threshold = 0.0
        for fault in Fault:
            threshold += self.faults.probability(fault)
            if draw < threshold:
                return fault
        return None

    def admit(self, exchange: Exchange) -> None:
        """Draw a fault for ``exchange`` and inflict it."""
        fault = self.next_fault()
        if fault is Fault.OVERLOADED:
            raise ApiError(529, "Overloaded", headers={"x-should-retry": "true"})
        if fault is Fault.SERVER_ERROR:
            raise ApiError(500, "Internal server error", headers={"x-should-retry": "true"})
        if fault is Fault.DROPPED:
            raise ConnectionFault()
        if fault is Fault.HANG:
            raise ConnectionFault(self.faults.hang_seconds)
        if fault is Fault.SLOW_STREAM and exchange.stream:
            exchange.seconds_between_events = self.faults.slow_event_seconds


class FailMatching:
    """A :class:`~fakeserver.policies.RequestPolicy` answering 500 (``x-should-retry: true``) to
    every request whose JSON body contains ``text``, while ``enabled``; ``failed`` counts them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.enabled = True
        self.failed = 0
        self._lock = threading.Lock()

    def admit(self, exchange: Exchange) -> None:
        """Fail ``exchange`` when its body holds the text."""
        if not self.enabled or self.text not in json.dumps(exchange.body, ensure_ascii=False):
            return
        with self._lock:
            self.failed += 1
        raise ApiError(500, "Internal server error", headers={"x-should-retry": "true"})
