"""The retry loop: delays, what is retried, and when it gives up."""

from __future__ import annotations

import asyncio
import email.utils
import random
import socket
import time
from collections.abc import Awaitable, Callable

import anthropic
import httpx2
import pytest

from docanalyze.models.anthropic.contact import (
    ServerContact,
    connect_failure_reason,
    is_connect_failure,
)
from docanalyze.models.anthropic.retry import (
    NEVER_RETRY_STATUSES,
    RETRYABLE_STATUSES,
    RetryEvent,
    RetryPolicy,
    call_with_retries,
    describe_error,
    is_retryable,
    retry_delay,
)

REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/messages")
POLICY = RetryPolicy(max_attempts=5, max_elapsed=100.0, base_delay=1.0, max_delay=8.0)


def status_error(
    status: int, headers: dict[str, str] | None = None, error_type: str = "api_error"
) -> anthropic.APIStatusError:
    body = {"type": "error", "error": {"type": error_type, "message": "boom"}}
    response = httpx2.Response(status, headers=headers or {}, json=body, request=REQUEST)
    return anthropic.APIStatusError(f"Error code: {status}", response=response, body=body)


# --- retry_delay -----------------------------------------------------------------------------


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = {"retry-after-ms": "250", "retry-after": "30"}
    assert retry_delay(0, headers, POLICY, random.Random(1)) == pytest.approx(0.25)


def test_retry_after_seconds_integer_and_float() -> None:
    assert retry_delay(3, {"retry-after": "7"}, POLICY, random.Random(1)) == 7.0
    assert retry_delay(3, {"Retry-After": "0.5"}, POLICY, random.Random(1)) == 0.5


def test_retry_after_is_honoured_beyond_max_delay() -> None:
    assert retry_delay(0, {"retry-after": "20"}, POLICY, random.Random(1)) == 20.0


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    delay = retry_delay(0, {"retry-after": when}, POLICY, random.Random(1))
    assert 27.0 <= delay <= 31.0


def test_retry_after_date_in_the_past_means_now() -> None:
    when = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert retry_delay(0, {"retry-after": when}, POLICY, random.Random(1)) == 0.0


@pytest.mark.parametrize("value", ["soon", "-3", "nan", "inf", ""])
def test_unparseable_retry_after_falls_back_to_backoff(value: str) -> None:
    delays = {retry_delay(2, {"retry-after": value}, POLICY, random.Random(i)) for i in range(50)}
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert len(delays) > 40  # jittered, not a fixed value


