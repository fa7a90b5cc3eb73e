"""How many documents a run of several lets in at once: as the shared limits have room.

A Claude run admits documents by headroom (:class:`ByHeadroom`): the next document starts while
the run's one limiter has room for its requests: fewer documents in flight than the adaptive
concurrency's limit, no request waiting for a place in flight, and rate buckets that can still
afford a request. A folder of notes then fills the organisation's limits, and a document whose
map has many requests holds the others back only while its own requests fill them.

Whatever the admission, the text held is bounded: a document is not let in while its text
would take the documents in flight past ``text_ceiling`` (:data:`TEXT_CEILING`), but one
document alone always is. A document counts for its size on disk until it is read
(:func:`text_estimate`), then for its text (:func:`text_read`). Reading is CPU
work: :func:`reading` lets one document per CPU be read at a time in a process.

The offline analyzer has no limiter: it admits :data:`OFFLINE_DOCUMENTS_PER_CPU` documents a
CPU (:class:`DocumentsAtOnce`), as does a backend that declares no limiter
(:data:`DOCUMENTS_AT_ONCE`). A model that answers in batches (``--batch``) admits every
document whose text fits (:class:`AllThatFit`): their requests wait on the batches, not on rate
limits, and the batch model gathers a stage of all of them into one batch
(:mod:`docanalyze.models.batches.gathering`). ``documents_at_once`` caps any of them.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from docanalyze.document import Document
from docanalyze.models.base import Model
from docanalyze.models.batches.gathering import Gathering
from docanalyze.run.wakeup import Wakeup

if TYPE_CHECKING:
    from docanalyze.models.anthropic.pacer import RequestPacer, SlotLimiter

__all__ = [
    "DOCUMENTS_AT_ONCE",
    "OFFLINE_DOCUMENTS_PER_CPU",
    "PDF_TEXT_PER_BYTE",
    "TEXT_CEILING",
    "Admission",
    "AllThatFit",
    "ByHeadroom",
    "DocumentsAtOnce",
    "Gauge",
    "LimiterGauge",
    "PacedModel",
    "Room",
    "TextTicket",
    "admission_for",
    "gathering_of",
    "gauge_of",
    "reading",
    "text_estimate",
    "text_read",
]

TEXT_CEILING = 256 * 1024 * 1024
"""Characters of document text the documents in flight may hold in all (about 256 MB)."""
DOCUMENTS_AT_ONCE = 4
"""Documents at once for a backend that declares no rate limiter (nothing to measure room by)."""
OFFLINE_DOCUMENTS_PER_CPU = 2
"""Documents at once per CPU for an offline backend (its work is CPU work)."""
PDF_TEXT_PER_BYTE = 4
"""Characters of text a PDF is assumed to hold per byte on disk before it is read: its text is
compressed (Flate takes prose to a third or a quarter), so its size alone would undercount."""
POLL_SECONDS = 0.02
"""How often a waiting admission looks at the limits again."""
READERS: int | None = None
"""Documents this process reads at a time (None: one per CPU); a Ray node's workers, one a
CPU, read one each."""


def cpus() -> int:
    """The CPUs this process may use."""
    return os.cpu_count() or 1


class Admission(Protocol):
    """The gate a document passes before it starts: how many run at once."""

    async def admit(self, size: int) -> None:
        """Return once one more document, whose text is about ``size`` characters, may start."""
        ...

    def done(self, size: int) -> None:
        """A document that counts for ``size`` is done (or was never started)."""
        ...

    def resize(self, old: int, new: int) -> None:
        """A document admitted for ``old`` characters was read: it holds ``new``."""
        ...


@dataclass
class TextHeld:
    """The documents in flight and the text they hold, against ``ceiling``."""

    ceiling: int = TEXT_CEILING
    documents: int = 0
    text: int = 0
    most_text: int = 0
    most_documents: int = 0

    def fits(self, size: int) -> bool:
        """Whether a document of ``size`` fits: always when it would be alone."""
        return self.documents == 0 or self.text + size <= self.ceiling

    def add(self, size: int) -> None:
        self.documents += 1
        self.text += size
        self.most_text = max(self.most_text, self.text)
        self.most_documents = max(self.most_documents, self.documents)

    def remove(self, size: int) -> None:
        self.documents -= 1
        self.text -= size

    def resize(self, old: int, new: int) -> None:
        self.text += new - old
        self.most_text = max(self.most_text, self.text)


class _Gate:
    """What every admission shares: the text held, and a wait that ends when a document is
    done or after ``poll`` seconds."""

    def __init__(self, text_ceiling: int | None, poll: float) -> None:
        self.held = TextHeld(TEXT_CEILING if text_ceiling is None else text_ceiling)
        self.wakeup = Wakeup(poll)

    def done(self, size: int) -> None:
        """A document is done: its text and place are free."""
        self.held.remove(size)
        self.wakeup.wake()

    def resize(self, old: int, new: int) -> None:
        """A document was read: count its text instead of its estimate."""
        self.held.resize(old, new)
        if new < old:
            self.wakeup.wake()


class DocumentsAtOnce(_Gate):
    """Admission of at most ``limit`` documents at a time, within ``text_ceiling`` (default:
    :data:`TEXT_CEILING`)."""

    def __init__(
        self,
        limit: int = DOCUMENTS_AT_ONCE,
        *,
        text_ceiling: int | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        super().__init__(text_ceiling, poll)
        self.limit = max(1, limit)

    async def admit(self, size: int) -> None:
        """Wait for a free place and room for the text."""
        while self.held.documents >= self.limit or not self.held.fits(size):
            await self.wakeup.wait()
        self.held.add(size)


class AllThatFit(DocumentsAtOnce):
    """Admission of every document whose text fits (at most ``at_most``), each counted in
    the batch model's ``gathering`` while in flight."""

    def __init__(
        self,
        gathering: Gathering | None,
        at_most: int | None = None,
        *,
        text_ceiling: int | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        super().__init__(at_most or sys.maxsize, text_ceiling=text_ceiling, poll=poll)
        self.gathering = gathering

    async def admit(self, size: int) -> None:
        """Wait for room for the text (and a place under ``at_most``)."""
        await super().admit(size)
        if self.gathering is not None:
            self.gathering.started()

    def done(self, size: int) -> None:
        """A document is done: it no longer holds a batch back."""
        super().done(size)
        if self.gathering is not None:
            self.gathering.ended()


@dataclass(frozen=True)
class Room:
    """What a run's limiter has room for now."""

    limit: int
    """Requests allowed in flight (the adaptive concurrency's limit)."""
    in_flight: int
    """Requests holding a place in flight (waiting for the rate buckets included)."""
    waiting: int
    """Requests waiting for a place in flight."""
    requests: float
    """Requests of a typical cost the rate buckets can afford now (infinite: no limit known)."""
    per_minute: Mapping[str, float] = field(default_factory=dict)
    """The tightest known limit per minute of each kind (``requests``, ``input-tokens``, ...)."""

    @property
    def slots(self) -> int:
        """Requests that could take a place in flight now (negative when some wait)."""
        return self.limit - self.in_flight - self.waiting


class Gauge(Protocol):
    """Reads a run's limiter (in this process, or a Ray cluster's)."""

    def room(self) -> Room:
        """The room now (or as of a moment ago)."""
        ...


class ByHeadroom(_Gate):
    """Admission by the limiter's headroom, read through ``gauge``: the next document starts
    while fewer documents are in flight than requests may be, no request waits for a place,
    the rate buckets can afford one more request and the text fits; ``at_most`` (if given)
    caps the documents in flight. One document alone is always let in."""

    def __init__(
        self,
        gauge: Gauge,
        *,
        at_most: int | None = None,
        text_ceiling: int | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        super().__init__(text_ceiling, poll)
        self.gauge = gauge
        self.at_most = at_most

    async def admit(self, size: int) -> None:
        """Wait until the limits have room for one more document and its text fits."""
        while not self._may_start(size):
            await self.wakeup.wait()
        self.held.add(size)

    def _may_start(self, size: int) -> bool:
        held = self.held
        if held.documents == 0:
            return True
        if (self.at_most is not None and held.documents >= self.at_most) or not held.fits(size):
            return False
        room = self.gauge.room()
        return held.documents < room.limit and room.slots > 0 and room.requests >= 1


@runtime_checkable
class PacedModel(Protocol):
    """A model that paces its requests with a rate limiter and an adaptive concurrency (the
    Claude client)."""

    limiter: RequestPacer
    limits: SlotLimiter


class LimiterGauge:
    """The gauge of the limiters of this process."""

    def __init__(self, pacer: RequestPacer, slots: SlotLimiter) -> None:
        self.pacer = pacer
        self.slots = slots

    def room(self) -> Room:
        """The limiters' room now."""
        stats = self.slots.stats()
        per_minute = tightest(self.pacer.stats().limits)
        return Room(stats.limit, stats.in_flight, stats.waiting, self.pacer.headroom(), per_minute)


def tightest(limits: Mapping[str, float]) -> dict[str, float]:
    """Per kind, the lowest of the limits keyed ``server:requests``, ``cap:requests``, ..."""
    per_kind: dict[str, float] = {}
    for key, limit in limits.items():
        kind = key.split(":", 1)[-1]
        per_kind[kind] = min(limit, per_kind.get(kind, math.inf))
    return per_kind


def admission_for(
    model: Model, at_most: int | None = None, *, gauge: Gauge | None = None
) -> Admission:
    """The admission of a run with ``model``: every document that fits when it answers in
    batches; by the headroom of ``gauge`` (default: the model's own limiters) when it paces its
    requests; by CPUs when it is offline; else :data:`DOCUMENTS_AT_ONCE`. ``at_most`` caps the
    documents at once."""
    if model.features.batches:
        return AllThatFit(gathering_of(model), at_most)
    if model.features.offline:
        per_cpu = OFFLINE_DOCUMENTS_PER_CPU * cpus()
        return DocumentsAtOnce(per_cpu if at_most is None else min(at_most, per_cpu))
    gauge = gauge or gauge_of(model)
    if gauge is None:
        return DocumentsAtOnce(DOCUMENTS_AT_ONCE if at_most is None else at_most)
    return ByHeadroom(gauge, at_most=at_most)


def gauge_of(model: Model) -> Gauge | None:
    """The gauge of ``model``'s own limiters, when it paces its requests (else None)."""
    return LimiterGauge(model.limiter, model.limits) if isinstance(model, PacedModel) else None


@runtime_checkable
class GatheringModel(Protocol):
    """A model that gathers the requests of a run's documents into batches."""

    gathering: Gathering


def gathering_of(model: Model) -> Gathering | None:
    """The gathering of ``model``'s batches, when it answers in batches (else None)."""
    return model.gathering if isinstance(model, GatheringModel) else None


def text_estimate(source: object) -> int:
    """The characters of text a source is expected to hold before it is read: a text's or a
    document's length, else the file's size on disk (:data:`PDF_TEXT_PER_BYTE` times that for
    a PDF; 0 when it cannot be read)."""
    if isinstance(source, Document):
        return sum(len(page.text) for page in source.pages)
    path = getattr(source, "path", source)
    if isinstance(path, str) and ("\n" in path or len(path) > 4096):
        return len(path)
    if not isinstance(path, (str, os.PathLike)):
        return 0
    per_byte = PDF_TEXT_PER_BYTE if os.fspath(path).lower().endswith(".pdf") else 1
    try:
        return per_byte * os.path.getsize(path)
    except (OSError, ValueError):
        return len(path) if isinstance(path, str) else 0


@dataclass
class TextTicket:
    """What a document in flight counts for in its ``admission``: ``size`` characters."""

    admission: Admission
    size: int

    def read(self, chars: int) -> None:
        """The document was read: it holds ``chars`` characters."""
        self.admission.resize(self.size, chars)
        self.size = chars


HELD: ContextVar[TextTicket | None] = ContextVar("docanalyze_text_held", default=None)
"""The ticket of the document this task analyzes, in a run of several (set by the runner)."""


def text_read(chars: int) -> None:
    """Count the document this task analyzes for its ``chars`` characters, now it is read."""
    ticket = HELD.get()
    if ticket is not None:
        ticket.read(chars)


_READING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def reading() -> AsyncIterator[None]:
    """Hold one of this process's places for reading a document: one per CPU at a time."""
    loop = asyncio.get_running_loop()
    places = _READING.get(loop)
    if places is None:
        places = _READING[loop] = asyncio.Semaphore(READERS or cpus())
    async with places:
        yield
