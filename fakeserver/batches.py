"""Message Batches: their state and their processing in the background, like the real API's.

A batch's requests are processed in order by one daemon thread, evenly spread over the server's
``batch_latency`` (the seconds from creation to the batch's end). Each is handled like a
``POST /v1/messages``: the same validation (context window included), replies (scripted, then the
responder), token counting, ``max_tokens`` cut and prompt cache; a request the real API would
refuse becomes an ``errored`` result carrying the error. Rate limits, faults, policies and the
latency of ``/v1/messages`` do not apply; seeded :class:`BatchFaults` make results ``errored``
(a retryable ``api_error``) or ``expired`` instead. Cancelling stops the processing: requests not
processed yet end ``canceled``. Results come back in an order shuffled by the seed, as the real
API does not keep the request order either.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fakeserver.composer import MessageComposer, PreparedMessage
from fakeserver.errors import ApiError
from fakeserver.recording import RecordedRequest, RequestLog, redact_headers
from fakeserver.settings import ServerSettings
from fakeserver.stats import StatsRecorder
from fakeserver.wire import message_body, new_batch_id, new_message_id, new_request_id

__all__ = ["Batch", "BatchFaults", "BatchRequest", "BatchRunner"]

BATCHES_PATH = "/v1/messages/batches"
BATCH_LIFETIME = timedelta(hours=24)
RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")


@dataclass(frozen=True)
class BatchFaults:
    """Probabilities that a batch request ends ``errored`` (a 500 api_error) or ``expired``.

    One ``random.Random(seed)`` draws one number per processed batch request, in processing order;
    the same generator shuffles the results.
    """

    seed: int = 0
    errored: float = 0.0
    expired: float = 0.0

    def __post_init__(self) -> None:
        for name in ("errored", "expired"):
            value: float = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"batch fault {name} must be a probability in [0, 1], got {value}")
        if self.errored + self.expired > 1.0 + 1e-9:
            raise ValueError("batch fault probabilities must add up to at most 1")


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch: its ``custom_id`` and the Messages ``params``."""

    custom_id: str
    params: Any


