"""The fake server's rate limits and seeded faults, driven through the real SDK (no retries)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import anthropic
import pytest

from fakeserver import FakeMessagesAPI, Faults, RateLimits, ServerStats
from fakeserver.__main__ import build_parser, faults_from, rate_limits_from
from fakeserver.faults import Fault, FaultInjector
from fakeserver.policies import Exchange
from fakeserver.ratelimits import RateLimiter, TokenBucket

MakeFakeApi = Callable[..., FakeMessagesAPI]
MODEL = "claude-sonnet-5-5"
LIMIT_NAMES = ("requests", "input-tokens", "output-tokens", "tokens")


def sdk_client(api: FakeMessagesAPI, timeout: float = 10.0) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=api.base_url, api_key="test-key", max_retries=0, timeout=timeout
    )


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def ask(client: anthropic.Anthropic, prompt: str = "hi", max_tokens: int = 10) -> dict[str, str]:
    """Send one message request; return the response headers."""
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=max_tokens, messages=user(prompt)
    )
    raw.parse()
    return dict(raw.headers)


def refused(client: anthropic.Anthropic, prompt: str = "hi", max_tokens: int = 10) -> Any:
    """Send one message request that must get a 429; return the exception."""
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model=MODEL, max_tokens=max_tokens, messages=user(prompt))
    return raised.value


def remaining(headers: Any, name: str) -> int:
    return int(headers[f"anthropic-ratelimit-{name}-remaining"])


def words(count: int) -> str:
    """A prompt of ``count`` tokens plus the 7 tokens of message overhead."""
    return "word " * count


# --- rate-limit headers --------------------------------------------------------------------------


def test_every_limit_has_its_headers_and_remaining_goes_down(make_fake_api: MakeFakeApi) -> None:
    limits = RateLimits(
        requests_per_minute=100, input_tokens_per_minute=10_000, output_tokens_per_minute=5_000
    )
    api = make_fake_api(rate_limits=limits)
    client = sdk_client(api)

    first = ask(client, words(93), max_tokens=50)  # 100 input tokens
    second = ask(client, words(193), max_tokens=50)  # 200 input tokens

    for name, limit in [("requests", 100), ("input-tokens", 10_000), ("output-tokens", 5_000)]:
        assert first[f"anthropic-ratelimit-{name}-limit"] == str(limit)
    assert (remaining(first, "requests"), remaining(second, "requests")) == (99, 98)
    assert remaining(first, "input-tokens") == 9_900
    assert 9_700 <= remaining(second, "input-tokens") <= 9_800  # refilled meanwhile (~166/s)
    assert remaining(first, "output-tokens") == 4_950  # max_tokens is reserved up front
    # the combined "tokens" headers show the tighter of the two token limits: output here
    assert first["anthropic-ratelimit-tokens-limit"] == "5000"
    assert first["anthropic-ratelimit-tokens-remaining"] == "4950"
    now = datetime.now(timezone.utc)
    for name in LIMIT_NAMES:
        reset = datetime.strptime(first[f"anthropic-ratelimit-{name}-reset"], "%Y-%m-%dT%H:%M:%SZ")
        seconds_away = (reset.replace(tzinfo=timezone.utc) - now).total_seconds()
        assert -1 <= seconds_away <= 61, name
    requests_reset = first["anthropic-ratelimit-requests-reset"]
    assert requests_reset.endswith("Z") and "T" in requests_reset


def test_error_responses_and_count_tokens_carry_the_headers_too(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=10), max_output_tokens=100)
    client = sdk_client(api)

    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=101, messages=user("hi"))
    counted = client.messages.with_raw_response.count_tokens(model=MODEL, messages=user("hi"))

    assert bad.value.response.headers["anthropic-ratelimit-requests-remaining"] == "10"
    assert counted.headers["anthropic-ratelimit-requests-limit"] == "10"
    assert "anthropic-ratelimit-input-tokens-limit" not in counted.headers  # not configured
    assert "anthropic-ratelimit-tokens-limit" not in counted.headers


def test_no_rate_limits_means_no_rate_limit_headers(fake_api: FakeMessagesAPI) -> None:
    headers = ask(sdk_client(fake_api))
    assert not [name for name in headers if name.startswith("anthropic-ratelimit-")]


# --- refusals ------------------------------------------------------------------------------------


def test_the_request_over_the_rpm_gets_a_real_429(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=3))
    client = sdk_client(api)
    for _ in range(3):
        ask(client)

    error = refused(client)

    assert error.status_code == 429
    assert int(error.response.headers["retry-after"]) >= 1
    assert error.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert error.response.headers["request-id"].startswith("req_")
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == "rate_limit_error"
    message = error.body["error"]["message"]
    assert message.startswith("This request would exceed the rate limit for your organization")
    assert "of 3 requests per minute" in message
    assert [request.status for request in api.requests] == [200, 200, 200, 429]


def test_the_requests_bucket_refills_continuously(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=120))  # 2 per second
    client = sdk_client(api)
    for _ in range(200):  # drain the bucket: it refills by 2 per second meanwhile
        try:
            ask(client)
        except anthropic.RateLimitError as error:
            retry_after = int(error.response.headers["retry-after"])
            break
    else:
        pytest.fail("120 requests per minute let 200 requests through at once")

    assert retry_after == 1  # less than one request short: at most 0.5 s, rounded up
    time.sleep(0.55)
    ask(client)


def test_the_input_token_limit_is_named_and_refills(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(rate_limits=RateLimits(input_tokens_per_minute=6_000))  # 100 per second
    client = sdk_client(api)
    ask(client, words(5_983))  # 5990 tokens: 10 left

    error = refused(client, words(53))  # 60 tokens: 50 short, under 0.5 s away

    assert "of 6,000 input tokens per minute" in error.body["error"]["message"]
    assert error.response.headers["retry-after"] == "1"
    time.sleep(0.55)
    ask(client, words(53))


def test_a_prompt_over_the_input_limit_can_never_pass(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(rate_limits=RateLimits(input_tokens_per_minute=1_000))
    client = sdk_client(api)
    for _ in range(2):
        error = refused(client, words(1_000))
        assert "of 1,000 input tokens per minute" in error.body["error"]["message"]
        assert 1 <= int(error.response.headers["retry-after"]) <= 60
    ask(client, words(900))  # nothing was taken by the refusals


def test_a_refused_request_takes_nothing_from_any_bucket(make_fake_api: MakeFakeApi) -> None:
    limits = RateLimits(requests_per_minute=10, input_tokens_per_minute=1_200)
    api = make_fake_api(rate_limits=limits)
    client = sdk_client(api)
    ask(client, words(993))  # 1000 input tokens: 200 left

    for _ in range(3):
        error = refused(client, words(493))  # 500 input tokens
        assert "input tokens" in error.body["error"]["message"]
    headers = ask(client, words(183))  # 190 input tokens: fits only if nothing was taken

    assert remaining(headers, "requests") == 8
    assert api.stats().rate_limited == 3


def test_output_tokens_are_reserved_by_max_tokens_then_refunded(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(rate_limits=RateLimits(output_tokens_per_minute=1_000))
    client = sdk_client(api)

    first = ask(client, "hi", max_tokens=600)  # replies with 1 token
    second = ask(client, "hi", max_tokens=600)  # fits only because 599 came back
    error = refused(client, "hi", max_tokens=1_001)

    assert remaining(first, "output-tokens") == 400
    assert 399 <= remaining(second, "output-tokens") <= 415  # 1000 - 1 - 600, plus a refill
    assert "of 1,000 output tokens per minute" in error.body["error"]["message"]


def test_a_streamed_reply_refunds_its_output_estimate_when_done(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(rate_limits=RateLimits(output_tokens_per_minute=1_000))
    client = sdk_client(api)
    with client.messages.stream(model=MODEL, max_tokens=900, messages=user("a b")) as stream:
        assert stream.get_final_message().usage.output_tokens == 2
    # 1000 - 2 used by the stream - 1 reserved by this request, plus a refill
    assert 997 <= remaining(ask(client, "x", max_tokens=1), "output-tokens") <= 999


def test_a_stream_is_accepted_at_once_and_its_events_follow_the_latency(
    make_fake_api: MakeFakeApi,
) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=100), latency=1.0)
    client = sdk_client(api)
    started = time.monotonic()
    with client.messages.stream(model=MODEL, max_tokens=50, messages=user("a b")) as stream:
        accepted = time.monotonic() - started
        assert remaining(stream.response.headers, "requests") == 99
        stream.get_final_message()
    replied = time.monotonic() - started
    assert accepted < 0.5 and replied >= 1.0  # headers at once, the reply after the latency
    started = time.monotonic()
    ask(client, "x", max_tokens=5)  # not streamed: all of it after the latency
    assert time.monotonic() - started >= 1.0


def test_a_faulted_request_still_uses_its_budget(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(
        rate_limits=RateLimits(requests_per_minute=2), faults=Faults(overloaded=1.0)
    )
    client = sdk_client(api)
    for _ in range(2):
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    refused(client)
    assert [request.status for request in api.requests] == [529, 529, 429]


# --- the token bucket, on a fake clock -----------------------------------------------------------


def test_a_token_bucket_refills_continuously_up_to_its_limit() -> None:
    bucket = TokenBucket(60, now=0.0)  # 1 per second
    bucket.take(60, now=0.0)
    assert bucket.level(0.5) == pytest.approx(0.5)
    assert bucket.seconds_until(3, now=0.5) == pytest.approx(2.5)
    assert bucket.seconds_until(61, now=0.5) == math.inf
    bucket.give_back(100, now=1.0)
    assert bucket.level(1.0) == 60
    assert bucket.level(100.0) == 60


def test_retry_after_rounds_up_and_reset_dates_the_full_bucket() -> None:
    clock = [1000.0]
    limiter = RateLimiter(
        RateLimits(requests_per_minute=6), clock=lambda: clock[0], wall_clock=lambda: 1.7e9
    )
    for _ in range(6):
        limiter.admit(_exchange())
    clock[0] += 1.0  # 0.1 of a request back; 9 s to go for a whole one

    with pytest.raises(Exception) as raised:
        limiter.admit(_exchange())

    assert getattr(raised.value, "status", None) == 429
    assert getattr(raised.value, "headers", {})["retry-after"] == "9"
    headers = limiter.headers()
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"] == "2023-11-14T22:14:19Z"  # 1.7e9 + 59


def _exchange(input_tokens: int = 10, max_tokens: int = 10, stream: bool = False) -> Exchange:
    return Exchange(
        path="/v1/messages",
        headers={},
        body={},
        input_tokens=input_tokens,
        max_tokens=max_tokens,
        stream=stream,
        request_id="req_test",
    )


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "error_class", "status", "error_type", "counter"),
    [
        (Faults(overloaded=1.0), anthropic.OverloadedError, 529, "overloaded_error", "overloaded"),
        (
            Faults(server_error=1.0),
            anthropic.InternalServerError,
            500,
            "api_error",
            "server_errors",
        ),
    ],
)
def test_error_faults_answer_like_the_real_api(
    make_fake_api: MakeFakeApi,
    faults: Faults,
    error_class: type[anthropic.APIStatusError],
    status: int,
    error_type: str,
    counter: str,
) -> None:
    api = make_fake_api(faults=faults)
    with pytest.raises(error_class) as raised:
        sdk_client(api).messages.create(model=MODEL, max_tokens=10, messages=user("hi"))

    assert raised.value.status_code == status
    assert raised.value.body["error"]["type"] == error_type  # type: ignore[index]
    assert raised.value.response.headers["x-should-retry"] == "true"
    assert raised.value.response.headers["request-id"].startswith("req_")
    assert getattr(api.stats(), counter) == 1


def test_a_dropped_connection_is_a_connection_error(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(faults=Faults(dropped=1.0))
    with pytest.raises(anthropic.APIConnectionError) as raised:
        sdk_client(api).messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    assert not isinstance(raised.value, anthropic.APITimeoutError)
    assert api.stats().dropped == 1 and api.requests[-1].status == 0


def test_a_hang_is_cut_by_the_client_timeout(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(faults=Faults(hang=1.0, hang_seconds=3.0))
    started = time.perf_counter()
    with pytest.raises(anthropic.APITimeoutError):
        sdk_client(api, timeout=0.5).messages.create(
            model=MODEL, max_tokens=10, messages=user("hi")
        )
    assert time.perf_counter() - started < 2.0
    assert api.stats().hung == 1


def test_stop_does_not_wait_for_a_hanging_request() -> None:
    api = FakeMessagesAPI(faults=Faults(hang=1.0, hang_seconds=30.0)).start()
    outcome: list[BaseException] = []

    def ask_and_keep_the_error() -> None:
        try:
            sdk_client(api, timeout=20).messages.create(
                model=MODEL, max_tokens=10, messages=user("hi")
            )
        except anthropic.APIError as error:
            outcome.append(error)

    asker = threading.Thread(target=ask_and_keep_the_error)
    asker.start()
    _wait_for(lambda: api.stats().in_flight == 1)

    started = time.perf_counter()
    api.stop()
    asker.join(5)

    assert time.perf_counter() - started < 2.0
    assert len(outcome) == 1 and isinstance(outcome[0], anthropic.APIConnectionError)
    assert not isinstance(outcome[0], anthropic.APITimeoutError)
    _wait_for(lambda: api.stats().in_flight == 0)


def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.01)


def test_a_slow_stream_spaces_its_events(make_fake_api: MakeFakeApi) -> None:
    faults = Faults(slow_stream=1.0, slow_event_seconds=0.05)
    api = make_fake_api(faults=faults, stream_chunk_tokens=1)
    client = sdk_client(api)

    started = time.perf_counter()
    with client.messages.stream(model=MODEL, max_tokens=10, messages=user("a b c d")) as stream:
        assert "".join(stream.text_stream) == "a b c d"
    streamed_seconds = time.perf_counter() - started
    ask(client)  # not streamed: not slowed, not counted

    assert streamed_seconds >= 9 * 0.05  # 10 events, 9 gaps
    assert api.stats().slow_streams == 1


def _statuses(api: FakeMessagesAPI, count: int) -> list[int]:
    client = sdk_client(api)
    statuses = []
    for _ in range(count):
        try:
            client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
            statuses.append(200)
        except anthropic.APIStatusError as error:
            statuses.append(error.status_code)
    return statuses


def test_the_same_seed_gives_the_same_faults(make_fake_api: MakeFakeApi) -> None:
    def faults(seed: int) -> Faults:
        return Faults(seed=seed, overloaded=0.25, server_error=0.25)

    first = _statuses(make_fake_api(faults=faults(7)), 30)
    again = _statuses(make_fake_api(faults=faults(7)), 30)
    other = _statuses(make_fake_api(faults=faults(8)), 30)

    assert first == again
    assert {200, 500, 529} <= set(first)
    assert other != first


def test_a_probability_gives_roughly_that_share(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(faults=Faults(seed=3, overloaded=0.3))
    overloaded = _statuses(api, 200).count(529)
    assert 40 <= overloaded <= 80
    assert api.stats().overloaded == overloaded


def test_fault_draws_stack_in_the_order_of_the_fields() -> None:
    injector = FaultInjector(Faults(seed=1, overloaded=0.5, slow_stream=0.5))
    assert {injector.next_fault() for _ in range(100)} == {Fault.OVERLOADED, Fault.SLOW_STREAM}


def test_only_a_streamed_request_is_slowed() -> None:
    injector = FaultInjector(Faults(slow_stream=1.0, slow_event_seconds=0.25))
    plain, streamed = _exchange(stream=False), _exchange(stream=True)
    injector.admit(plain)
    injector.admit(streamed)
    assert (plain.seconds_between_events, streamed.seconds_between_events) == (0.0, 0.25)


@pytest.mark.parametrize(
    "settings",
    [
        {"overloaded": 1.5},
        {"dropped": -0.1},
        {"overloaded": 0.6, "server_error": 0.6},
        {"hang_seconds": -1.0},
    ],
)
def test_impossible_faults_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Faults(**settings)


def test_impossible_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_minute must be at least 1"):
        RateLimits(requests_per_minute=0)


# --- stats ---------------------------------------------------------------------------------------


def test_stats_count_every_outcome_and_the_peak_concurrency(make_fake_api: MakeFakeApi) -> None:
    api = make_fake_api(latency=0.5, rate_limits=RateLimits(requests_per_minute=5))

    async def ask_six() -> list[BaseException | None]:
        async with anthropic.AsyncAnthropic(
            base_url=api.base_url, api_key="k", max_retries=0
        ) as client:
            calls = [
                client.messages.create(model=MODEL, max_tokens=10, messages=user(f"n{index}"))
                for index in range(6)
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
        return [result if isinstance(result, BaseException) else None for result in results]

    errors = asyncio.run(ask_six())
    with pytest.raises(anthropic.BadRequestError):
        sdk_client(api).messages.create(model=MODEL, max_tokens=0, messages=user("x"))
    sdk_client(api).messages.count_tokens(model=MODEL, messages=user("x"))  # not counted

    assert sum(isinstance(error, anthropic.RateLimitError) for error in errors) == 1
    stats = api.stats()
    assert isinstance(stats, ServerStats)
    assert (stats.requests, stats.ok, stats.rate_limited) == (7, 5, 1)
    assert (stats.overloaded, stats.server_errors, stats.dropped, stats.hung) == (0, 0, 0, 0)
    # the refused request arrived while the other five waited out their latency
    assert stats.max_in_flight == 6 and stats.in_flight == 0
    api.reset_stats()
    assert api.stats() == ServerStats()


# --- command line --------------------------------------------------------------------------------


def test_command_line_options_build_limits_and_faults() -> None:
    arguments = {
        "--rpm": "50",
        "--input-tpm": "40000",
        "--output-tpm": "8000",
        "--fault-529": "0.1",
        "--fault-500": "0.05",
        "--fault-drop": "0.02",
        "--fault-hang": "0.01",
        "--fault-slow-stream": "0.2",
        "--seed": "9",
    }
    options = build_parser().parse_args([part for item in arguments.items() for part in item])
    assert rate_limits_from(options) == RateLimits(50, 40_000, 8_000)
    assert faults_from(options) == Faults(
        seed=9, overloaded=0.1, server_error=0.05, dropped=0.02, hang=0.01, slow_stream=0.2
    )
    defaults = build_parser().parse_args([])
    assert rate_limits_from(defaults) is None and faults_from(defaults) is None
