"""@upstreamkit.retry on sync and async callables, with a fake clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import httpx
import pytest

import upstreamkit
import upstreamkit.testing as uk_testing
from upstreamkit import Backoff, BreakerConfig, ErrorKind, RetryPolicy, UpstreamError, make_error
from upstreamkit.core.events import BreakerStateChanged, Event, GaveUp, RetryScheduled
from upstreamkit.testing import FakeClock

NO_JITTER = RetryPolicy(attempts=4, backoff=Backoff(base=0.5, multiplier=2, cap=10, jitter="none"), deadline=None)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with uk_testing.testing() as fake:
        yield fake


def flaky(failures: int, exc: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn(x: int) -> int:
        calls.append(x)
        if len(calls) <= failures:
            raise exc
        return x * 2

    return calls, fn


def test_bare_decorator_keeps_the_function(clock: FakeClock) -> None:
    @upstreamkit.retry
    def double(x: int) -> int:
        """Doubles."""
        return x * 2

    assert double(21) == 42
    assert double.__name__ == "double"
    assert double.__doc__ == "Doubles."
    assert clock.sleeps == []


def test_network_failures_are_retried_on_the_schedule(clock: FakeClock) -> None:
    calls, fn = flaky(2, httpx.ConnectError("[Errno 111] Connection refused"))
    wrapped = upstreamkit.retry(policy=NO_JITTER)(fn)  # type: ignore[call-overload]
    assert wrapped(5) == 10
    assert calls == [5, 5, 5]
    assert clock.sleeps == [0.5, 1.0]


def test_zero_waits_never_sleep(clock: FakeClock) -> None:
    _calls, fn = flaky(2, ConnectionResetError(104, "Connection reset by peer"))
    zero = RetryPolicy(attempts=3, backoff=Backoff(base=0, jitter="none"))
    assert upstreamkit.retry(policy=zero, budget=None)(fn)(1) == 2  # type: ignore[call-overload]
    assert clock.sleeps == [0.0, 0.0]
    assert clock.slept == 0


def test_giving_up_raises_the_upstream_error_from_the_last_exception(clock: FakeClock) -> None:
    calls, fn = flaky(10, httpx.ReadTimeout("timed out"))
    with pytest.raises(UpstreamError) as info:
        upstreamkit.retry(policy=NO_JITTER)(fn)(1)  # type: ignore[call-overload]
    assert info.value.kind is ErrorKind.HTTP_RESPONSE_TIMEOUT
    assert info.value.attempts == 4
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(calls) == 4


def test_bugs_are_not_retried_or_wrapped(clock: FakeClock) -> None:
    calls, fn = flaky(5, KeyError("amount"))
    with pytest.raises(KeyError):
        upstreamkit.retry(fn)(1)  # type: ignore[call-overload]
    assert len(calls) == 1


def test_non_retryable_upstream_errors_stop_at_once(clock: FakeClock) -> None:
    calls, fn = flaky(5, make_error("auth_invalid", "bad key"))
    with pytest.raises(UpstreamError) as info:
        upstreamkit.retry(fn)(1)  # type: ignore[call-overload]
    assert info.value.kind is ErrorKind.AUTH_INVALID
    assert len(calls) == 1


def test_retry_after_from_an_upstream_error_is_honoured(clock: FakeClock) -> None:
    _calls, fn = flaky(1, make_error("rate_limited", "slow down", retry_after=7.0))
    assert upstreamkit.retry(policy=NO_JITTER)(fn)(2) == 4  # type: ignore[call-overload]
    assert clock.sleeps == [7.0]


def test_not_idempotent_retries_only_what_never_left(clock: FakeClock) -> None:
    sent_calls, sent = flaky(1, httpx.ReadTimeout("timed out"))
    with pytest.raises(UpstreamError):
        upstreamkit.retry(idempotent=False)(sent)(1)  # type: ignore[call-overload]
    assert len(sent_calls) == 1
    unsent_calls, unsent = flaky(1, httpx.ConnectError("[Errno 111] Connection refused"))
    assert upstreamkit.retry(idempotent=False)(unsent)(1) == 2  # type: ignore[call-overload]
    assert len(unsent_calls) == 2


def test_breaker_shared_across_calls_fails_fast(clock: FakeClock) -> None:
    calls, fn = flaky(100, httpx.ConnectError("[Errno 111] Connection refused"))
    events: list[Event] = []
    wrapped = upstreamkit.retry(  # type: ignore[call-overload]
        policy=RetryPolicy(attempts=1), budget=None, breaker=BreakerConfig(consecutive_failures=2, open_for=3),
        hooks=[events.append], name="rates",
    )(fn)  # fmt: skip
    for _ in range(2):
        with pytest.raises(UpstreamError):
            wrapped(1)
    with pytest.raises(UpstreamError) as info:
        wrapped(1)
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    assert info.value.retry_after == pytest.approx(3.0)
    assert len(calls) == 2
    changes = [(e.upstream, e.old, e.new) for e in events if isinstance(e, BreakerStateChanged)]
    assert changes == [("rates", "closed", "open")]


def test_events(clock: FakeClock) -> None:
    events: list[Event] = []
    _, fn = flaky(10, httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(UpstreamError):
        upstreamkit.retry(policy=NO_JITTER, hooks=[events.append], name="rates")(fn)(1)  # type: ignore[call-overload]
    assert sum(isinstance(e, RetryScheduled) for e in events) == 3
    gave_up = [e for e in events if isinstance(e, GaveUp)]
    assert len(gave_up) == 1
    assert gave_up[0].upstream == "rates"


def test_async_functions(clock: FakeClock) -> None:
    calls: list[int] = []

    @upstreamkit.retry(policy=NO_JITTER, rng=random.Random(1))
    async def fetch(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        if len(calls) < 3:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return x + 1

    assert asyncio.run(fetch(1)) == 2
    assert clock.sleeps == [0.5, 1.0]


def test_async_give_up(clock: FakeClock) -> None:
    @upstreamkit.retry(policy=RetryPolicy(attempts=2, backoff=Backoff(base=0, jitter="none")))
    async def fetch() -> None:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    with pytest.raises(UpstreamError) as info:
        asyncio.run(fetch())
    assert info.value.kind is ErrorKind.CONNECTION_TERMINATED
    assert info.value.attempts == 2
