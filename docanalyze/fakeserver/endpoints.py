"""The API's behaviour, free of HTTP plumbing: an incoming request in, a response description out.

Order of work for ``POST /v1/messages``: authenticate, parse and validate the body, count input
tokens and check the context window, run the policies (custom ones such as rate limits and
faults, then the latency), take the next reply text, cut it to ``max_tokens``, record the
request, answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docanalyze.fakeserver.errors import ApiError
from docanalyze.fakeserver.policies import Exchange, RequestPolicy
from docanalyze.fakeserver.recording import (
    RecordedRequest,
    RequestLog,
    count_request_tokens,
    redact_headers,
)
from docanalyze.fakeserver.replies import ReplySource, finish_reply
from docanalyze.fakeserver.validation import (
    check_context_window,
    parse_json_body,
    require_headers,
    validate_count_tokens_body,
    validate_messages_body,
)
from docanalyze.fakeserver.wire import (
    StreamEvent,
    message_body,
    new_message_id,
    new_request_id,
    stream_events,
)

__all__ = [
    "EventStreamResponse",
    "IncomingRequest",
    "JsonResponse",
    "MessagesEndpoints",
    "Response",
    "ServerSettings",
]

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"


@dataclass(frozen=True)
class ServerSettings:
    """Limits and behaviour of one fake server."""

    context_window: int = 200_000
    max_output_tokens: int = 128_000
    api_key: str | None = None
    stream_chunk_tokens: int = 20


@dataclass(frozen=True)
class IncomingRequest:
    """An HTTP request as read off the socket; ``headers`` have lower-cased names."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_body: bytes


@dataclass(frozen=True)
class JsonResponse:
    """A complete JSON response."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventStreamResponse:
    """A 200 response streamed as Server-Sent Events, paced by ``seconds_between_events``."""

    events: Iterable[StreamEvent]
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds_between_events: float = 0.0


Response = JsonResponse | EventStreamResponse


@dataclass
class _Progress:
    """What is known about a request so far, so that a refusal can be recorded too."""

    body: dict[str, Any] = field(default_factory=dict)
    input_tokens: int = 0
    stream: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)


class MessagesEndpoints:
    """Answers ``/v1/messages`` and ``/v1/messages/count_tokens``; anything else is a 404."""

    def __init__(
        self,
        settings: ServerSettings,
        replies: ReplySource,
        log: RequestLog,
        policies: Sequence[RequestPolicy],
    ) -> None:
        self.settings = settings
        self.replies = replies
        self.log = log
        self.policies = list(policies)

    def handle(self, request: IncomingRequest) -> Response:
        """The response to ``request``; the request is recorded before the response is sent."""
        request_id = new_request_id()
        progress = _Progress()
        route = self._route(request)
        try:
            if route is None:
                raise ApiError(404, f"Not found: {request.method} {request.path}")
            return route(request, request_id, progress)
        except ApiError as error:
            self._record(request, request_id, progress, error.status)
            headers = {**progress.response_headers, **error.headers, "request-id": request_id}
            return JsonResponse(error.status, error.body(), headers)

    def _route(
        self, request: IncomingRequest
    ) -> Callable[[IncomingRequest, str, _Progress], Response] | None:
        path = request.path.split("?", 1)[0].rstrip("/")
        if request.method != "POST":
            return None
        if path == MESSAGES_PATH:
            return self._create_message
        if path == COUNT_TOKENS_PATH:
            return self._count_tokens
        return None

    def _count_tokens(
        self, request: IncomingRequest, request_id: str, progress: _Progress
    ) -> Response:
        require_headers(request.headers, self.settings.api_key)
        progress.body = parse_json_body(request.raw_body)
        validate_count_tokens_body(progress.body)
        progress.input_tokens = count_request_tokens(progress.body)
        self._record(request, request_id, progress, 200)
        return JsonResponse(
            200, {"input_tokens": progress.input_tokens}, {"request-id": request_id}
        )

    def _create_message(
        self, request: IncomingRequest, request_id: str, progress: _Progress
    ) -> Response:
        require_headers(request.headers, self.settings.api_key)
        body = progress.body = parse_json_body(request.raw_body)
        progress.stream = body.get("stream") is True
        validate_messages_body(body, self.settings.max_output_tokens)
        max_tokens: int = body["max_tokens"]
        progress.input_tokens = count_request_tokens(body)
        check_context_window(progress.input_tokens, max_tokens, self.settings.context_window)

        exchange = Exchange(
            path=request.path,
            headers=request.headers,
            body=body,
            input_tokens=progress.input_tokens,
            max_tokens=max_tokens,
            stream=progress.stream,
            request_id=request_id,
            response_headers=progress.response_headers,
        )
        for policy in self.policies:
            policy.admit(exchange)

        recorded = self._record(request, request_id, progress, 200, remember=False)
        reply = finish_reply(
            self.replies.next_reply(recorded),
            max_tokens=max_tokens,
            stop_sequences=body.get("stop_sequences") or (),
        )
        self.log.append(recorded)

        headers = {**exchange.response_headers, "request-id": request_id}
        message_id, model = new_message_id(), body["model"]
        if progress.stream:
            events = stream_events(
                message_id=message_id,
                model=model,
                reply=reply,
                input_tokens=progress.input_tokens,
                tokens_per_delta=self.settings.stream_chunk_tokens,
            )
            return EventStreamResponse(events, headers, exchange.seconds_between_events)
        body_out = message_body(
            message_id=message_id, model=model, reply=reply, input_tokens=progress.input_tokens
        )
        return JsonResponse(200, body_out, headers)

    def _record(
        self,
        request: IncomingRequest,
        request_id: str,
        progress: _Progress,
        status: int,
        *,
        remember: bool = True,
    ) -> RecordedRequest:
        recorded = RecordedRequest(
            path=request.path,
            body=progress.body,
            headers=redact_headers(request.headers),
            input_tokens=progress.input_tokens,
            stream=progress.stream,
            status=status,
            method=request.method,
            request_id=request_id,
        )
        if remember:
            self.log.append(recorded)
        return recorded
