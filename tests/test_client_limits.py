"""AnthropicModel at the rate limit and through faults: real SDK, real HTTP, the fake server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from docanalyze.errors import ModelError
from docanalyze.events import Event, Notice, RequestRetried
from docanalyze.models.anthropic.concurrency import AdaptiveConcurrency
from docanalyze.models.anthropic.model import AnthropicModel
from docanalyze.models.anthropic.pacer import PauseListener
from docanalyze.models.anthropic.ratelimit import RateLimiter, Ticket
from docanalyze.models.anthropic.retry import RetryPolicy
from docanalyze.models.base import ModelReply, ModelRequest
from docanalyze.options import Options
from docanalyze.run.backend import create_model
from fakeserver import ApiError, Exchange, FakeMessagesAPI, RateLimits

MODEL = "claude-sonnet-5-5"
FALLBACK = "claude-haiku-4-5"
KEY = "fake-test-SECRET-0123456789"
FAST = RetryPolicy(max_attempts=6, max_elapsed=30.0, base_delay=0.001, max_delay=0.005)


def ask(prompt: str = "Summarize the contract.", max_tokens: int = 200) -> ModelRequest:
    return ModelRequest(prompt=prompt, max_tokens=max_tokens, stage="map")


def model_for(api: FakeMessagesAPI, **kwargs: Any) -> AnthropicModel:
    kwargs.setdefault("retry", FAST)
    return AnthropicModel(MODEL, api_key=KEY, base_url=api.base_url, **kwargs)


def run_all(
    model: AnthropicModel, requests: Sequence[ModelRequest], **kwargs: Any
) -> list[ModelReply | BaseException]:
    async def go() -> list[ModelReply | BaseException]:
        try:
            return await asyncio.gather(
                *(model.complete(request, **kwargs) for request in requests),
                return_exceptions=True,
            )
        finally:
            await model.aclose()

    return asyncio.run(go())


class Arrivals:
    """A policy that records when each request reached the server, and may refuse some."""

    def __init__(self, refuse: Callable[[int, Exchange], ApiError | None] | None = None) -> None:
        self.times: list[float] = []
        self.refused: list[float] = []
        self._refuse = refuse
        self._lock = threading.Lock()

    def admit(self, exchange: Exchange) -> None:
        with self._lock:
            now = time.monotonic()
            self.times.append(now)
            number = len(self.times)
        error = self._refuse(number, exchange) if self._refuse else None
        if error is not None:
            with self._lock:
                self.refused.append(now)
            raise error


def test_a_burst_under_a_request_limit_gets_few_429s(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=120), latency=0.05)
    model = model_for(api)
    started = time.monotonic()
    results = run_all(model, [ask(f"chunk {i}") for i in range(130)])
    elapsed = time.monotonic() - started
    assert all(isinstance(result, ModelReply) for result in results)
    stats = api.stats()
    assert stats.rate_limited <= 6  # at most ~5% of the requests
    assert elapsed >= 4.0  # 120 at once, then 2 per second: the pacing held the last 10 back
    client = model.stats()
    assert client.rate_waits > 0 and client.attempts == stats.requests


def test_a_burst_under_a_token_limit_gets_few_429s(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    limits = RateLimits(requests_per_minute=1000, input_tokens_per_minute=60_000)
    api = make_fake_api(rate_limits=limits)
    model = model_for(api)
    prompt = "The parties agree to the terms set out below. " * 60  # ~850 tokens
    results = run_all(model, [ask(prompt, max_tokens=50) for _ in range(68)])  # ~58,000 tokens
    assert all(isinstance(result, ModelReply) for result in results)
    assert api.stats().rate_limited <= 3


class RecordingLimiter(RateLimiter):
    """The real limiter, noting when requests were let through and when cooldowns began."""

    def __init__(self) -> None:
        super().__init__()
        self.admitted: list[float] = []
        self.cooldowns_at: list[float] = []

    async def acquire(
        self, input_estimate: int, max_tokens: int, on_pause: PauseListener | None = None
    ) -> Ticket:
        ticket = await super().acquire(input_estimate, max_tokens, on_pause)
        self.admitted.append(time.monotonic())
        return ticket

    def cooldown(
        self, retry_after: float | None, headers: Mapping[str, str] | None = None
    ) -> float:
        self.cooldowns_at.append(time.monotonic())
        return super().cooldown(retry_after, headers)


def test_one_429_pauses_every_send_until_retry_after(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    def refuse(number: int, exchange: Exchange) -> ApiError | None:
        if number == 12:
            return ApiError(429, "Slow down", headers={"retry-after": "1"})
        return None

    arrivals = Arrivals(refuse)
    api = make_fake_api(policies=[arrivals], latency=0.05)
    events: list[Any] = []
    limiter = RecordingLimiter()
    # With a ceiling of 16, most requests are still waiting when the 429 arrives, even on a
    # loaded machine: what is measured is how they are let through after it.
    limits = AdaptiveConcurrency(16, initial=8, headroom=limiter.has_headroom)
    model = model_for(api, on_retry=events.append, rate_limiter=limiter, concurrency_limiter=limits)
    results = run_all(model, [ask(f"chunk {i}") for i in range(40)])
    assert all(isinstance(result, ModelReply) for result in results)
    [refused_at] = arrivals.refused
    [learned_at] = limiter.cooldowns_at
    # Once the client has seen the 429, it lets nothing through until retry-after has passed.
    assert [t for t in limiter.admitted if learned_at < t < learned_at + 1.0] == []
    resumed = [t for t in limiter.admitted if t >= learned_at + 1.0]
    assert len(resumed) >= 10 and len(arrivals.times) == 41
    assert len({round(t, 3) for t in resumed[:5]}) > 1  # apart, not all at one instant
    # At the server: only requests already on their way arrived during the pause.
    assert [t for t in arrivals.times if learned_at + 0.1 < t < refused_at + 1.0] == []
    stats = model.stats()
    assert (stats.rate_limited, stats.cooldowns) == (1, 1)
    assert [event.status for event in events] == [429]
    assert stats.concurrency_limit < stats.concurrency_max  # the 429 cut the concurrency


def test_concurrency_grows_to_every_request_before_the_first_reply_with_generous_limits(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    limits = RateLimits(requests_per_minute=100_000, input_tokens_per_minute=10_000_000)
    api = make_fake_api(rate_limits=limits, latency=1.0)
    model = model_for(api)
    run_all(model, [ask(f"chunk {i}") for i in range(100)])
    # Slow start doubles per round of acceptances (8, 16, 32, 64, 128): the headers of a
    # streamed reply arrive at once, so all 100 are in flight within one reply's latency,
    # not in 13 waves of 8 (timings: benchmarks/).
    assert api.stats().max_in_flight == 100
    assert model.stats().concurrency_max >= 100
    assert api.stats().rate_limited == 0


def test_a_wrong_key_fails_at_once_without_retries(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(api_key="the-right-key")
    model = model_for(api)
    [result] = run_all(model, [ask()])
    assert isinstance(result, ModelError)
    assert str(result) == "the Anthropic API rejected the API key (401): check ANTHROPIC_API_KEY"
    assert len(api.requests) == 1 and model.stats().retries == 0


def overloaded_for(model: str) -> Arrivals:
    def refuse(number: int, exchange: Exchange) -> ApiError | None:
        if exchange.body["model"] == model:
            return ApiError(529, "Overloaded", headers={"x-should-retry": "true"})
        return None

    return Arrivals(refuse)


def test_repeated_529s_switch_to_the_fallback_model(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(policies=[overloaded_for(MODEL)])
    switches: list[tuple[str, str]] = []
    model = model_for(
        api, fallback_model=FALLBACK, fallback_after=3, on_fallback=lambda *p: switches.append(p)
    )
    [reply] = run_all(model, [ask()])
    assert isinstance(reply, ModelReply) and reply.model == FALLBACK
    assert [r.body["model"] for r in api.requests] == [MODEL] * 3 + [FALLBACK]
    assert switches == [(MODEL, FALLBACK)] and model.switched_to_fallback
    [later] = run_all(model, [ask()])
    assert isinstance(later, ModelReply) and later.model == FALLBACK
    assert len(api.requests) == 5  # later requests go straight to the fallback
    stats = model.stats()
    assert stats.fallback_used and stats.overloaded == 3 and stats.fallback_replies == 2


def test_without_a_fallback_529s_exhaust_the_retries(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(policies=[overloaded_for(MODEL)])
    model = model_for(api, retry=RetryPolicy(3, 30.0, 0.001, 0.001))
    [result] = run_all(model, [ask()])
    assert isinstance(result, ModelError) and "after 3 attempts" in str(result)
    assert not model.switched_to_fallback


class SlowFirstStream:
    """Paces the events of the first streamed request ``seconds`` apart."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.seen = 0

    def admit(self, exchange: Exchange) -> None:
        self.seen += 1
        if self.seen == 1:
            exchange.seconds_between_events = self.seconds


