"""The shared rate limiter: pacing on a fake clock, headers, caps, estimate correction, cooldown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import pytest

from docanalyze.models.anthropic.ratelimit import (
    RateLimiter,
    Ticket,
    parse_rate_limit_headers,
    parse_reset,
)


class FakeClock:
    """Time moves only when someone sleeps (the limiter lets one waiter sleep at a time)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def limiter(clock: FakeClock, **kwargs: object) -> RateLimiter:
    kwargs.setdefault("margin", 0.0)
    return RateLimiter(
        clock=clock,
        wall_clock=lambda: 1_000_000.0 + clock.now,
        sleep=clock.sleep,
        rng=random.Random(3),
        **kwargs,  # type: ignore[arg-type]
    )


def admit_all(
    rate: RateLimiter, clock: FakeClock, n: int, estimate: int = 10, max_tokens: int = 10
) -> list[tuple[int, float]]:
    """Start ``n`` acquires at once, in order; returns (index, time) in the order they returned."""
    done: list[tuple[int, float]] = []

    async def one(index: int) -> None:
        await rate.acquire(estimate, max_tokens)
        done.append((index, clock.now))

    async def go() -> None:
        await asyncio.gather(*(one(i) for i in range(n)))

    asyncio.run(go())
    return done


def ratelimit_headers(kind: str, limit: int, remaining: int, reset: str) -> dict[str, str]:
    prefix = f"anthropic-ratelimit-{kind}-"
    return {
        prefix + "limit": str(limit),
        prefix + "remaining": str(remaining),
        prefix + "reset": reset,
    }


# --- pacing --------------------------------------------------------------------------------------


def test_a_burst_is_paced_to_the_rpm_cap_fifo_without_overdrawing() -> None:
    clock = FakeClock()
    rate = limiter(clock, rpm=60)  # starts full (60), refills 1 per second
    done = admit_all(rate, clock, 70)
    assert [index for index, _ in done] == list(range(70))  # first come, first served
    times = [when for _, when in done]
    assert times[:60] == [0.0] * 60
    assert times[60:] == pytest.approx([float(k) for k in range(1, 11)])
    for count, when in enumerate(times, start=1):
        assert count <= 60 + when * 1.0 + 1e-9  # the bucket is never overdrawn
    stats = rate.stats()
    assert stats.waits == 10 and stats.waited_seconds == pytest.approx(10.0)


def test_input_and_output_token_caps_pace_too() -> None:
    clock = FakeClock()
    rate = limiter(clock, input_tpm=600)  # 10 tokens per second
    times = [when for _, when in admit_all(rate, clock, 8, estimate=100)]
    assert times[:6] == [0.0] * 6
    assert times[6:] == pytest.approx([10.0, 20.0])

    clock = FakeClock()
    rate = limiter(clock, output_tpm=1200)  # reserves max_tokens; 20 per second
    times = [when for _, when in admit_all(rate, clock, 3, max_tokens=600)]
    assert times == pytest.approx([0.0, 0.0, 30.0])


def test_a_request_larger_than_a_bucket_waits_for_a_full_bucket_not_forever() -> None:
    clock = FakeClock()
    rate = limiter(clock, input_tpm=100)
    times = [when for _, when in admit_all(rate, clock, 2, estimate=500)]
    assert times == pytest.approx([0.0, 60.0])


# --- headers -------------------------------------------------------------------------------------


def test_parse_reset_reads_rfc3339() -> None:
    expected = datetime(2025, 1, 15, 19, 39, 24, tzinfo=timezone.utc).timestamp()
    assert parse_reset("2025-01-15T19:39:24Z") == expected
    assert parse_reset("2025-01-15T19:39:24.500Z") == expected + 0.5
    assert parse_reset("2025-01-15T20:39:24+01:00") == expected
    for bad in (None, "", "soon", "2025-01-15T19:39:24"):  # no timezone: ambiguous
        assert parse_reset(bad) is None


