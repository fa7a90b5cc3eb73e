"""The Message Batches endpoints over HTTP: routes, request checks and response shapes.

- ``POST /v1/messages/batches``: create (``{"requests": [{"custom_id", "params"}, ...]}``).
- ``GET /v1/messages/batches``: list, newest first (``limit``, ``after_id``, ``before_id``).
- ``GET /v1/messages/batches/{id}``: the batch; ``DELETE`` forgets an ended one.
- ``GET /v1/messages/batches/{id}/results``: JSONL (``application/x-jsonl``), once ended.
- ``POST /v1/messages/batches/{id}/cancel``: start cancelling.

A create request is checked like the real API checks it: at least one and at most
``max_batch_requests`` requests, a unique ``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$`` and a
``params`` object each (400), a body of at most ``max_batch_bytes`` (413). The params themselves
are checked when the request is processed (an ``errored`` result), as on the real API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from urllib.parse import parse_qs

from fakeserver.batches import BATCHES_PATH, Batch, BatchRequest, BatchRunner
from fakeserver.errors import ApiError
from fakeserver.responses import BytesResponse, IncomingRequest, JsonResponse
from fakeserver.settings import ServerSettings
from fakeserver.validation import parse_json_body, require_headers
from fakeserver.wire import new_request_id

__all__ = ["BATCHES_PATH", "BatchEndpoints", "parse_batch_requests"]

CUSTOM_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
JSONL_CONTENT_TYPE = "application/x-jsonl"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000

BatchResponse = JsonResponse | BytesResponse


class BatchEndpoints:
    """Answers the Message Batches endpoints with a :class:`BatchRunner`'s batches."""

    def __init__(self, settings: ServerSettings, runner: BatchRunner) -> None:
        self.settings = settings
        self.runner = runner

    def handle(self, request: IncomingRequest) -> BatchResponse:
        """The response to a request whose path starts with ``/v1/messages/batches``."""
        request_id = new_request_id()
        try:
            require_headers(request.headers, self.settings.api_key)
            response = self._route(request)
        except ApiError as error:
            return JsonResponse(
                error.status, error.body(), {**error.headers, "request-id": request_id}
            )
        return replace(response, headers={**response.headers, "request-id": request_id})

    def _route(self, request: IncomingRequest) -> BatchResponse:
        path, _, query = request.path.partition("?")
        rest = path.rstrip("/")[len(BATCHES_PATH) :].strip("/")
        parts = rest.split("/") if rest else []
        base_url = f"http://{request.headers.get('host', '127.0.0.1')}"
        match request.method, parts:
            case "POST", []:
                return self._create(request, base_url)
            case "GET", []:
                return self._list(parse_qs(query), base_url)
            case "GET", [batch_id]:
                return self._batch_json(self.runner.find(batch_id), base_url)
            case "DELETE", [batch_id]:
                batch = self.runner.find(batch_id)
                self.runner.delete(batch)
                return JsonResponse(200, {"id": batch.id, "type": "message_batch_deleted"})
            case "GET", [batch_id, "results"]:
                return self._results(self.runner.find(batch_id))
            case "POST", [batch_id, "cancel"]:
                batch = self.runner.find(batch_id)
                self.runner.cancel(batch)
                return self._batch_json(batch, base_url)
        raise ApiError(404, f"Not found: {request.method} {request.path}")

    def _create(self, request: IncomingRequest, base_url: str) -> BatchResponse:
        if len(request.raw_body) > self.settings.max_batch_bytes:
            raise ApiError(
                413,
                f"Request exceeds the maximum allowed number of bytes: {len(request.raw_body)} > "
                f"{self.settings.max_batch_bytes}; split the batch",
            )
        body = parse_json_body(request.raw_body)
        requests = parse_batch_requests(body.get("requests"), self.settings.max_batch_requests)
        return self._batch_json(self.runner.create(requests, request.headers), base_url)

    def _batch_json(self, batch: Batch, base_url: str) -> JsonResponse:
        return JsonResponse(200, self.runner.snapshot(batch, base_url))

    def _results(self, batch: Batch) -> BytesResponse:
        lines = self.runner.results(batch)
        payload = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        headers = {"content-disposition": f"attachment; filename*=utf-8''{batch.id}_results.jsonl"}
        return BytesResponse(200, payload.encode(), JSONL_CONTENT_TYPE, headers)

    def _list(self, query: Mapping[str, list[str]], base_url: str) -> JsonResponse:
        limit = _page_size(query.get("limit"))
        batches = self.runner.newest_first()
        ids = [batch.id for batch in batches]
        after_id, before_id = _first(query.get("after_id")), _first(query.get("before_id"))
        if after_id is not None:
            start = ids.index(after_id) + 1 if after_id in ids else len(ids)
            page, has_more = batches[start : start + limit], start + limit < len(batches)
        elif before_id is not None:
            end = ids.index(before_id) if before_id in ids else 0
            page, has_more = batches[max(0, end - limit) : end], end - limit > 0
        else:
            page, has_more = batches[:limit], limit < len(batches)
        data = [self.runner.snapshot(batch, base_url) for batch in page]
        return JsonResponse(
            200,
            {
                "data": data,
                "has_more": has_more,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
            },
        )


def parse_batch_requests(requests: object, max_requests: int) -> list[BatchRequest]:
    """The ``requests`` of a create body, checked; a 400 ApiError says what is wrong."""
    if requests is None:
        raise ApiError(400, "requests: Field required")
    if not isinstance(requests, list):
        raise ApiError(400, "requests: Input should be a valid list")
    if not requests:
        raise ApiError(400, "requests: List should have at least 1 item after validation, not 0")
    if len(requests) > max_requests:
        raise ApiError(
            400,
            f"requests: List should have at most {max_requests} items after validation, "
            f"not {len(requests)}",
        )
    parsed = [_parse_request(index, item) for index, item in enumerate(requests)]
    _check_unique([request.custom_id for request in parsed])
    return parsed


def _parse_request(index: int, item: object) -> BatchRequest:
    if not isinstance(item, Mapping):
        raise ApiError(
            400, f"requests.{index}: Input should be an object with custom_id and params"
        )
    custom_id = item.get("custom_id")
    if custom_id is None:
        raise ApiError(400, f"requests.{index}.custom_id: Field required")
    if not isinstance(custom_id, str) or not CUSTOM_ID_PATTERN.fullmatch(custom_id):
        raise ApiError(
            400,
            f"requests.{index}.custom_id: String should match pattern "
            f"'^[a-zA-Z0-9_-]{{1,64}}$', got {custom_id!r}",
        )
    params = item.get("params")
    if params is None:
        raise ApiError(400, f"requests.{index}.params: Field required")
    if not isinstance(params, Mapping):
        raise ApiError(400, f"requests.{index}.params: Input should be a valid dictionary")
    return BatchRequest(custom_id, dict(params))


def _check_unique(custom_ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for index, custom_id in enumerate(custom_ids):
        if custom_id in seen:
            raise ApiError(
                400,
                f"requests.{index}.custom_id: duplicate custom_id {custom_id!r}: every request "
                "in a batch needs a unique custom_id",
            )
        seen.add(custom_id)


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _page_size(values: list[str] | None) -> int:
    raw = _first(values)
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit: Input should be a valid integer, got {raw!r}") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ApiError(400, f"limit: Input should be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    return limit
