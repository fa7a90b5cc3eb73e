"""Whether an API server has answered yet in this process, and whether an error is a connection
that could not even be opened.

A connection refused (or a host name that does not resolve) before a server has ever answered
almost always means a wrong address or no network, and retrying it for minutes only delays the
message that says so. After the server has answered, the same failure is a passing outage (a
restart, a network blip) and gets the full retry policy. The answered addresses are kept for the
process, so that a corpus run, one client per document, remembers them.
"""

from __future__ import annotations

import socket
from typing import ClassVar

import httpx2

__all__ = ["ServerContact", "causes", "connect_failure_reason", "is_connect_failure"]


class ServerContact:
    """Whether the server at ``address`` (a URL without credentials) has answered in this process."""

    _answered: ClassVar[set[str]] = set()

    def __init__(self, address: str) -> None:
        self.address = address

    @property
    def answered(self) -> bool:
        """Whether any reply (a message, an error status, response headers) came from it."""
        return self.address in self._answered

    def note_answer(self) -> None:
        """Remember that the server answered."""
        self._answered.add(self.address)

    @classmethod
    def forget_all(cls) -> None:
        """Forget every answer (for tests)."""
        cls._answered.clear()


def causes(error: BaseException) -> list[BaseException]:
    """``error`` and the errors behind it (each one's cause, else its context), each once."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_connect_failure(error: BaseException) -> bool:
    """Whether ``error`` is a connection that could not be opened: refused, a host name that
    does not resolve, a network that cannot be reached, or a connect timeout."""
    connect = (httpx2.ConnectError, httpx2.ConnectTimeout)
    return any(isinstance(link, connect) for link in causes(error))


def connect_failure_reason(error: BaseException) -> str:
    """Why a connection could not be opened, in a few words."""
    chain = causes(error)
    if any(isinstance(link, ConnectionRefusedError) for link in chain):
        return "connection refused"
    if any(isinstance(link, socket.gaierror) for link in chain):
        return "the host name did not resolve"
    if any(isinstance(link, (httpx2.ConnectTimeout, TimeoutError)) for link in chain):
        return "no answer to the connection"
    return "the connection could not be opened"