def test_parse_rate_limit_headers_by_kind() -> None:
    headers = {
        **ratelimit_headers("requests", 50, 49, "2025-01-15T19:39:24Z"),
        **ratelimit_headers("input-tokens", 150_000, 1_000, "2025-01-15T19:40:00Z"),
        "anthropic-ratelimit-tokens-limit": "9",  # the combined header is not a bucket of ours
        "Retry-After": "3",
    }
    parsed = parse_rate_limit_headers(headers)
    assert set(parsed) == {"requests", "input-tokens"}
    assert parsed["requests"].limit == 50 and parsed["requests"].remaining == 49
    assert parsed["input-tokens"].reset == parse_reset("2025-01-15T19:40:00Z")


def test_headers_teach_the_server_buckets_minus_later_debits() -> None:
    clock = FakeClock()
    rate = limiter(clock)

    async def go() -> None:
        first = await rate.acquire(10, 10)  # nothing known: no wait
        await rate.acquire(10, 10)
        await rate.acquire(10, 10)  # two more left after the first one
        rate.observe(ratelimit_headers("requests", 60, 20, "2025-01-15T19:39:24Z"), first)

    asyncio.run(go())
    assert rate.level("server:requests") == pytest.approx(18.0)
    clock.now += 3.0  # refills at 60 per minute between observations
    assert rate.level("server:requests") == pytest.approx(21.0)
    assert rate.stats().limits["server:requests"] == 60


def observe_in_order(
    rate: RateLimiter, admitted: int, heard: list[tuple[int, int]]
) -> list[float | None]:
    """Admit ``admitted`` requests, then hear (admission index, remaining) responses in order;
    returns the requests bucket's level after each one."""
    levels: list[float | None] = []

    async def go() -> None:
        tickets = [await rate.acquire(10, 10) for _ in range(admitted)]
        for index, remaining in heard:
            headers = ratelimit_headers("requests", 60, remaining, "2025-01-15T19:39:24Z")
            rate.observe(headers, tickets[index])
            levels.append(rate.level("server:requests"))

    asyncio.run(go())
    return levels


def test_a_request_counted_late_but_heard_early_does_not_overstate_the_level() -> None:
    # The server counted the second request first (59 left), then the first (58 left); the
    # client hears the first one's answer first. 58 left is all the server will ever say.
    levels = observe_in_order(limiter(FakeClock()), 2, [(0, 58), (1, 59)])
    # 58 less the second, which may be uncounted; then 59 less the first, which may be too
    assert levels == [57.0, 58.0]


def test_a_stale_answer_does_not_drag_the_level_down() -> None:
    # Ten requests admitted at once; the server counted them in order (59, 58, ... 50 left).
    # The last one's answer comes first and tells the most; the rest are older news.
    heard = [(9, 50)] + [(index, 59 - index) for index in range(9)]
    levels = observe_in_order(limiter(FakeClock()), 10, heard)
    assert levels[0] == pytest.approx(41.0)  # 50 less the nine unacknowledged before it
    assert levels[-1] == pytest.approx(50.0)  # the first's answer: 59, less the nine after it
    assert all(level is not None and level <= 50.0 for level in levels)


def test_an_answer_lower_than_the_bucket_starts_it_again_another_client_spent() -> None:
    levels = observe_in_order(limiter(FakeClock()), 3, [(0, 57), (1, 56), (2, 20)])
    assert levels == [55.0, 55.0, 18.0]  # 20, less the two unacknowledged when it left


def test_a_request_that_ended_without_an_answer_no_longer_holds_back_later_ones() -> None:
    def level_after(end_the_first: bool) -> tuple[float | None, int]:
        rate = limiter(FakeClock())

        async def go() -> None:
            first = await rate.acquire(10, 10)
            if end_the_first:
                rate.release_unused(first, rejected=False)
            second = await rate.acquire(10, 10)
            rate.observe(ratelimit_headers("requests", 60, 50, "2025-01-15T19:39:24Z"), second)

        asyncio.run(go())
        return rate.level("server:requests"), rate.stats().unacknowledged

    assert level_after(end_the_first=False) == (49.0, 1)  # the first may still reach the server
    assert level_after(end_the_first=True) == (50.0, 0)


def test_user_caps_apply_when_the_server_allows_more() -> None:
    clock = FakeClock()
    rate = limiter(clock, rpm=10)
    rate.observe(ratelimit_headers("requests", 1000, 1000, "2025-01-15T19:39:24Z"))
    times = [when for _, when in admit_all(rate, clock, 11)]
    assert times[:10] == [0.0] * 10 and times[10] == pytest.approx(6.0)


