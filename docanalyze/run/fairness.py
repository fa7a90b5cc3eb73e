"""Fair shares of the run's limiter among the documents in flight.

The limiter serves requests first come first served, so a large document that asks for its
hundreds of map requests at once would put every small document's requests behind them, and
leave no place for the next document to start. In a run of several documents each document
has a share of the requests out: the limit less two places for each other document in flight
(one for its request, one for a document to come), but at least half the limit. A large
document beside a few small ones keeps most of the places, beside many it keeps half, and the
small ones never wait behind it. A document alone has them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from docanalyze.models.base import Model, ModelReply, ModelRequest
from docanalyze.models.wrapper import ModelWrapper
from docanalyze.run.admission import POLL_SECONDS, Gauge
from docanalyze.run.wakeup import Wakeup

__all__ = ["FairShares"]


class FairShares:
    """The shares of the places of the limiter ``gauge`` reads among the documents in flight."""

    def __init__(self, gauge: Gauge, *, poll: float = POLL_SECONDS) -> None:
        self.gauge = gauge
        self.documents = 0
        self.wakeup = Wakeup(poll)

    def share(self) -> int:
        """Requests one document may have out (in flight or waiting for the limiter) now."""
        limit = self.gauge.room().limit
        return max(1, limit // 2, limit - 2 * (self.documents - 1))

    @contextmanager
    def document(self, model: Model) -> Iterator[Model]:
        """``model`` as one document in flight sees it: its requests held to its share."""
        self.documents += 1
        try:
            yield _SharedModel(model, self)
        finally:
            self.documents -= 1
            self.changed()

    async def turn(self, document: _SharedModel) -> None:
        """Wait until ``document`` may send one more request."""
        while document.out >= self.share():
            await self.wakeup.wait()

    def changed(self) -> None:
        """A request came back, or a document ended: the waiting ones look again."""
        self.wakeup.wake()


class _SharedModel(ModelWrapper):
    """One document's view of the run's model: each request waits for the document's turn."""

    def __init__(self, inner: Model, shares: FairShares) -> None:
        self.inner = inner
        self.shares = shares
        self.out = 0

    async def complete(self, request: ModelRequest, **streaming: Any) -> ModelReply:
        """The inner model's reply, sent when this document's share allows."""
        await self.shares.turn(self)
        self.out += 1
        try:
            reply: ModelReply = await self.inner.complete(request, **streaming)
        finally:
            self.out -= 1
            self.shares.changed()
        return reply

    async def aclose(self) -> None:
        """Nothing: the run closes its model."""
