"""A wait that ends when something changed, or after a while: how waiters look again."""

from __future__ import annotations

import asyncio

__all__ = ["Wakeup"]


class Wakeup:
    """:meth:`wait` returns once :meth:`wake` is called (a document done, a request back), or
    after ``poll`` seconds at most, so a waiter also sees what changed without a wake (a rate
    limiter's buckets refilling). Admission and fair shares wait on one each."""

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self._event: asyncio.Event | None = None

    async def wait(self) -> None:
        """Wait for the next :meth:`wake`, at most ``poll`` seconds."""
        if self._event is None:
            self._event = asyncio.Event()
        self._event.clear()
        try:
            await asyncio.wait_for(self._event.wait(), self.poll)
        except asyncio.TimeoutError:
            pass

    def wake(self) -> None:
        """Let every waiter look again."""
        if self._event is not None:
            self._event.set()
