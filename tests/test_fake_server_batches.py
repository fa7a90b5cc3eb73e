"""Message Batches on the fake server, driven through the real anthropic SDK's ``messages.batches``."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anthropic
import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from fakeserver import BatchFaults, FakeMessagesAPI
from fakeserver.tokenizer import truncate_to_tokens

MakeFakeApi = Callable[..., FakeMessagesAPI]
MODEL = "claude-sonnet-5-5"


def sdk_client(api: FakeMessagesAPI, api_key: str = "test-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=api.base_url, api_key=api_key, max_retries=0)


def params(text: str, max_tokens: int = 100, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def requests_of(texts: list[str], **extra: Any) -> list[Any]:
    return [{"custom_id": f"req-{i}", "params": params(t, **extra)} for i, t in enumerate(texts)]


def wait_until_ended(client: anthropic.Anthropic, batch_id: str) -> MessageBatch:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} did not end")


def results_by_id(client: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    lines = list(client.messages.batches.results(batch_id))
    by_id = {line.custom_id: line.result for line in lines}
    assert len(by_id) == len(lines), "one result per custom_id"
    return by_id


def raw_request(
    api: FakeMessagesAPI, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*api.address, timeout=5)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def test_a_created_batch_is_in_progress_with_the_real_fields(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(batch_latency=1.0)
    client = sdk_client(api)

    batch = client.messages.batches.create(requests=requests_of(["one", "two", "three"]))

    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress"
    counts = batch.request_counts
    assert (counts.processing, counts.succeeded, counts.errored) == (3, 0, 0)
    assert (counts.canceled, counts.expired) == (0, 0)
    assert batch.ended_at is None and batch.results_url is None
    assert batch.cancel_initiated_at is None and batch.archived_at is None
    assert batch.expires_at - batch.created_at == timedelta(hours=24)
    assert batch.created_at.tzinfo is not None
    assert api.stats().batches == 1 and api.stats().batch_requests == 3


def test_an_ended_batch_has_counts_results_url_and_a_result_per_request(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(batch_latency=0.1)
    client = sdk_client(api)
    texts = ["alpha beta", "gamma delta epsilon", "zeta"]

    created = client.messages.batches.create(requests=requests_of(texts))
    batch = wait_until_ended(client, created.id)

    assert batch.request_counts.succeeded == 3 and batch.request_counts.processing == 0
    assert batch.ended_at is not None and batch.ended_at >= batch.created_at
    assert batch.results_url == f"{api.base_url}/v1/messages/batches/{batch.id}/results"
    results = results_by_id(client, batch.id)
    for index, text in enumerate(texts):
        result = results[f"req-{index}"]
        assert result.type == "succeeded"
        assert result.message.content[0].text == text  # the echo responder
        assert result.message.usage.input_tokens == api.count_tokens(text) + 7
        assert result.message.usage.output_tokens == api.count_tokens(text)


def test_batch_requests_are_processed_like_messages_and_recorded(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(batch_latency=0.05, context_window=200)
    client = sdk_client(api)
    scripted_text = "a scripted reply that is much longer than the limit allows here"
    api.enqueue(scripted_text)
    requests = [
        {"custom_id": "scripted", "params": params("first", max_tokens=3)},
        {"custom_id": "too-long", "params": params("word " * 300)},
        {"custom_id": "no-max-tokens", "params": {"model": MODEL, "messages": []}},
        {"custom_id": "streamed", "params": params("hi", stream=True)},
    ]

    batch = wait_until_ended(client, client.messages.batches.create(requests=requests).id)

    assert batch.request_counts.succeeded == 1 and batch.request_counts.errored == 3
    results = results_by_id(client, batch.id)
    scripted = results["scripted"].message
    assert scripted.content[0].text == truncate_to_tokens(scripted_text, 3)
    assert scripted.stop_reason == "max_tokens" and scripted.usage.output_tokens == 3
    too_long = results["too-long"].error
    assert too_long.type == "error" and too_long.error.type == "invalid_request_error"
    assert "prompt is too long" in too_long.error.message
    assert "messages" in results["no-max-tokens"].error.error.message
    assert "stream" in results["streamed"].error.error.message
    recorded = {request.custom_id: request for request in api.requests}
    assert set(recorded) == {"scripted", "too-long", "no-max-tokens", "streamed"}
    assert all(request.batch_id == batch.id for request in recorded.values())
    assert all(request.path == "/v1/messages/batches" for request in recorded.values())
    assert recorded["scripted"].status == 200 and recorded["too-long"].status == 400
    assert recorded["scripted"].headers["authorization"] == "<redacted>"
    assert api.stats().requests == 0, "batch requests are not counted as /v1/messages calls"


def test_results_come_in_a_shuffled_order_that_the_seed_repeats(
    make_fake_api: MakeFakeApi,
) -> None:
    texts = [f"text {i}" for i in range(12)]
    orders = []
    for _ in range(2):
        api = make_fake_api(batch_latency=0, batch_faults=BatchFaults(seed=7))
        client = sdk_client(api)
        batch = wait_until_ended(
            client, client.messages.batches.create(requests=requests_of(texts)).id
        )
        orders.append([line.custom_id for line in client.messages.batches.results(batch.id)])

    assert sorted(orders[0]) == sorted(f"req-{i}" for i in range(12))
    assert orders[0] != [f"req-{i}" for i in range(12)]
    assert orders[0] == orders[1]


def test_results_are_jsonl_and_refused_until_the_batch_ends(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(batch_latency=0.3)
    client = sdk_client(api)
    batch = client.messages.batches.create(requests=requests_of(["x", "y"]))

    status, _, payload = raw_request(api, "GET", f"/v1/messages/batches/{batch.id}/results")
    assert status == 400 and b"still in_progress" in payload
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        client.messages.batches.results(batch.id)

    wait_until_ended(client, batch.id)
    status, headers, payload = raw_request(api, "GET", f"/v1/messages/batches/{batch.id}/results")
    assert status == 200 and headers["content-type"] == "application/x-jsonl"
    lines = [json.loads(line) for line in payload.decode().splitlines()]
    assert {line["custom_id"] for line in lines} == {"req-0", "req-1"}
    parsed = [MessageBatchIndividualResponse.model_validate(line) for line in lines]
    assert all(line.result.type == "succeeded" for line in parsed)


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "at least 1 item"),
        ([{"custom_id": "a", "params": params("x")}] * 2, "duplicate custom_id 'a'"),
        ([{"custom_id": "has space", "params": params("x")}], "should match pattern"),
        ([{"custom_id": "x" * 65, "params": params("x")}], "should match pattern"),
        ([{"custom_id": "no-params"}], "params: Field required"),
        ([{"custom_id": f"r{i}", "params": params("x")} for i in range(4)], "at most 3 items"),
    ],
)
def test_an_invalid_batch_is_refused_with_a_400(
    make_fake_api: MakeFakeApi, requests: list[Any], message: str
) -> None:
    api = make_fake_api(max_batch_requests=3)

    with pytest.raises(anthropic.BadRequestError, match=message) as caught:
        sdk_client(api).messages.batches.create(requests=requests)

    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert api.stats().batches == 0


def test_a_batch_body_over_the_byte_limit_is_refused_with_a_413(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(max_batch_bytes=2_000)
    client = sdk_client(api)
    client.messages.batches.create(requests=requests_of(["short"]))

    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.batches.create(requests=requests_of(["long " * 500]))

    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]
    assert api.stats().batches == 1


def test_an_unknown_batch_is_a_404_and_a_wrong_key_a_401(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(api_key="right-key")

    with pytest.raises(anthropic.NotFoundError):
        sdk_client(api, "right-key").messages.batches.retrieve("msgbatch_nope")
    with pytest.raises(anthropic.AuthenticationError):
        sdk_client(api, "wrong-key").messages.batches.create(requests=requests_of(["x"]))


def test_cancel_goes_canceling_then_ends_with_unprocessed_requests_canceled(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(batch_latency=0.6)
    client = sdk_client(api)
    batch = client.messages.batches.create(requests=requests_of(["a", "b", "c"]))
    time.sleep(0.3)  # the first request (due at 0.2 s) is processed, the others not yet

    canceling = client.messages.batches.cancel(batch.id)

    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None and canceling.ended_at is None
    ended = wait_until_ended(client, batch.id)
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (1, 2)
    results = results_by_id(client, batch.id)
    assert results["req-0"].type == "succeeded"
    assert results["req-1"].type == results["req-2"].type == "canceled"
    assert [request.custom_id for request in api.requests] == ["req-0"]
    with pytest.raises(anthropic.BadRequestError, match="already ended"):
        client.messages.batches.cancel(batch.id)


def test_seeded_batch_faults_make_errored_and_expired_results(make_fake_api: MakeFakeApi) -> None:
    texts = [f"text {i}" for i in range(40)]
    outcomes = []
    for _ in range(2):
        faults = BatchFaults(seed=3, errored=0.25, expired=0.25)
        api = make_fake_api(batch_latency=0, batch_faults=faults)
        client = sdk_client(api)
        batch = wait_until_ended(
            client, client.messages.batches.create(requests=requests_of(texts)).id
        )
        results = results_by_id(client, batch.id)
        outcomes.append({custom_id: result.type for custom_id, result in results.items()})
        counts = batch.request_counts
        assert counts.errored + counts.expired + counts.succeeded == 40
        assert 0 < counts.errored < 20 and 0 < counts.expired < 20
        errored = [result for result in results.values() if result.type == "errored"]
        assert all(result.error.error.type == "api_error" for result in errored)
        processed = {request.custom_id for request in api.requests}
        expired = {key for key, result in results.items() if result.type == "expired"}
        assert processed == set(results) - expired, "expired requests are never processed"

    assert outcomes[0] == outcomes[1], "the same seed gives the same outcomes"


def test_batch_faults_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match="probability"):
        BatchFaults(errored=1.5)
    with pytest.raises(ValueError, match="at most 1"):
        BatchFaults(errored=0.6, expired=0.6)


def test_batches_list_newest_first_across_pages_and_ended_ones_delete(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(batch_latency=0)
    client = sdk_client(api)
    created = [client.messages.batches.create(requests=requests_of(["x"])).id for _ in range(3)]

    listed = [batch.id for batch in client.messages.batches.list(limit=2)]
    first_page = client.messages.batches.list(limit=2)

    assert listed == list(reversed(created))
    assert [batch.id for batch in first_page.data] == [created[2], created[1]]
    assert first_page.has_more is True
    wait_until_ended(client, created[0])
    deleted = client.messages.batches.delete(created[0])
    assert deleted.id == created[0] and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(created[0])


def test_an_in_progress_batch_cannot_be_deleted_and_stopping_does_not_wait_for_it(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(batch_latency=30)
    client = sdk_client(api)
    batch = client.messages.batches.create(requests=requests_of(["x", "y"]))

    with pytest.raises(anthropic.BadRequestError, match="cancel it"):
        client.messages.batches.delete(batch.id)
    started = time.monotonic()
    api.stop()
    assert time.monotonic() - started < 2
    assert api.requests == []
