"""HTTP plumbing: a threading HTTP/1.1 server on 127.0.0.1 that hands requests to the endpoints.

Each connection is served by a daemon thread and kept alive between requests. JSON responses carry
a Content-Length; event streams use chunked transfer encoding, so the connection survives them.
The server tracks open connections so that :meth:`LoopbackHTTPServer.close_connections` can end
idle keep-alive connections when the server stops; waits (a hung reply, the pause between the
events of a slow stream) end early then too.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakeserver import responses
from fakeserver.endpoints import MessagesEndpoints
from fakeserver.errors import error_body
from fakeserver.tokenizer import count_tokens
from fakeserver.wire import StreamEvent, encode_sse, new_request_id

__all__ = ["LOOPBACK_HOST", "LoopbackHTTPServer"]

LOOPBACK_HOST = "127.0.0.1"
logger = logging.getLogger("fakeserver")
_REASONS = {529: "Overloaded"}  # statuses http.server has no reason phrase for


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer bound to 127.0.0.1 only, serving :class:`MessagesEndpoints`."""

    daemon_threads = True
    block_on_close = False  # idle keep-alive connections are closed by close_connections instead
    request_queue_size = 128  # many clients connect at once; the default backlog of 5 drops SYNs
    allow_reuse_address = True

    def __init__(self, port: int, endpoints: MessagesEndpoints) -> None:
        self.endpoints = endpoints
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self.stopping = threading.Event()
        super().__init__((LOOPBACK_HOST, port), _MessagesRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Print a handler's traceback, except for a client that went away (a cancelled
        request): that is the client's business, not the server's failure."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket) -> None:
        """Remember an open client connection."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a client connection that has ended."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection (their handler threads then finish).

        Also sets :attr:`stopping`, which ends the handlers' waits.
        """
        self.stopping.set()
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _MessagesRequestHandler(BaseHTTPRequestHandler):
    """Reads one request, asks the endpoints for a response, writes it."""

    protocol_version = "HTTP/1.1"
    server_version = "docanalyze-fakeserver"
    disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs
    server: LoopbackHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        logger.info("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        try:
            raw_body = self._read_body()
        except ValueError as error:
            body = error_body("invalid_request_error", str(error))
            self._write_json(responses.JsonResponse(400, body, {"request-id": new_request_id()}))
            self.close_connection = True
            return
        request = responses.IncomingRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=raw_body,
        )
        response: responses.Response = self.server.endpoints.handle(request)
        try:
            if isinstance(response, responses.JsonResponse):
                self._write_json(response)
            elif isinstance(response, responses.BytesResponse):
                self._write_bytes(response)
            elif isinstance(response, responses.EventStreamResponse):
                self._write_event_stream(response)
            else:
                self._close_without_reply(response)
        except OSError:  # the client went away, or the server is stopping
            self.close_connection = True
        finally:
            response.on_finished()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked_body()
        length_header = self.headers.get("content-length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise ValueError(f"invalid Content-Length: {length_header!r}") from None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked_body(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self.rfile.readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError(f"invalid chunk size line: {size_line!r}") from None
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _close_without_reply(self, response: responses.ClosedWithoutReply) -> None:
        if response.hang_seconds is not None:
            self.server.stopping.wait(response.hang_seconds)
        self.close_connection = True  # the connection closes with nothing written

    def _write_json(self, response: responses.JsonResponse) -> None:
        payload = json.dumps(response.body, ensure_ascii=False).encode()
        self._write_payload(response.status, response.headers, "application/json", payload)

    def _write_bytes(self, response: responses.BytesResponse) -> None:
        self._write_payload(
            response.status, response.headers, response.content_type, response.payload
        )

    def _write_payload(
        self, status: int, headers: Mapping[str, str], content_type: str, payload: bytes
    ) -> None:
        self.send_response(status, _REASONS.get(status))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _write_event_stream(self, response: responses.EventStreamResponse) -> None:
        self.send_response(200)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()  # written at once: the client sees the status and headers now
        for index, event in enumerate(response.events):
            pause = (
                response.seconds_between_events if index else response.seconds_before_first_event
            )
            pause += response.seconds_per_token * _tokens_written(event, response)
            if pause:
                self.server.stopping.wait(pause)
            chunk = encode_sse(event)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


def _tokens_written(event: StreamEvent, response: responses.EventStreamResponse) -> int:
    """The output tokens the model writes before it can send ``event``: a text delta's, or the
    thinking's before its block is signed."""
    if not response.seconds_per_token or event[0] != "content_block_delta":
        return 0
    delta = event[1]["delta"]
    if delta["type"] == "text_delta":
        return count_tokens(delta["text"])
    return response.thinking_tokens if delta["type"] == "signature_delta" else 0
