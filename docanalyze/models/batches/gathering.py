"""When a batch is complete: every document of the run has asked what it will ask for now.

In a run of several documents every document shares one :class:`~.model.BatchModel`, so the
requests of the same stage of every document can go into one batch. :class:`Gathering` knows
the documents in flight (counted by the run's admission: :meth:`Gathering.started`,
:meth:`Gathering.ended`) and which of them wait on the batch model (a document's task runs
inside :meth:`Gathering.document`; the model counts each request it answers inside
:meth:`Gathering.asking`). Once every document in flight waits on the model (for a batch still
gathering, or for one submitted), no more requests will come before a batch ends: the batch
model submits what it gathered (:attr:`Gathering.all_waiting`).

A document not yet started by its task counts as not waiting (it has requests to come); a
request made outside any document (a run of one) does not count, and the batch model falls
back on its quiet window.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Gathering"]


class _Document:
    """A document's task: how many of its requests wait on the batch model."""

    def __init__(self) -> None:
        self.asking = 0


_DOCUMENT: ContextVar[_Document | None] = ContextVar("docanalyze_batch_document", default=None)


class Gathering:
    """The documents of a run in flight, and how many of them wait on the batch model."""

    def __init__(self) -> None:
        self.documents = 0
        """Documents in flight: admitted and not yet done."""
        self.waiting = 0
        """Documents whose tasks wait for at least one request's reply."""

    def started(self) -> None:
        """A document was admitted: it will ask for replies."""
        self.documents += 1

    def ended(self) -> None:
        """A document admitted is done (or never ran)."""
        self.documents -= 1

    @property
    def all_waiting(self) -> bool:
        """Whether documents are in flight and every one waits on the batch model."""
        return self.documents > 0 and self.waiting >= self.documents

    @contextmanager
    def document(self) -> Iterator[None]:
        """Run the block as one document's task (its requests count for it)."""
        token = _DOCUMENT.set(_Document())
        try:
            yield
        finally:
            _DOCUMENT.reset(token)

    @contextmanager
    def asking(self) -> Iterator[None]:
        """Count the block as the current document waiting for a reply."""
        document = _DOCUMENT.get()
        if document is None:
            yield
            return
        document.asking += 1
        if document.asking == 1:
            self.waiting += 1
        try:
            yield
        finally:
            document.asking -= 1
            if document.asking == 0:
                self.waiting -= 1
