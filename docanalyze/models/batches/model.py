"""A model that sends its requests through the Message Batches API, at half the price.

The stages already ask for all their requests at once (every chunk of the map stage, every group
of a reduce level), and every document of a run shares the model. :meth:`BatchModel.complete`
queues a request and waits for its reply. The queue is sent once no new request has come for
``gather_seconds`` and every document in flight waits on the model
(:mod:`docanalyze.models.batches.gathering`; in a run of one: at once), or once no new request
has come for ``patience_seconds`` (a document busy elsewhere), or when ``max_requests`` wait:
as one batch, several above ``max_requests`` requests or ``max_bytes`` bytes. Each batch is
polled, with a growing interval, until it ends; its results, in any order, are matched to the
requests by ``custom_id`` (:mod:`docanalyze.models.batches.requests`). Errored (of a retryable
kind), expired, canceled and missing results are sent again in a new batch, at most
``max_attempts`` times in all, then fail with a one-line
:class:`~docanalyze.errors.RequestFailed` (a failed chunk: the run ends with its partial report);
an item the API refuses for good fails with a one-line :class:`~docanalyze.errors.ModelError`.

Durability: every batch created is recorded in the run store with the call keys it covers. A
later process that asks for a call of a recorded batch whose results were not stored (the first
one was killed) waits for THAT batch instead of sending the request again. Succeeded results are
stored as soon as a batch is downloaded, then the batch is marked collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from anthropic.types.messages import MessageBatchIndividualResponse
from anthropic.types.messages.batch_create_params import Request

from docanalyze.errors import ModelError, RequestFailed
from docanalyze.events import EventHandler, Notice
from docanalyze.models.anthropic.message_parts import reply_from_message
from docanalyze.models.base import Model, ModelFeatures, ModelReply, ModelRequest
from docanalyze.models.batches.api import BatchAPI, BatchGone
from docanalyze.models.batches.gathering import Gathering
from docanalyze.models.batches.requests import (
    batch_item,
    custom_id_of,
    item_size,
    refusal_advice,
    result_problem,
    split_batches,
)
from docanalyze.models.stored import call_key
from docanalyze.models.structured import storable
from docanalyze.models.wrapper import ModelWrapper
from docanalyze.store import RunStore

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_REQUESTS", "BatchModel"]

MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
POLL_GROWTH = 1.5
POLL_CEILING = 8
"""The poll interval grows by POLL_GROWTH up to POLL_CEILING times ``poll_seconds``."""


@dataclass
class _Entry:
    """A request waiting for its reply."""

    key: str
    request: ModelRequest
    future: asyncio.Future[ModelReply]
    attempts: int = 0

    @property
    def custom_id(self) -> str:
        return custom_id_of(self.key)


@dataclass
class _Watch:
    """A batch being waited for: its items (custom_id to key and stage) and their waiters."""

    batch_id: str
    requests: dict[str, tuple[str, str]]
    entries: dict[str, _Entry] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


class BatchModel(ModelWrapper):
    """Implements :class:`docanalyze.models.base.Model` through the Message Batches API.

    ``inner`` supplies the name and limits (its ``complete`` is never called); ``api`` is the
    batch endpoints (:class:`~docanalyze.models.batches.api.SdkBatchAPI`). ``store_path`` names the
    run store that records batches (default: ``$DOCANALYZE_HOME``); ``store_replies=False`` keeps
    replies out of it (``--no-cache``). ``on_event`` hears a :class:`Notice` when a batch is
    submitted and when it ends. ``gathering`` counts the documents of a run of several (their
    admission and executor tell it), so one batch holds a stage of all of them.
    """

    @property
    def features(self) -> ModelFeatures:
        """``inner``'s, answering in batches and streaming nothing (a cached prefix needs no
        warm-up request: a batch is processed as a whole)."""
        return replace(self.inner.features, streams=False, batches=True)

    def __init__(
        self,
        inner: Model,
        api: BatchAPI,
        *,
        store_path: Path | None = None,
        store_replies: bool = True,
        on_event: EventHandler | None = None,
        poll_seconds: float = 10.0,
        gather_seconds: float = 0.2,
        patience_seconds: float = 30.0,
        max_requests: int = MAX_BATCH_REQUESTS,
        max_bytes: int = MAX_BATCH_BYTES,
        max_attempts: int = 3,
    ) -> None:
        self.inner = inner
        self.api = api
        self.store_path = store_path
        self.store_replies = store_replies
        self.on_event = on_event
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self.patience_seconds = patience_seconds
        self.gathering = Gathering()
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_attempts = max_attempts
        self.submitted: list[str] = []
        """The ids of the batches this model created, oldest first."""
        self._store: RunStore | None = None
        self._waiting: dict[str, _Entry] = {}
        self._queue: list[_Entry] = []
        self._flush: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._recorded: dict[str, _Watch] | None = None
        self._watches: dict[str, _Watch] = {}
        self._collected: dict[str, ModelReply] = {}

    async def complete(self, request: ModelRequest) -> ModelReply:
        """The reply to ``request``, once the batch it went into has ended."""
        key = call_key(self.name, request)
        if key in self._collected:
            return self._collected.pop(key)
        entry = self._waiting.get(key)
        if entry is None:
            future: asyncio.Future[ModelReply] = asyncio.get_running_loop().create_future()
            entry = self._waiting[key] = _Entry(key, request, future)
            recorded = self._recorded_batch(key)
            if recorded is not None:
                self._attach(recorded, entry)
            else:
                self._enqueue(entry)
        with self.gathering.asking():
            return await asyncio.shield(entry.future)

    async def aclose(self) -> None:
        """Stop waiting for batches (they keep running: a re-run collects them) and close."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.api.aclose()
        await self.inner.aclose()
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- submitting -------------------------------------------------------------------------

    def _enqueue(self, entry: _Entry) -> None:
        self._queue.append(entry)
        if self._flush is None:
            self._flush = self._spawn(self._submit_when_settled())

    async def _submit_when_settled(self) -> None:
        """Wait until the queue is complete (see the module's docstring), then submit it."""
        quiet = 0.0
        while len(self._queue) < self.max_requests:
            seen = len(self._queue)
            await asyncio.sleep(self.gather_seconds)
            quiet = quiet + self.gather_seconds if len(self._queue) == seen else 0.0
            if quiet and self._complete(quiet):
                break
        entries, self._queue, self._flush = self._queue, [], None
        items = {
            entry.custom_id: batch_item(
                entry.custom_id,
                entry.request,
                self.name,
                self.rules_of(entry.request.model or self.name),
            )
            for entry in entries
        }
        sized = [(entry, item_size(items[entry.custom_id])) for entry in entries]
        for part in split_batches(sized, self.max_requests, self.max_bytes):
            await self._submit(part, [items[entry.custom_id] for entry in part])

    def _complete(self, quiet: float) -> bool:
        """Whether a queue without a new request for ``quiet`` seconds is complete."""
        gathering = self.gathering
        return gathering.documents <= 0 or gathering.all_waiting or quiet >= self.patience_seconds

    async def _submit(self, entries: list[_Entry], items: list[Request]) -> None:
        try:
            batch = await self.api.create(items)
        except ModelError as error:
            self._fail(entries, error)
            return
        requests: dict[str, tuple[str, str]] = {
            entry.custom_id: (entry.key, entry.request.stage) for entry in entries
        }
        self._journal().record_batch(batch.id, requests)
        self.submitted.append(batch.id)
        watch = _Watch(batch.id, requests)
        for entry in entries:
            entry.attempts += 1
            watch.entries[entry.custom_id] = entry
        self._notice(f"batch {batch.id} submitted: {_describe(entries)}")
        self._watch(watch)

    # --- waiting for batches ----------------------------------------------------------------

    def _recorded_batch(self, key: str) -> _Watch | None:
        """The recorded, not yet collected batch that covers the call ``key``, if any."""
        if self._recorded is None:
            self._recorded = {}
            for batch in self._journal().pending_batches():
                watch = _Watch(batch.id, batch.requests)
                for request_key, _ in batch.requests.values():
                    self._recorded[request_key] = watch
        return self._recorded.get(key)

    def _attach(self, watch: _Watch, entry: _Entry) -> None:
        entry.attempts += 1
        watch.entries[entry.custom_id] = entry
        if watch.batch_id not in self._watches:
            self._notice(f"collecting batch {watch.batch_id}, submitted by an earlier run")
            self._watch(watch)

    def _watch(self, watch: _Watch) -> None:
        self._watches[watch.batch_id] = watch
        self._spawn(self._follow(watch))

    async def _follow(self, watch: _Watch) -> None:
        """Poll the batch until it ends, then collect its results (errors fail its waiters)."""
        try:
            results = await self._results_when_ended(watch.batch_id)
        except BatchGone:
            self._journal().set_batch_status(watch.batch_id, "lost")
            self._forget(watch)
            self._retry_or_fail(watch.entries.values(), "the batch's results are gone")
            return
        except ModelError as error:
            self._forget(watch)
            self._fail(watch.entries.values(), error)
            return
        self._collect(watch, results)

    async def _results_when_ended(self, batch_id: str) -> list[MessageBatchIndividualResponse]:
        delay = self.poll_seconds
        while (await self.api.retrieve(batch_id)).processing_status != "ended":
            await asyncio.sleep(delay)
            delay = min(delay * POLL_GROWTH, self.poll_seconds * POLL_CEILING)
        return await self.api.results(batch_id)

    def _collect(self, watch: _Watch, results: list[MessageBatchIndividualResponse]) -> None:
        """Store every succeeded reply, mark the batch collected, then answer or resend."""
        duration = time.monotonic() - watch.started
        replies: dict[str, ModelReply] = {}
        failed: dict[str, tuple[str, bool]] = {}
        for line in results:
            if line.custom_id not in watch.requests:
                continue
            key, stage = watch.requests[line.custom_id]
            if line.result.type == "succeeded":
                entry = watch.entries.get(line.custom_id)
                asked = entry.request if entry else None  # None: sent by another run
                citable = asked.citable if asked else None
                reply = reply_from_message(line.result.message, duration, citable)
                replies[line.custom_id] = reply
                if self.store_replies and storable(asked, reply):  # a refusal is asked again
                    self._journal().put_call(key, stage, reply, None)
            else:
                failed[line.custom_id] = result_problem(line.result)
        self._journal().set_batch_status(watch.batch_id, "collected")
        self._forget(watch)
        kinds: list[str] = [
            line.result.type for line in results if line.custom_id in watch.requests
        ]
        kinds += ["without a result"] * (len(watch.requests) - len(kinds))
        self._notice(_ended_notice(watch.batch_id, kinds))
        self._answer(watch, replies, failed)

    def _answer(
        self, watch: _Watch, replies: dict[str, ModelReply], failed: dict[str, tuple[str, bool]]
    ) -> None:
        for custom_id, reply in replies.items():
            entry = watch.entries.get(custom_id)
            if entry is None:
                self._collected[watch.requests[custom_id][0]] = reply
            else:
                self._resolve(entry, reply)
        for custom_id, entry in watch.entries.items():
            if custom_id in replies:
                continue
            problem, retryable = failed.get(custom_id, ("no result", True))
            if retryable:
                self._retry_or_fail([entry], problem)
            else:
                stage = entry.request.stage
                self._fail(
                    [entry],
                    ModelError(
                        f"the Message Batches API refused a {stage} request in batch "
                        f"{watch.batch_id} ({problem}); {refusal_advice(problem)}"
                    ),
                )

    def _retry_or_fail(self, entries: Iterable[_Entry], problem: str) -> None:
        for entry in entries:
            if entry.attempts < self.max_attempts:
                self._enqueue(entry)
                continue
            batches = "batch" if entry.attempts == 1 else "batches"
            self._fail(
                [entry],
                RequestFailed(
                    f"gave up on a {entry.request.stage} request after {entry.attempts} "
                    f"{batches} (last: {problem}); try again later, or run without --batch",
                    entry.request.stage,
                ),
            )

    def _forget(self, watch: _Watch) -> None:
        self._watches.pop(watch.batch_id, None)
        if self._recorded:
            for key, _ in watch.requests.values():
                if self._recorded.get(key) is watch:
                    del self._recorded[key]

    # --- answering --------------------------------------------------------------------------

    def _resolve(self, entry: _Entry, reply: ModelReply) -> None:
        self._waiting.pop(entry.key, None)
        if not entry.future.done():
            entry.future.set_result(reply)

    def _fail(self, entries: Iterable[_Entry], error: BaseException) -> None:
        for entry in entries:
            self._waiting.pop(entry.key, None)
            if not entry.future.done():
                entry.future.set_exception(error)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # outside the context of the document that asked first: a batch serves all of them
        task = contextvars.Context().run(asyncio.create_task, work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task; an unexpected error fails every waiter rather than hang."""
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        self._fail(list(self._waiting.values()), task.exception() or RuntimeError())

    def _journal(self) -> RunStore:
        if self._store is None:
            self._store = RunStore(self.store_path)
        return self._store

    def _notice(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(Notice(message))


def _describe(entries: list[_Entry]) -> str:
    """``12 requests (10 map, 2 reduce)``."""
    stages = Counter(entry.request.stage for entry in entries)
    noun = "request" if len(entries) == 1 else "requests"
    split = ", ".join(f"{count} {stage}" for stage, count in stages.items())
    return f"{len(entries)} {noun} ({split})"


def _ended_notice(batch_id: str, kinds: list[str]) -> str:
    """``batch msgbatch_… ended: 7 succeeded, 2 errored, 1 expired``."""
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    order = ("succeeded", "errored", "expired", "canceled", "without a result")
    listed = ", ".join(f"{counts[kind]} {kind}" for kind in order if kind in counts)
    return f"batch {batch_id} ended: {listed}"
