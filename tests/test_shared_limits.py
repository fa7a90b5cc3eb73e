"""One process, one limiter: every Pipeline that talks to the same API with the same key shares
one rate limiter and one adaptive concurrency (:mod:`docanalyze.models.anthropic.shared_limits`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import docanalyze
from docanalyze.errors import ModelError
from docanalyze.events import Event, RequestRetried, Waiting
from docanalyze.models.anthropic.concurrency import AdaptiveConcurrency
from docanalyze.models.anthropic.model import AnthropicModel
from docanalyze.models.anthropic.retry import RetryPolicy
from docanalyze.models.base import ModelReply, ModelRequest
from docanalyze.options import Options
from docanalyze.report.result import Report
from docanalyze.run.backend import create_model
from fakeserver import ApiError, Exchange, FakeMessagesAPI, RateLimits
from tests.test_client_limits import Arrivals


def one_chunk_files(root: Path, count: int) -> list[Path]:
    paths = []
    for n in range(count):
        path = root / f"note{n:02d}.txt"
        path.write_text(
            f"Note {n}: the inspectors checked pump {n} in March and its seals held.\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


@pytest.mark.slow  # about 60 s: 60 requests at 30 a minute, of which the first 30 at once
def test_thirty_gathered_analyses_on_one_pipeline_share_the_limit_and_all_succeed(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=30), latency=0.5)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-test-SECRET-key")
    paths = one_chunk_files(tmp_path, 30)
    pipeline = docanalyze.Pipeline(cache="off")

    async def all_of_them() -> list[Report | BaseException]:
        return await asyncio.gather(
            *(pipeline.analyze_async(path) for path in paths), return_exceptions=True
        )

    started = time.monotonic()
    results = asyncio.run(all_of_them())
    elapsed = time.monotonic() - started
    stats = api.stats()
    print(f"{elapsed:.1f} s, {stats.ok} ok, {stats.rate_limited} 429s")
    failed = [result for result in results if not isinstance(result, Report)]
    assert failed == []
    assert stats.rate_limited <= 0.05 * stats.requests


KEY = "fake-test-SECRET-0123456789"
OTHER_KEY = "fake-test-SECRET-9876543210"


def claude(rpm: int | None = None, concurrency: int = 256, key: str = KEY) -> AnthropicModel:
    options = Options(backend="anthropic", rpm=rpm, concurrency=concurrency)
    model, _ = create_model(options, env={"ANTHROPIC_API_KEY": key})
    assert isinstance(model, AnthropicModel)
    return model


def test_clients_of_one_key_share_one_limiter_at_the_strictest_caps_and_other_keys_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")

    async def in_one_loop() -> None:
        first, second = claude(rpm=100, concurrency=64), claude(rpm=50, concurrency=128)
        other = claude(key=OTHER_KEY)
        assert first.limiter is second.limiter and first.limits is second.limits
        assert other.limiter is not first.limiter and other.limits is not first.limits
        assert first.limiter.stats().limits == {"cap:requests": 50}
        assert second.limits.stats().limit <= 64 and isinstance(first.limits, AdaptiveConcurrency)
        assert first.limits.ceiling == 64
        for model in (first, second, other):
            await model.aclose()

    asyncio.run(in_one_loop())


def test_two_pipelines_share_the_limits_which_close_after_the_last_user(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from docanalyze.models.anthropic import shared_limits

    api = make_fake_api(latency=0.2)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    joined: list[shared_limits.SharedLimits] = []
    acquire = shared_limits.REGISTRY.acquire

    def spy(key: shared_limits.LimitsKey, caps: shared_limits.Caps) -> shared_limits.SharedLimits:
        joined.append(acquire(key, caps))
        return joined[-1]

    monkeypatch.setattr(shared_limits.REGISTRY, "acquire", spy)
    first, second = one_chunk_files(tmp_path, 2)

    async def both() -> list[Report]:
        return list(
            await asyncio.gather(
                docanalyze.Pipeline(cache="off").analyze_async(first),
                docanalyze.Pipeline(cache="off", rpm=1000).analyze_async(second),
            )
        )

    asyncio.run(both())
    assert len(joined) == 2 and joined[0] is joined[1]
    assert joined[0].closed and joined[0].users == 0
    held = shared_limits.REGISTRY.keys()
    this_server = [key for key in held if key.base_url == api.base_url.rstrip("/")]
    assert this_server == []  # other tests of this process may hold their own servers' limits


def test_the_key_never_appears_in_the_registry() -> None:
    from docanalyze.models.anthropic.shared_limits import Caps, LimitsKey, LimitsRegistry

    registry = LimitsRegistry()

    async def join() -> str:
        limits = registry.acquire(LimitsKey.of("http://127.0.0.1:9", KEY), Caps(rpm=10))
        shown = " ".join(map(repr, (registry, limits, *registry.keys())))
        registry.release(limits)
        return shown

    shown = asyncio.run(join())
    assert "127.0.0.1:9" in shown and KEY not in shown and "SECRET" not in shown
    assert registry.keys() == []


def test_a_429_with_retry_after_is_waited_out_with_a_notice_not_counted_as_an_attempt(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    def first_refused(number: int, exchange: Exchange) -> ApiError | None:
        return ApiError(429, "Slow down", headers={"retry-after": "1"}) if number == 1 else None

    api = make_fake_api(policies=[Arrivals(first_refused)])
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    events: list[Event] = []
    options = Options(backend="anthropic", max_attempts=1)
    model, _ = create_model(options, env={"ANTHROPIC_API_KEY": KEY}, on_event=events.append)

    async def ask() -> ModelReply:
        try:
            return await model.complete(ModelRequest(prompt="Hi", max_tokens=50, stage="map"))
        finally:
            await model.aclose()

    assert isinstance(asyncio.run(ask()), ModelReply)
    assert [event.status for event in events if isinstance(event, RequestRetried)] == [429]
    [waited] = [event for event in events if isinstance(event, Waiting)]
    assert waited.what == "a rate-limit pause" and 0.5 < (waited.seconds or 0) <= 1.5


def test_back_pressure_longer_than_the_retry_time_fails_saying_so(
    make_fake_api: Callable[..., FakeMessagesAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=1))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    first, second = claude(), claude(key=OTHER_KEY)  # the second knows nothing of the first
    second.retry = RetryPolicy(max_attempts=8, max_elapsed=5.0)
    request = ModelRequest(prompt="Hi", max_tokens=50, stage="map")

    async def one_each() -> list[ModelReply | BaseException]:
        try:
            replies = [await first.complete(request)]
            return replies + await asyncio.gather(second.complete(request), return_exceptions=True)
        finally:
            await first.aclose()
            await second.aclose()

    replied, failed = asyncio.run(one_each())
    assert isinstance(replied, ModelReply) and isinstance(failed, ModelError)
    assert "1 attempt" in str(failed) and "held it back for the whole retry time" in str(failed)