def test_a_server_bucket_paces_after_it_is_learned() -> None:
    clock = FakeClock()
    rate = limiter(clock)
    rate.observe(ratelimit_headers("requests", 120, 2, "2025-01-15T19:39:24Z"))
    times = [when for _, when in admit_all(rate, clock, 4)]
    assert times == pytest.approx([0.0, 0.0, 0.5, 1.0])


# --- estimates -----------------------------------------------------------------------------------


def settle_many(rate: RateLimiter, estimate: int, actual: int, times: int) -> None:
    async def go() -> None:
        for _ in range(times):
            ticket = await rate.acquire(estimate, 10)
            rate.settle(ticket, actual, 5)

    asyncio.run(go())


def test_estimates_are_corrected_from_reported_usage() -> None:
    rate = limiter(FakeClock(), margin=0.1)
    assert rate.input_cost(1000) == 1100  # the margin on top of the raw estimate
    settle_many(rate, estimate=1000, actual=600, times=30)
    assert rate.estimate_ratio == pytest.approx(0.6, abs=0.01)
    assert 650 <= rate.input_cost(1000) <= 670  # scaled, still with the margin


def test_the_ratio_never_falls_below_the_floor() -> None:
    rate = limiter(FakeClock(), min_ratio=0.3)
    settle_many(rate, estimate=1000, actual=0, times=30)
    assert rate.input_cost(1000) == 300


def test_settle_credits_unused_output_and_corrects_input() -> None:
    clock = FakeClock()
    rate = limiter(clock, input_tpm=6000, output_tpm=6000)

    async def go() -> Ticket:
        return await rate.acquire(1000, 2000)

    ticket = asyncio.run(go())
    assert rate.level("cap:output-tokens") == 4000
    rate.settle(ticket, input_tokens=700, output_tokens=300)
    assert rate.level("cap:output-tokens") == 5700
    assert rate.level("cap:input-tokens") == 5300


def test_a_rejected_request_gets_its_tokens_back_but_not_its_request() -> None:
    clock = FakeClock()
    rate = limiter(clock, rpm=10, input_tpm=6000, output_tpm=6000)
    ticket = asyncio.run(rate.acquire(1000, 2000))
    rate.release_unused(ticket, rejected=True)
    assert rate.level("cap:input-tokens") == 6000 and rate.level("cap:output-tokens") == 6000
    assert rate.level("cap:requests") == 9


# --- the shared cooldown -------------------------------------------------------------------------


def test_after_a_429_no_acquire_returns_before_retry_after_and_they_resume_apart() -> None:
    clock = FakeClock()
    rate = limiter(clock, resume_jitter=0.4)
    returned: list[float] = []

    async def one() -> None:
        await rate.acquire(10, 10)
        returned.append(clock.now)

    async def go() -> float:
        left = rate.cooldown(2.0)
        rate.cooldown(1.0)  # a second 429 inside the same cooldown neither shortens nor adds one
        await asyncio.gather(*(one() for _ in range(6)))
        return left

    left = asyncio.run(go())
    assert 2.0 <= left <= 2.2
    assert min(returned) >= 2.0
    assert len(set(returned)) > 3  # not everyone at the same instant
    assert max(returned) - min(returned) < 0.4 * 6
    stats = rate.stats()
    assert (stats.rate_limited, stats.cooldowns) == (2, 1)
    assert rate.cooldown_remaining() == 0.0


def test_a_cooldown_that_starts_while_waiting_holds_the_waiter() -> None:
    clock = FakeClock()
    rate = limiter(clock, rpm=60)
    steps: list[float] = []

    async def go() -> None:
        for _ in range(60):
            await rate.acquire(1, 1)
        waiter = asyncio.ensure_future(rate.acquire(1, 1))  # would go at t=1
        await asyncio.sleep(0)
        rate.cooldown(5.0)
        await waiter
        steps.append(clock.now)

    asyncio.run(go())
    assert steps[0] >= 5.0


def test_cooldown_without_retry_after_waits_a_second() -> None:
    rate = limiter(FakeClock(), resume_jitter=0.0)
    assert rate.cooldown(None) == 1.0


SleepFn = Callable[[float], Awaitable[None]]
