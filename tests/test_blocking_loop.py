"""Blocking calls, from any thread, run on one event loop of the process
(:mod:`docanalyze.run.blocking`), so every analysis shares the rate limits of its key."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import docanalyze
from docanalyze.errors import UsageError
from docanalyze.models.anthropic import shared_limits
from docanalyze.report.result import Report
from docanalyze.run.blocking import run_to_the_end, shared_loop, to_the_end
from fakeserver import FakeMessagesAPI, RateLimits
from tests.test_shared_limits import KEY, one_chunk_files

THREADS = 8
RPM = 14  # below the 16 requests of the 8 analyses: separate limiters overdraw it at once


def test_blocking_analyses_in_a_thread_pool_share_one_limiter_and_stay_under_the_limit(
    make_fake_api: Callable[..., FakeMessagesAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    api = make_fake_api(rate_limits=RateLimits(requests_per_minute=RPM), latency=0.3)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    joined: list[shared_limits.SharedLimits] = []
    acquire = shared_limits.REGISTRY.acquire

    def spy(key: shared_limits.LimitsKey, caps: shared_limits.Caps) -> shared_limits.SharedLimits:
        joined.append(acquire(key, caps))
        return joined[-1]

    monkeypatch.setattr(shared_limits.REGISTRY, "acquire", spy)
    paths = one_chunk_files(tmp_path, THREADS)
    start = threading.Barrier(THREADS)
    results: list[Report | BaseException] = []

    def one(path: Path) -> None:
        start.wait()
        try:
            results.append(docanalyze.Pipeline(cache="off", rpm=RPM).analyze(path))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            results.append(error)

    threads = [threading.Thread(target=one, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stats = api.stats()
    print(f"{stats.requests} requests, {stats.rate_limited} 429s")
    assert [r for r in results if not isinstance(r, Report)] == []
    assert len(results) == THREADS
    assert len({id(limits) for limits in joined}) == 1, "each thread had a limiter of its own"
    assert stats.rate_limited <= 0.05 * stats.requests, f"{stats.rate_limited} 429s"


def test_the_loop_lasts_from_call_to_call_and_errors_come_out_unchanged() -> None:
    @to_the_end
    async def running_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first, second = running_loop(), running_loop()
    assert first is second is shared_loop() and first.is_running()
    failure = ValueError("this one")

    async def fail() -> None:
        raise failure

    with pytest.raises(ValueError) as raised:
        run_to_the_end(fail())
    assert raised.value is failure


def test_a_blocking_call_from_inside_the_loop_is_refused_not_a_deadlock() -> None:
    async def inner() -> int:
        return 1

    async def nested() -> int:
        return run_to_the_end(inner())

    with pytest.raises(UsageError, match="asynchronous form"):
        run_to_the_end(nested())


def test_ctrl_c_cancels_the_run_lets_it_clean_up_then_raises_keyboard_interrupt() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("Ctrl-C reaches the main thread only")
    steps: list[str] = []

    async def long_run() -> None:
        try:
            steps.append("started")
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.3)  # the run store's flush, say
            steps.append("cleaned up")
            raise

    threading.Timer(0.3, _thread.interrupt_main).start()
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_to_the_end(long_run())
    assert steps == ["started", "cleaned up"]
    assert time.monotonic() - began < 5


def test_a_run_that_ends_cancelled_raises_asyncio_cancelled_error() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        run_to_the_end(cancelled())