def rfc3339(moment: datetime) -> str:
    """``moment`` (UTC) as the API writes times, e.g. ``2024-08-20T18:37:24.100435Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Batch:
    """One Message Batch. Its fields change under :class:`BatchRunner`'s lock only."""

    id: str
    requests: Sequence[BatchRequest]
    created_at: datetime
    headers: dict[str, str] = field(default_factory=dict)  # of the create request, redacted
    processing_status: str = "in_progress"
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    result_order: list[str] = field(default_factory=list)
    stop_processing: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ended(self) -> bool:
        """Whether processing has ended (results are available)."""
        return self.processing_status == "ended"

    def request_counts(self) -> dict[str, int]:
        """The real tallies: all ``processing`` until the batch ends, then by result type."""
        counts = dict.fromkeys(("processing", *RESULT_TYPES), 0)
        if not self.ended:
            counts["processing"] = len(self.requests)
            return counts
        for result in self.results.values():
            counts[result["type"]] += 1
        return counts

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The MessageBatch object; ``results_url`` is under ``base_url`` once the batch ended."""
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": self.request_counts(),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.created_at + BATCH_LIFETIME),
            "ended_at": rfc3339(self.ended_at) if self.ended_at else None,
            "cancel_initiated_at": (
                rfc3339(self.cancel_initiated_at) if self.cancel_initiated_at else None
            ),
            "archived_at": None,
            "results_url": f"{base_url}{BATCHES_PATH}/{self.id}/results" if self.ended else None,
        }

    def result_lines(self) -> list[dict[str, Any]]:
        """One ``{"custom_id", "result"}`` object per request, in the shuffled result order."""
        return [{"custom_id": key, "result": self.results[key]} for key in self.result_order]


class BatchRunner:
    """Creates, processes, cancels and forgets Message Batches. Thread-safe."""

    def __init__(
        self,
        settings: ServerSettings,
        composer: MessageComposer,
        log: RequestLog,
        stats: StatsRecorder,
        faults: BatchFaults | None = None,
    ) -> None:
        self.settings = settings
        self.composer = composer
        self.log = log
        self.stats = stats
        self.faults = faults or BatchFaults()
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}
        self._stopping = threading.Event()

    def create(self, requests: Sequence[BatchRequest], headers: Mapping[str, str]) -> Batch:
        """Store a new batch and start processing it in the background.

        ``headers`` (of the create request) are recorded, redacted, with each processed request.
        """
        created_at = datetime.now(timezone.utc)
        batch = Batch(new_batch_id(), tuple(requests), created_at, redact_headers(headers))
        with self._lock:
            self._batches[batch.id] = batch
        self.stats.add("batches")
        self.stats.add("batch_requests", len(batch.requests))
        worker = threading.Thread(
            target=self._process, args=(batch,), name=f"fake-batch-{batch.id}", daemon=True
        )
        worker.start()
        return batch

    def find(self, batch_id: str) -> Batch:
        """The batch with ``batch_id``, or a 404 ApiError."""
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError(
                404, f"No batch found with id {batch_id!r}", error_type="not_found_error"
            )
        return batch

    def newest_first(self) -> list[Batch]:
        """Every batch, the most recently created first."""
        with self._lock:
            return list(reversed(self._batches.values()))

    def snapshot(self, batch: Batch, base_url: str) -> dict[str, Any]:
        """The batch's JSON, read under the lock."""
        with self._lock:
            return batch.to_json(base_url)

    def results(self, batch: Batch) -> list[dict[str, Any]]:
        """The result lines of an ended batch; a 400 ApiError while it is processing."""
        with self._lock:
            if not batch.ended:
                raise ApiError(
                    400,
                    f"Batch {batch.id} is still {batch.processing_status}: results are available "
                    "once its processing_status is 'ended'",
                )
            return batch.result_lines()

    def cancel(self, batch: Batch) -> None:
        """Start cancelling ``batch`` (it goes "canceling", then "ended"); a 400 if it ended."""
        with self._lock:
            if batch.ended:
                raise ApiError(400, f"Batch {batch.id} has already ended: it cannot be canceled")
            if batch.cancel_initiated_at is None:
                batch.cancel_initiated_at = datetime.now(timezone.utc)
                batch.processing_status = "canceling"
        batch.stop_processing.set()

    def delete(self, batch: Batch) -> None:
        """Forget an ended batch; a 400 while it is processing (cancel it first)."""
        with self._lock:
            if not batch.ended:
                raise ApiError(
                    400,
                    f"Batch {batch.id} is still {batch.processing_status}: cancel it and wait "
                    "for it to end before deleting it",
                )
            del self._batches[batch.id]

    def stop(self) -> None:
        """Stop every batch's processing where it is (the server is stopping)."""
        self._stopping.set()
        with self._lock:
            batches = list(self._batches.values())
        for batch in batches:
            batch.stop_processing.set()

    def _process(self, batch: Batch) -> None:
        pause = self.settings.batch_latency / max(1, len(batch.requests))
        for request in batch.requests:
            if batch.stop_processing.wait(pause):
                break
            result = self._result_of(batch, request)
            with self._lock:
                batch.results[request.custom_id] = result
        if not self._stopping.is_set():
            self._end(batch)

    def _end(self, batch: Batch) -> None:
        with self._lock:
            for request in batch.requests:
                batch.results.setdefault(request.custom_id, {"type": "canceled"})
            order = [request.custom_id for request in batch.requests]
            self._random.shuffle(order)
            batch.result_order = order
            batch.ended_at = datetime.now(timezone.utc)
            batch.processing_status = "ended"

    def _draw_fault(self) -> str | None:
        with self._lock:
            draw = self._random.random()
        if draw < self.faults.errored:
            return "errored"
        if draw < self.faults.errored + self.faults.expired:
            return "expired"
        return None

    def _result_of(self, batch: Batch, request: BatchRequest) -> dict[str, Any]:
        fault = self._draw_fault()
        if fault == "expired":
            return {"type": "expired"}
        request_id = new_request_id()
        body = request.params if isinstance(request.params, dict) else {}
        prepared: PreparedMessage | None = None
        try:
            if body.get("stream") is True:
                raise ApiError(400, "stream: streaming is not supported in a Message Batch")
            prepared = self.composer.prepare(body)
            prepared.check_context_window(self.settings.context_window)
            if fault == "errored":
                raise ApiError(500, "Internal server error")
            recorded = self._record(batch, request, request_id, prepared, 200)
            composed = self.composer.compose(prepared, recorded)
        except ApiError as error:
            self.log.append(self._record(batch, request, request_id, prepared, error.status))
            return {"type": "errored", "error": {**error.body(), "request_id": request_id}}
        self.log.append(recorded)
        message = message_body(
            message_id=new_message_id(),
            model=str(body["model"]),
            reply=composed.reply,
            usage=composed.usage,
        )
        return {"type": "succeeded", "message": message}

    def _record(
        self,
        batch: Batch,
        request: BatchRequest,
        request_id: str,
        prepared: PreparedMessage | None,
        status: int,
    ) -> RecordedRequest:
        body = request.params if isinstance(request.params, dict) else {}
        return RecordedRequest(
            path=BATCHES_PATH,
            body=body,
            headers=batch.headers,
            input_tokens=prepared.input_tokens if prepared else 0,
            stream=False,
            status=status,
            request_id=request_id,
            cache_read_input_tokens=prepared.cache_read_tokens if prepared else 0,
            cache_creation_input_tokens=prepared.cache_write_tokens if prepared else 0,
            batch_id=batch.id,
            custom_id=request.custom_id,
        )
