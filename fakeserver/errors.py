"""API errors the fake server answers with, in the real Messages API's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ERROR_TYPE_BY_STATUS", "ApiError", "ConnectionFault", "error_body"]

ERROR_TYPE_BY_STATUS: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """The real error body: ``{"type": "error", "error": {"type": ..., "message": ...}}``."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


class ApiError(Exception):
    """A request the server refuses: raised anywhere while handling, answered as an error response.

    ``headers`` are extra response headers (a rate-limit policy would add ``retry-after`` here).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or ERROR_TYPE_BY_STATUS.get(status, "api_error")
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body to answer with."""
        return error_body(self.error_type, self.message)


class ConnectionFault(Exception):
    """A request the server never answers: raised while handling, the connection is closed.

    With ``hang_seconds`` None the connection is dropped at once. Otherwise the server writes
    nothing for ``hang_seconds`` (the wait ends early when the server stops), then closes it.
    """

    def __init__(self, hang_seconds: float | None = None) -> None:
        kind = "dropped" if hang_seconds is None else f"hung for {hang_seconds} s"
        super().__init__(f"connection {kind} without a reply")
        self.hang_seconds = hang_seconds