def test_full_jitter_bounds_grow_exponentially() -> None:
    rng = random.Random(1234)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0)]:
        delays = [retry_delay(attempt, None, POLICY, rng) for _ in range(400)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter uses the whole range, not just the top of it.
        assert min(delays) < ceiling * 0.1
        assert max(delays) > ceiling * 0.9


def test_backoff_is_capped_at_max_delay() -> None:
    rng = random.Random(99)
    delays = [retry_delay(attempt, None, POLICY, rng) for attempt in range(3, 2000)]
    assert max(delays) <= POLICY.max_delay
    assert max(delays) > POLICY.max_delay * 0.9


def test_seeded_rng_makes_delays_reproducible() -> None:
    first = [retry_delay(a, None, POLICY, random.Random(7)) for a in range(5)]
    second = [retry_delay(a, None, POLICY, random.Random(7)) for a in range(5)]
    assert first == second


# --- is_retryable ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(status_error(status))


@pytest.mark.parametrize("status", sorted(NEVER_RETRY_STATUSES) + [402, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not is_retryable(status_error(status))


@pytest.mark.parametrize("status", [422, 501])
def test_x_should_retry_true_forces_a_retry(status: int) -> None:
    assert not is_retryable(status_error(status))
    assert is_retryable(status_error(status, {"x-should-retry": "true"}))


@pytest.mark.parametrize("status", [429, 500, 529])
def test_x_should_retry_false_forbids_a_retry(status: int) -> None:
    assert not is_retryable(status_error(status, {"x-should-retry": "false"}))


@pytest.mark.parametrize("status", sorted(NEVER_RETRY_STATUSES))
def test_never_retry_statuses_ignore_x_should_retry(status: int) -> None:
    assert not is_retryable(status_error(status, {"x-should-retry": "true"}))


def test_streamed_error_event_is_judged_by_its_type() -> None:
    assert is_retryable(status_error(200, error_type="overloaded_error"))
    assert not is_retryable(status_error(200, error_type="invalid_request_error"))


def test_connection_errors_and_timeouts_are_retried() -> None:
    assert is_retryable(anthropic.APIConnectionError(request=REQUEST))
    assert is_retryable(anthropic.APITimeoutError(request=REQUEST))
    assert is_retryable(httpx2.RemoteProtocolError("peer closed connection", request=REQUEST))
    assert is_retryable(httpx2.ReadTimeout("slow", request=REQUEST))
    assert is_retryable(asyncio.TimeoutError())


def test_wrapped_errors_follow_the_cause_chain() -> None:
    try:
        try:
            raise anthropic.APIConnectionError(request=REQUEST)
        except anthropic.APIConnectionError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_retryable(outer)


def test_ordinary_exceptions_are_not_retried() -> None:
    assert not is_retryable(ValueError("bug"))
    assert not is_retryable(KeyError("x"))


# --- call_with_retries -----------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when the fake sleep is awaited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing_then(
    errors: list[BaseException], result: str = "ok"
) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises each of ``errors`` in turn, then returns ``result``."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return call, calls


def run_with(
    call: Callable[[], Awaitable[str]],
    policy: RetryPolicy,
    clock: FakeClock,
    events: list[RetryEvent] | None = None,
) -> str:
    return asyncio.run(
        call_with_retries(
            call,
            policy,
            on_retry=None if events is None else events.append,
            sleep=clock.sleep,
            rng=random.Random(0),
            clock=clock,
        )
    )


def test_succeeds_after_retryable_failures_and_reports_each_retry() -> None:
    call, calls = failing_then([status_error(529), status_error(500, {"retry-after": "2"})])
    clock = FakeClock()
    events: list[RetryEvent] = []
    assert run_with(call, POLICY, clock, events) == "ok"
    assert len(calls) == 3
    assert [(e.attempt, e.reason, e.status) for e in events] == [(1, "529", 529), (2, "500", 500)]
    assert events[1].delay == 2.0
    assert clock.sleeps == [events[0].delay, 2.0]
    assert 0.0 <= events[0].delay <= POLICY.base_delay


def test_gives_up_at_max_attempts_with_the_last_error() -> None:
    errors: list[BaseException] = [status_error(529) for _ in range(10)]
    call, calls = failing_then(errors)
    clock = FakeClock()
    with pytest.raises(anthropic.APIStatusError) as raised:
        run_with(call, POLICY, clock)
    assert len(calls) == POLICY.max_attempts
    assert raised.value is errors[POLICY.max_attempts - 1]
    assert len(clock.sleeps) == POLICY.max_attempts - 1


def test_single_attempt_policy_never_retries() -> None:
    call, calls = failing_then([status_error(529)])
    with pytest.raises(anthropic.APIStatusError):
        run_with(call, RetryPolicy(max_attempts=1), FakeClock())
    assert len(calls) == 1


def test_gives_up_instead_of_sleeping_past_max_elapsed() -> None:
    errors: list[BaseException] = [status_error(429, {"retry-after": "4"}) for _ in range(10)]
    call, calls = failing_then(errors)
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=100, max_elapsed=10.0)
    with pytest.raises(anthropic.APIStatusError):
        run_with(call, policy, clock)
    # Waits of 4 s: after 0 s and 4 s it waits; at 8 s another 4 s would end at 12 s > 10 s.
    assert clock.sleeps == [4.0, 4.0]
    assert len(calls) == 3
    assert clock.now <= policy.max_elapsed


def test_a_server_wait_longer_than_the_budget_gives_up_at_once() -> None:
    call, calls = failing_then([status_error(429, {"retry-after": "3600"})])
    clock = FakeClock()
    with pytest.raises(anthropic.APIStatusError):
        run_with(call, RetryPolicy(max_elapsed=60.0), clock)
    assert len(calls) == 1
    assert clock.sleeps == []


def test_time_spent_in_attempts_counts_against_max_elapsed() -> None:
    clock = FakeClock()
    calls: list[int] = []

    async def slow_failing_call() -> str:
        calls.append(1)
        clock.now += 30.0  # each attempt takes 30 s before it fails
        raise anthropic.APIConnectionError(request=REQUEST)

    policy = RetryPolicy(max_attempts=100, max_elapsed=100.0, base_delay=0.001, max_delay=0.001)
    with pytest.raises(anthropic.APIConnectionError):
        run_with(slow_failing_call, policy, clock)
    assert len(calls) == 4  # 30, 60, 90 s elapsed allow retries; at 120 s it gives up


def test_non_retryable_errors_pass_through_immediately() -> None:
    error = status_error(401, error_type="authentication_error")
    call, calls = failing_then([error])
    clock = FakeClock()
    events: list[RetryEvent] = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        run_with(call, POLICY, clock, events)
    assert raised.value is error
    assert len(calls) == 1
    assert events == [] and clock.sleeps == []


def test_bugs_are_not_retried() -> None:
    call, calls = failing_then([ZeroDivisionError()])
    with pytest.raises(ZeroDivisionError):
        run_with(call, POLICY, FakeClock())
    assert len(calls) == 1


def test_cancellation_is_not_retried() -> None:
    call, calls = failing_then([asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        run_with(call, POLICY, FakeClock())
    assert len(calls) == 1


def test_real_sleep_with_tiny_delays() -> None:
    call, calls = failing_then([anthropic.APIConnectionError(request=REQUEST)] * 2)
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
    assert asyncio.run(call_with_retries(call, policy)) == "ok"
    assert len(calls) == 3


def test_a_wait_held_elsewhere_is_reported_but_not_slept() -> None:
    call, calls = failing_then([status_error(429, {"retry-after": "9"}), status_error(529)])
    clock = FakeClock()
    events: list[RetryEvent] = []

    def shared(error: BaseException) -> float | None:
        return 2.5 if getattr(error, "status_code", None) == 429 else None

    result = asyncio.run(
        call_with_retries(
            call,
            POLICY,
            on_retry=events.append,
            sleep=clock.sleep,
            rng=random.Random(0),
            clock=clock,
            waited_elsewhere=shared,
        )
    )
    assert result == "ok" and len(calls) == 3
    assert events[0].delay == 2.5 and events[0].reason == "429"
    assert clock.sleeps == [events[1].delay]  # only the 529's own backoff was slept


def test_reasons_name_timeouts_and_connections() -> None:
    assert describe_error(anthropic.APITimeoutError(request=REQUEST)) == "timeout"
    assert describe_error(TimeoutError()) == "timeout"
    assert describe_error(httpx2.ReadTimeout("stalled", request=REQUEST)) == "timeout"
    assert describe_error(anthropic.APIConnectionError(request=REQUEST)) == "connection"
    assert describe_error(httpx2.RemoteProtocolError("closed", request=REQUEST)) == "connection"
    assert describe_error(status_error(529)) == "529"


# --- the first contact with a server ---------------------------------------------------------


def refused() -> anthropic.APIConnectionError:
    """What the SDK raises when nothing listens at the address: a ConnectError underneath."""
    error = anthropic.APIConnectionError(request=REQUEST)
    cause = httpx2.ConnectError("Connect call failed", request=REQUEST)
    cause.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    error.__cause__ = cause
    return error


def run_in_contact(
    call: Callable[[], Awaitable[str]], contact: ServerContact, clock: FakeClock
) -> str:
    return asyncio.run(
        call_with_retries(
            call, POLICY, sleep=clock.sleep, rng=random.Random(0), clock=clock, contact=contact
        )
    )


def test_a_refused_first_connection_is_tried_twice_quickly() -> None:
    contact = ServerContact("http://127.0.0.1:9")
    call, calls = failing_then([refused() for _ in range(10)])
    clock = FakeClock()
    with pytest.raises(anthropic.APIConnectionError):
        run_in_contact(call, contact, clock)
    assert len(calls) == POLICY.first_contact_attempts == 2
    assert clock.sleeps == [POLICY.first_contact_delay]
    assert not contact.answered


def test_a_refused_connection_after_an_answer_keeps_the_full_policy() -> None:
    contact = ServerContact("http://127.0.0.1:9")
    answered, _ = failing_then([])
    assert run_in_contact(answered, contact, FakeClock()) == "ok"
    assert contact.answered
    call, calls = failing_then([refused() for _ in range(10)])
    with pytest.raises(anthropic.APIConnectionError):
        run_in_contact(call, contact, FakeClock())
    assert len(calls) == POLICY.max_attempts


def test_an_error_status_is_an_answer() -> None:
    contact = ServerContact("http://127.0.0.1:9")
    call, calls = failing_then([status_error(529), *(refused() for _ in range(10))])
    with pytest.raises(anthropic.APIConnectionError):
        run_in_contact(call, contact, FakeClock())
    assert contact.answered
    assert len(calls) == POLICY.max_attempts


def test_other_connection_failures_keep_the_full_policy_from_the_start() -> None:
    contact = ServerContact("http://127.0.0.1:9")
    dropped = [anthropic.APIConnectionError(request=REQUEST) for _ in range(10)]
    call, calls = failing_then(list(dropped))
    with pytest.raises(anthropic.APIConnectionError):
        run_in_contact(call, contact, FakeClock())
    assert len(calls) == POLICY.max_attempts


def test_a_connect_failure_says_why() -> None:
    unresolved = anthropic.APIConnectionError(request=REQUEST)
    cause = httpx2.ConnectError("Name or service not known", request=REQUEST)
    cause.__cause__ = socket.gaierror(-2, "Name or service not known")
    unresolved.__cause__ = cause
    assert is_connect_failure(unresolved) and is_connect_failure(refused())
    assert connect_failure_reason(unresolved) == "the host name did not resolve"
    assert connect_failure_reason(refused()) == "connection refused"
    assert not is_connect_failure(httpx2.RemoteProtocolError("closed", request=REQUEST))


def test_a_429_with_retry_after_is_back_pressure_not_a_failed_attempt() -> None:
    errors: list[BaseException] = [status_error(429, {"retry-after": "5"}) for _ in range(20)]
    call, calls = failing_then(errors)
    clock = FakeClock()
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_attempts=3, max_elapsed=900.0)
    assert run_with(call, policy, clock, events) == "ok"
    assert len(calls) == 21 and clock.sleeps == [5.0] * 20
    assert [event.status for event in events] == [429] * 20


def test_back_pressure_is_bounded_by_max_elapsed_and_failures_still_count() -> None:
    pressure: list[BaseException] = [status_error(429, {"retry-after": "5"}) for _ in range(50)]
    call, calls = failing_then(pressure)
    clock = FakeClock()
    with pytest.raises(anthropic.APIStatusError):
        run_with(call, RetryPolicy(max_attempts=3, max_elapsed=60.0), clock)
    assert len(calls) == 13 and clock.now == 60.0  # 12 waits of 5 s; the 13th would pass 60 s
    bare: list[BaseException] = [status_error(429), status_error(529), status_error(429)]
    call, calls = failing_then(bare)
    with pytest.raises(anthropic.APIStatusError):
        run_with(call, RetryPolicy(max_attempts=3, max_elapsed=900.0), FakeClock())
    assert len(calls) == 3  # a 429 without retry-after is a failed attempt