def test_a_stalled_stream_is_cut_and_retried(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(policies=[SlowFirstStream(3.0)])
    events: list[Any] = []
    model = model_for(api, stall_timeout=0.3, on_retry=events.append)
    received: list[str] = []
    started = time.monotonic()
    [reply] = run_all(
        model, [ask("a streamed answer")], on_text=received.append, on_restart=received.clear
    )
    assert time.monotonic() - started < 2.5
    assert isinstance(reply, ModelReply) and reply.text == "a streamed answer"
    assert "".join(received) == reply.text
    assert [event.reason for event in events] == ["timeout"]
    assert model.stats().timeouts == 1


def test_a_trickling_stream_hits_the_attempt_deadline(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(policies=[SlowFirstStream(0.15)], stream_chunk_tokens=1)
    model = model_for(api, timeout=1.0, stall_timeout=0.5)
    text = "word " * 40  # 40 events 0.15 s apart: never stalls, but takes 6 s
    [reply] = run_all(model, [ask(text)], on_text=lambda _: None)
    assert isinstance(reply, ModelReply) and reply.text.strip() == text.strip()
    assert len(api.requests) == 2 and model.stats().timeouts == 1


def test_create_model_wires_limits_fallback_and_events(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(number: int, exchange: Exchange) -> ApiError | None:
        if number == 1:
            return ApiError(429, "Slow down", headers={"retry-after": "0"})
        if exchange.body["model"] == MODEL:
            return ApiError(529, "Overloaded", headers={"retry-after-ms": "1"})
        return None

    api = make_fake_api(policies=[Arrivals(refuse)])
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    options = Options(
        backend="anthropic", model=MODEL, fallback_model=FALLBACK, rpm=500, concurrency=5
    )
    seen: list[Event] = []
    model, _ = create_model(options, env={"ANTHROPIC_API_KEY": KEY}, on_event=seen.append)
    assert isinstance(model, AnthropicModel)
    assert model.limiter.stats().limits == {"cap:requests": 500}
    assert model.limits.limit == 5
    [reply] = run_all(model, [ask()])
    assert isinstance(reply, ModelReply) and reply.model == FALLBACK
    retried = [event for event in seen if isinstance(event, RequestRetried)]
    assert [(event.reason, event.status) for event in retried] == [
        ("429", 429),
        ("529", 529),
        ("529", 529),
        ("529", 529),
    ]
    notices = [event.message for event in seen if isinstance(event, Notice)]
    assert len(notices) == 1 and FALLBACK in notices[0]


def test_a_cancelled_request_is_not_left_unanswered_in_the_limiter(
    make_fake_api: Callable[..., FakeMessagesAPI],
) -> None:
    api = make_fake_api(latency=5.0)
    model = model_for(api)

    async def go() -> None:
        try:
            task = asyncio.ensure_future(model.complete(ask()))
            deadline = time.monotonic() + 3.0  # its reply is 5 s away
            while api.stats().requests == 0 or model.limiter.stats().unacknowledged:
                assert time.monotonic() < deadline, "the headers of the request never came"
                await asyncio.sleep(0.01)
            task.cancel()  # accepted, its reply still to come
            with pytest.raises(asyncio.CancelledError):
                await task
            task = asyncio.ensure_future(model.complete(ask()))
            for _ in range(1000):  # a few loop turns: admitted, but not yet sent
                if model.limiter.stats().unacknowledged:
                    break
                await asyncio.sleep(0)
            assert model.limiter.stats().unacknowledged == 1
            task.cancel()  # before the server answered
            with pytest.raises(asyncio.CancelledError):
                await task
            assert model.limiter.stats().unacknowledged == 0
        finally:
            await model.aclose()

    asyncio.run(go())
