"""Adaptive concurrency: slow start, AIMD backoff, the ceiling, and waiters let in as it grows."""

from __future__ import annotations

import asyncio

from docanalyze.models.anthropic.concurrency import AdaptiveConcurrency, Slot


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def succeed(limits: AdaptiveConcurrency, clock: Clock, n: int, latency: float = 1.0) -> None:
    """``n`` requests that each take ``latency`` seconds and succeed."""

    async def go() -> None:
        for _ in range(n):
            slot = await limits.acquire()
            clock.now += latency
            limits.record_success(slot)
            limits.release(slot)

    asyncio.run(go())


def test_starts_at_8_and_doubles_per_window_up_to_the_ceiling() -> None:
    clock = Clock()
    limits = AdaptiveConcurrency(64, clock=clock)
    assert limits.limit == 8 and limits.slow_start
    succeed(limits, clock, 8)
    assert limits.limit == 16
    succeed(limits, clock, 16)
    assert limits.limit == 32
    succeed(limits, clock, 32)
    assert limits.limit == 64
    succeed(limits, clock, 100)
    assert limits.limit == 64 and limits.max_limit == 64


def test_a_low_ceiling_caps_the_start() -> None:
    assert AdaptiveConcurrency(3).limit == 3


def test_no_growth_without_headroom_or_when_latency_climbs() -> None:
    clock = Clock()
    limits = AdaptiveConcurrency(64, clock=clock)

    async def no_headroom() -> None:
        for _ in range(20):
            slot = await limits.acquire()
            limits.record_success(slot, headroom=False)
            limits.release(slot)

    asyncio.run(no_headroom())
    assert limits.limit == 8
    succeed(limits, clock, 8, latency=1.0)  # baseline: 1 s
    grown = limits.limit
    succeed(limits, clock, 20, latency=5.0)  # five times slower: stop growing
    assert limits.limit <= grown + 4  # the first slow replies still count as normal
    assert not limits.slow_start


def test_overload_halves_once_per_window_and_never_below_one() -> None:
    clock = Clock()
    limits = AdaptiveConcurrency(64, initial=32, clock=clock)

    async def go() -> None:
        slots = [await limits.acquire() for _ in range(10)]
        assert limits.record_overload(slots[0])
        assert limits.limit == 16
        # The others left before the decrease: their failures don't cut it again.
        assert not any(limits.record_overload(slot) for slot in slots[1:])
        assert limits.limit == 16
        for slot in slots:
            limits.release(slot)
        for _ in range(10):
            slot = await limits.acquire()
            limits.record_overload(slot)
            limits.release(slot)

    asyncio.run(go())
    assert limits.limit == 1 and not limits.slow_start
    assert limits.stats().decreases == 5  # 32, 16, 8, 4, 2: not at 1


def test_additive_increase_after_a_backoff() -> None:
    clock = Clock()
    limits = AdaptiveConcurrency(64, initial=16, clock=clock)

    async def backoff() -> None:
        slot = await limits.acquire()
        limits.record_overload(slot)
        limits.release(slot)

    asyncio.run(backoff())
    assert limits.limit == 8
    succeed(limits, clock, 8)  # one window of 8 replies: +1
    assert limits.limit == 9
    succeed(limits, clock, 9)
    assert limits.limit == 10


def test_waiters_are_let_in_when_the_limit_grows_and_in_order() -> None:
    clock = Clock()
    limits = AdaptiveConcurrency(4, initial=1, clock=clock)
    order: list[int] = []

    async def waiter(index: int) -> Slot:
        slot = await limits.acquire()
        order.append(index)
        return slot

    async def go() -> None:
        first = await limits.acquire()
        tasks = [asyncio.ensure_future(waiter(i)) for i in range(3)]
        await asyncio.sleep(0)
        assert order == [] and limits.stats().waiting == 3
        limits.record_success(first)  # slow start: 1 -> 2, lets one waiter in without a release
        await asyncio.sleep(0)
        assert order == [0] and limits.in_flight == 2
        limits.release(first)
        await asyncio.sleep(0)
        assert order == [0, 1]
        for task in tasks[:2]:
            limits.release(task.result())
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2]

    asyncio.run(go())


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    limits = AdaptiveConcurrency(1, initial=1)

    async def go() -> None:
        held = await limits.acquire()
        task = asyncio.ensure_future(limits.acquire())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        limits.release(held)
        assert limits.in_flight == 0 and limits.stats().waiting == 0
        slot = await asyncio.wait_for(limits.acquire(), 1.0)
        limits.release(slot)

    asyncio.run(go())


def test_slow_start_doubles_per_round_of_acceptances_while_there_is_headroom() -> None:
    room = {"ok": True}
    limits = AdaptiveConcurrency(256, headroom=lambda n: room["ok"])

    async def accept_a_round() -> list[Slot]:
        """Take every free slot; the server accepts each request, none has replied yet."""
        slots = []
        while limits.in_flight < limits.limit:
            slots.append(await limits.acquire())
        for slot in slots:
            limits.record_accepted(slot)
        return slots

    async def go() -> None:
        held = await accept_a_round()
        assert limits.limit == 16, "8 accepted: twice that may be in flight"
        held += await accept_a_round()
        assert limits.limit == 32
        room["ok"] = False
        held += await accept_a_round()
        assert limits.limit == 32, "no growth while the headers show no room"
        room["ok"] = True
        for slot in held[:16]:
            limits.record_accepted(slot)  # accepted twice is still once
        assert limits.limit == 32
        for slot in held:
            limits.release(slot)
        held = []
        for _ in range(4):
            held += await accept_a_round()
        assert limits.limit == limits.max_limit == 256, "never above the ceiling"
        for slot in held:
            limits.release(slot)
        assert limits.in_flight == 0

    asyncio.run(go())


def test_acceptances_do_not_grow_the_limit_after_an_overload() -> None:
    limits = AdaptiveConcurrency(64)

    async def go() -> None:
        slots = [await limits.acquire() for _ in range(8)]
        limits.record_overload(slots[0])
        for slot in slots[1:]:
            limits.record_accepted(slot)
        for slot in slots:
            limits.release(slot)

    asyncio.run(go())
    assert limits.limit == 4 and not limits.slow_start


def test_waiting_tasks_are_let_in_as_acceptances_grow_the_limit() -> None:
    limits = AdaptiveConcurrency(64, initial=2)
    held: list[Slot] = []

    async def hold() -> None:
        slot = await limits.acquire()
        held.append(slot)
        await asyncio.sleep(0)
        limits.record_accepted(slot)

    async def go() -> None:
        await asyncio.wait_for(asyncio.gather(*(hold() for _ in range(40))), timeout=5)

    asyncio.run(go())
    assert len(held) == 40 and limits.max_limit >= 40


def test_sporadic_overloads_do_not_cut_the_limit_but_a_real_overload_does() -> None:
    clock = Clock()
    limits = AdaptiveConcurrency(64, initial=32, clock=clock)

    async def go() -> None:
        for number in range(60):
            slot = await limits.acquire()
            if number % 20 == 0:
                assert not limits.record_overload(slot, sporadic_ok=True)
            else:
                limits.record_success(slot)
            limits.release(slot)
        before = limits.limit
        decreased = []
        for _ in range(12):
            slot = await limits.acquire()
            decreased.append(limits.record_overload(slot, sporadic_ok=True))
            limits.release(slot)
        assert any(decreased) and limits.limit < before

    asyncio.run(go())
