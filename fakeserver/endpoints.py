"""The API's behaviour, free of HTTP plumbing: an incoming request in, a response description out.

Order of work for ``POST /v1/messages``: authenticate, parse and validate the body, count input
tokens, look up the prompt cache and check the context window, run the rate limiter (429 at once,
or take the budget of the uncached input), then the policies (custom ones, fault injection, then
the latency), take the next reply text, cut it to ``max_tokens``, write the prompt cache, record
the request, answer. ``/v1/messages/batches...`` goes to
:class:`~fakeserver.batch_endpoints.BatchEndpoints`. Every response carries the current
``anthropic-ratelimit-*`` headers when rate limits are set.

The transport must call a response's ``on_finished`` once it has been sent (or abandoned): that is
when a message request stops being in flight and its unused output-token estimate is given back.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fakeserver.batch_endpoints import BATCHES_PATH, BatchEndpoints
from fakeserver.composer import MessageComposer
from fakeserver.errors import ApiError, ConnectionFault
from fakeserver.model_rules import generic_model_info, model_info_body
from fakeserver.policies import Exchange, RequestPolicy
from fakeserver.ratelimits import RateLimiter
from fakeserver.recording import (
    RecordedRequest,
    RequestLog,
    count_request_tokens,
    redact_headers,
)
from fakeserver.responses import (
    BytesResponse,
    ClosedWithoutReply,
    EventStreamResponse,
    IncomingRequest,
    JsonResponse,
    Response,
)
from fakeserver.settings import ServerSettings
from fakeserver.stats import StatsRecorder
from fakeserver.validation import (
    check_request_size,
    parse_json_body,
    require_headers,
    validate_count_tokens_body,
)
from fakeserver.wire import (
    message_body,
    new_message_id,
    new_request_id,
    stream_events,
)

__all__ = ["MessagesEndpoints"]

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MODELS_PATH = "/v1/models"
NO_REPLY_STATUS = 0
"""The status recorded for a request whose connection was closed without a reply."""


@dataclass
class _Progress:
    """What is known about a request so far, so that a refusal can be recorded too."""

    body: dict[str, Any] = field(default_factory=dict)
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stream: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)
    exchange: Exchange | None = None  # set once the request reaches the limiter and policies
    output_tokens: int = 0  # set once the reply is built
    received_at: float = field(default_factory=time.time)


class MessagesEndpoints:
    """Answers ``/v1/messages``, ``/v1/messages/count_tokens`` and (with ``batches``) the Message
    Batches endpoints; anything else is a 404.

    ``composer`` validates message requests and composes their replies. ``limiter`` (optional)
    admits message requests first and dates every response's rate-limit headers; ``policies`` run
    after it, in order. ``stats`` counts what happens to message requests.
    """

    def __init__(
        self,
        settings: ServerSettings,
        composer: MessageComposer,
        log: RequestLog,
        policies: Sequence[RequestPolicy],
        *,
        limiter: RateLimiter | None = None,
        stats: StatsRecorder | None = None,
        batches: BatchEndpoints | None = None,
    ) -> None:
        self.settings = settings
        self.composer = composer
        self.log = log
        self.policies = list(policies)
        self.limiter = limiter
        self.stats = stats or StatsRecorder()
        self.batches = batches
        self.count_log = RequestLog()
        """The ``count_tokens`` calls (kept apart from the message requests in ``log``)."""
        self.model_lookups: list[str] = []
        """The model ids asked of the Models API, in order (thread-safe appends)."""

    def handle(self, request: IncomingRequest) -> Response:
        """The response to ``request``; the request is recorded before the response is sent.

        Call the response's ``on_finished`` once it has been sent.
        """
        path = request.path.split("?", 1)[0].rstrip("/")
        if request.method == "POST" and path == MESSAGES_PATH:
            return self._serve_message(request)
        if self.batches is not None and (path + "/").startswith(BATCHES_PATH + "/"):
            return self._with_rate_limit_headers(self.batches.handle(request))
        request_id = new_request_id()
        progress = _Progress()
        try:
            if request.method == "POST" and path == COUNT_TOKENS_PATH:
                try:
                    return self._count_tokens(request, request_id, progress)
                except ApiError as error:
                    refusal = self._refuse(request, request_id, progress, error, remember=False)
                    self._remember_count(request, request_id, progress, error.status)
                    return refusal
            if request.method == "GET" and (path + "/").startswith(MODELS_PATH + "/"):
                return self._models(request, path, request_id)
            raise ApiError(404, f"Not found: {request.method} {request.path}")
        except ApiError as error:
            return self._refuse(request, request_id, progress, error)

    def _serve_message(self, request: IncomingRequest) -> Response:
        self.stats.request_started()
        request_id = new_request_id()
        progress = _Progress()
        response: Response
        try:
            response = self._create_message(request, request_id, progress)
        except ApiError as error:
            response = self._refuse(request, request_id, progress, error)
        except ConnectionFault as fault:
            self._record(request, request_id, progress, NO_REPLY_STATUS)
            response = ClosedWithoutReply(fault.hang_seconds)
        except BaseException:  # a broken policy: give back what it held, then let it be seen
            self._finish(progress.exchange, 0)
            raise
        self._count(response)
        exchange, output_tokens = progress.exchange, progress.output_tokens
        return replace(response, on_finished=lambda: self._finish(exchange, output_tokens))

    def _with_rate_limit_headers(self, response: JsonResponse | BytesResponse) -> Response:
        headers = self._rate_limit_headers()
        return replace(response, headers={**headers, **response.headers}) if headers else response

    def _finish(self, exchange: Exchange | None, output_tokens: int) -> None:
        if exchange is not None:
            exchange.finish(output_tokens)
        self.stats.request_finished()

    def _count(self, response: Response) -> None:
        if isinstance(response, (JsonResponse, BytesResponse)):
            self.stats.answered(response.status)
        elif isinstance(response, EventStreamResponse):
            self.stats.answered(200)
            if response.seconds_between_events > 0:
                self.stats.add("slow_streams")
        else:
            self.stats.add("dropped" if response.hang_seconds is None else "hung")

    def _refuse(
        self,
        request: IncomingRequest,
        request_id: str,
        progress: _Progress,
        error: ApiError,
        *,
        remember: bool = True,
    ) -> JsonResponse:
        if remember:
            self._record(request, request_id, progress, error.status)
        headers = {
            **self._rate_limit_headers(),
            **progress.response_headers,
            **error.headers,
            "request-id": request_id,
        }
        return JsonResponse(error.status, error.body(), headers)

    def _rate_limit_headers(self) -> dict[str, str]:
        return self.limiter.headers() if self.limiter is not None else {}

    def _models(self, request: IncomingRequest, path: str, request_id: str) -> Response:
        """``GET /v1/models/{id}`` and ``GET /v1/models``: with model rules, the server's model
        table (404 for a model it does not have; a retired one is described as retired, and
        listed only when ``lifecycle`` asks for it); without, any id is an active model with
        the server's limits and no capability information."""
        require_headers(request.headers, self.settings.api_key)
        headers = {**self._rate_limit_headers(), "request-id": request_id}
        model_id = path[len(MODELS_PATH) :].strip("/")
        if not model_id:
            stages = _listed_lifecycles(request.path)
            listed = [self._model_info(name) for name in self.settings.models]
            listed = [info for info in listed if info["lifecycle"] in stages]
            first, last = (listed[0]["id"], listed[-1]["id"]) if listed else (None, None)
            page = {"data": listed, "has_more": False, "first_id": first, "last_id": last}
            return JsonResponse(200, page, headers)
        self.model_lookups.append(model_id)
        return JsonResponse(200, self._model_info(model_id), headers)

    def _model_info(self, model_id: str) -> dict[str, Any]:
        if not self.settings.model_rules:
            return generic_model_info(
                model_id, self.settings.context_window, self.settings.max_output_tokens
            )
        model = self.settings.models.get(model_id)
        if model is None:
            raise ApiError(404, f"model: {model_id}", error_type="not_found_error")
        return model_info_body(model)

    def _count_tokens(
        self, request: IncomingRequest, request_id: str, progress: _Progress
    ) -> Response:
        require_headers(request.headers, self.settings.api_key)
        check_request_size(request.raw_body)
        progress.body = parse_json_body(request.raw_body)
        validate_count_tokens_body(progress.body)
        model = self.composer.model_of(progress.body)
        progress.input_tokens = (
            model.count_request(progress.body)
            if model is not None
            else count_request_tokens(progress.body)
        )
        self._remember_count(request, request_id, progress, 200)
        headers = {**self._rate_limit_headers(), "request-id": request_id}
        return JsonResponse(200, {"input_tokens": progress.input_tokens}, headers)

    def _create_message(
        self, request: IncomingRequest, request_id: str, progress: _Progress
    ) -> Response:
        require_headers(request.headers, self.settings.api_key)
        check_request_size(request.raw_body)
        body = progress.body = parse_json_body(request.raw_body)
        progress.stream = body.get("stream") is True
        prepared = self.composer.prepare(body)
        progress.input_tokens = prepared.input_tokens
        progress.cache_read_tokens = prepared.cache_read_tokens
        progress.cache_write_tokens = prepared.cache_write_tokens
        prepared.check_context_window(self.settings.context_window)

        exchange = progress.exchange = Exchange(
            path=request.path,
            headers=request.headers,
            body=body,
            input_tokens=prepared.uncached_input_tokens,
            max_tokens=prepared.max_tokens,
            stream=progress.stream,
            request_id=request_id,
            response_headers=progress.response_headers,
        )
        if self.limiter is not None:
            self.limiter.admit(exchange)
        for policy in self.policies:
            policy.admit(exchange)

        recorded = self._record(request, request_id, progress, 200, remember=False)
        composed = self.composer.compose(prepared, recorded)
        reply = composed.reply
        progress.output_tokens = reply.output_tokens
        self.log.append(replace(recorded, output_tokens=reply.output_tokens))

        headers = {**exchange.response_headers, "request-id": request_id}
        message_id, model = new_message_id(), body["model"]
        if progress.stream:
            events = stream_events(
                message_id=message_id,
                model=model,
                reply=reply,
                usage=composed.usage,
                tokens_per_delta=self.settings.stream_chunk_tokens,
            )
            return EventStreamResponse(
                events,
                headers,
                seconds_between_events=exchange.seconds_between_events,
                seconds_before_first_event=exchange.seconds_before_first_event,
                seconds_per_token=self.settings.token_seconds,
                thinking_tokens=reply.thinking_tokens,
            )
        if self.settings.token_seconds:
            time.sleep(self.settings.token_seconds * reply.output_tokens)
        body_out = message_body(
            message_id=message_id, model=model, reply=reply, usage=composed.usage
        )
        return JsonResponse(200, body_out, headers)

    def _remember_count(
        self, request: IncomingRequest, request_id: str, progress: _Progress, status: int
    ) -> None:
        self.count_log.append(self._record(request, request_id, progress, status, remember=False))

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
            cache_read_input_tokens=progress.cache_read_tokens,
            cache_creation_input_tokens=progress.cache_write_tokens,
            output_tokens=progress.output_tokens,
            received_at=progress.received_at,
        )
        if remember:
            self.log.append(recorded)
        return recorded


def _listed_lifecycles(path: str) -> set[str]:
    """The lifecycle stages a ``GET /v1/models`` lists: those its ``lifecycle`` query asks for
    (the SDK sends ``lifecycle[]=...``), else active and deprecated, as the API reference says."""
    query = urllib.parse.parse_qs(path.partition("?")[2])
    asked = query.get("lifecycle", []) + query.get("lifecycle[]", [])
    return set(asked) or {"active", "deprecated"}
