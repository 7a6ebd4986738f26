"""@upstreamkit.retry on sync and async callables, with a fake clock."""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import mypy.api
import pytest

import upstreamkit
import upstreamkit.testing as uk_testing
from upstreamkit import (
    Backoff,
    BreakerConfig,
    BudgetConfig,
    CallOptions,
    ErrorKind,
    RetryPolicy,
    UpstreamError,
    make_error,
)
from upstreamkit.core.events import BreakerStateChanged, Event, GaveUp, RetryScheduled, Throttled
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


def test_breaker_shared_across_calls_fails_fast_when_asked(clock: FakeClock) -> None:
    calls, fn = flaky(100, httpx.ConnectError("[Errno 111] Connection refused"))
    events: list[Event] = []
    wrapped = upstreamkit.retry(  # type: ignore[call-overload]
        policy=RetryPolicy(attempts=1, fail_fast=True), budget=None,
        breaker=BreakerConfig(consecutive_failures=2, open_for=3), hooks=[events.append], name="rates",
    )(fn)  # fmt: skip
    for _ in range(2):
        with pytest.raises(UpstreamError):
            wrapped(1)
    with pytest.raises(UpstreamError) as info:
        wrapped(1)
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    assert info.value.retry_after == pytest.approx(3.0)
    assert len(calls) == 2
    assert clock.sleeps == []
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


# Scripted functions, a fixed jitter, and breakers that trip on one failure: each test reads as a timeline.

ZERO = Backoff(base=0, jitter="none")
TRIP_ON_ONE = BreakerConfig(consecutive_failures=1, open_for=1.0, open_for_growth=1.0)
EMPTY_BUDGET = BudgetConfig(percent=0, min_per_second=0)
"""No retry may be charged to this budget."""


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


class Script:
    """Raises or returns, call after call, what it was given (the last step repeats); counts its calls."""

    def __init__(self, *steps: BaseException | int) -> None:
        self.steps = steps
        self.calls = 0

    def __call__(self) -> int:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, BaseException):
            raise step
        return step


class Half:
    """A RandomSource that always says 0.5: jitter becomes exact."""

    def random(self) -> float:
        return 0.5


class QuotaBusyError(Exception):
    """An SDK's own exception that the classifier cannot know."""


# 1. Every path through the breaker gives back what it took (issue 10, finding 4).


@pytest.mark.parametrize(
    "escape", [KeyError("amount"), KeyboardInterrupt(), SystemExit(3)], ids=["bug", "interrupt", "exit"]
)
def test_a_probe_that_raises_a_foreign_exception_gives_its_slot_back(clock: FakeClock, escape: BaseException) -> None:
    script = Script(refused(), escape, 7)
    fail_fast = RetryPolicy(attempts=1, fail_fast=True)
    wrapped = upstreamkit.retry(policy=fail_fast, budget=None, breaker=TRIP_ON_ONE, name="rates")(script)
    with pytest.raises(UpstreamError):
        wrapped()  # trips the breaker
    clock.advance(1.0)
    with pytest.raises(type(escape)) as info:
        wrapped()  # the half-open probe: the caller's own exception, untouched
    assert info.value is escape
    assert wrapped() == 7  # the slot came back: this call is the next probe, and it closes the breaker
    assert script.calls == 3


def test_a_probe_whose_failure_says_nothing_of_health_gives_its_slot_back(clock: FakeClock) -> None:
    # As the transport does: an auth failure neither trips nor heals the breaker.
    script = Script(refused(), make_error("auth_invalid", "bad key"), 7)
    fail_fast = RetryPolicy(attempts=1, fail_fast=True)
    wrapped = upstreamkit.retry(policy=fail_fast, budget=None, breaker=TRIP_ON_ONE, name="rates")(script)
    with pytest.raises(UpstreamError):
        wrapped()
    clock.advance(1.0)
    with pytest.raises(UpstreamError) as info:
        wrapped()
    assert info.value.kind is ErrorKind.AUTH_INVALID
    assert wrapped() == 7


def test_an_on_predicate_that_raises_gives_the_slot_back(clock: FakeClock) -> None:
    def on(exc: Exception) -> bool:
        if "amount" in str(exc):
            raise RuntimeError("the predicate has a bug")
        return isinstance(exc, httpx.ConnectError)

    script = Script(refused(), KeyError("amount"), 7)
    fail_fast = RetryPolicy(attempts=1, fail_fast=True)
    wrapped = upstreamkit.retry(policy=fail_fast, budget=None, breaker=TRIP_ON_ONE, on=on, name="rates")(script)
    with pytest.raises(UpstreamError):
        wrapped()
    clock.advance(1.0)
    with pytest.raises(RuntimeError):
        wrapped()
    assert wrapped() == 7


def test_a_cancelled_async_probe_gives_its_slot_back(clock: FakeClock) -> None:
    calls: list[str] = []

    @upstreamkit.retry(policy=RetryPolicy(attempts=1, fail_fast=True), budget=None, breaker=TRIP_ON_ONE)
    async def fetch(step: str) -> int:
        calls.append(step)
        if step == "fail":
            raise refused()
        if step == "hang":
            await asyncio.Event().wait()  # until cancelled
        return 7

    async def timeline() -> int:
        with pytest.raises(UpstreamError):
            await fetch("fail")
        clock.advance(1.0)
        task = asyncio.create_task(fetch("hang"))
        for _ in range(3):  # let the task take the probe slot and block
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await fetch("ok")

    assert asyncio.run(timeline()) == 7
    assert calls == ["fail", "hang", "ok"]


# 2. The transport's gate: wait for the breaker's probe within the deadline; the budget's throttle.


def test_a_call_that_meets_an_open_breaker_waits_for_its_probe(clock: FakeClock) -> None:
    events: list[Event] = []
    script = Script(refused(), 7)
    wrapped = upstreamkit.retry(
        policy=RetryPolicy(attempts=1), budget=None, breaker=BreakerConfig(consecutive_failures=1, open_for=2.0),
        rng=Half(), hooks=[events.append], name="rates",
    )(script)  # fmt: skip
    with pytest.raises(UpstreamError):
        wrapped()
    clock.advance(0.5)
    assert wrapped() == 7
    assert clock.sleeps == [pytest.approx(1.5 + 0.5 * 0.2)]  # the rest of the break, then half a poll of jitter
    throttled = [e for e in events if isinstance(e, Throttled)]
    assert [(e.upstream, e.wait) for e in throttled] == [("rates", pytest.approx(1.6))]
    changes = [(e.old, e.new) for e in events if isinstance(e, BreakerStateChanged)]
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_retry_that_waited_for_the_breaker_is_not_charged_to_the_budget(clock: FakeClock) -> None:
    script = Script(refused(), 7)
    wrapped = upstreamkit.retry(
        policy=RetryPolicy(attempts=2, backoff=Backoff(base=0.1, jitter="none")), budget=EMPTY_BUDGET,
        breaker=TRIP_ON_ONE, rng=Half(),
    )(script)  # fmt: skip
    assert wrapped() == 7
    assert clock.sleeps == [0.1, pytest.approx(0.9 + 0.05)]


def test_a_deadline_that_cannot_reach_the_probe_fails_at_once_from_the_last_failure(clock: FakeClock) -> None:
    first = refused()
    script = Script(first)
    wrapped = upstreamkit.retry(
        policy=RetryPolicy(attempts=3, deadline=1.0, backoff=Backoff(base=0.1, jitter="none")), budget=None,
        breaker=BreakerConfig(consecutive_failures=1, open_for=5.0), name="rates",
    )(script)  # fmt: skip
    with pytest.raises(UpstreamError) as info:
        wrapped()
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    assert info.value.retry_after == pytest.approx(4.9)
    assert info.value.attempts == 1
    assert info.value.__cause__ is first
    assert clock.sleeps == [0.1]
    assert script.calls == 1


def test_a_budget_refusal_is_final_and_raised_from_the_last_failure(clock: FakeClock) -> None:
    first = refused()
    script = Script(first, 7)
    wrapped = upstreamkit.retry(policy=RetryPolicy(attempts=3, backoff=ZERO), budget=EMPTY_BUDGET)(script)
    with pytest.raises(UpstreamError) as info:
        wrapped()
    assert info.value.kind is ErrorKind.BUDGET_EXHAUSTED
    assert info.value.attempts == 1
    assert info.value.__cause__ is first
    assert script.calls == 1


def test_health_failures_and_successes_feed_the_retry_throttle(clock: FakeClock) -> None:
    # The ratio never bites (percent=10); the throttle does: 3 tokens, retries while more than 1.5 are left.
    throttle = BudgetConfig(percent=10, max_tokens=3, token_ratio=2)
    script = Script(refused(), refused(), 5, refused(), 7)
    wrapped = upstreamkit.retry(policy=RetryPolicy(attempts=3, backoff=ZERO), budget=throttle)(script)
    with pytest.raises(UpstreamError) as info:
        wrapped()  # 3 -> 2 tokens, a retry, 2 -> 1: the third attempt is refused
    assert (info.value.kind, info.value.attempts, script.calls) == (ErrorKind.BUDGET_EXHAUSTED, 2, 2)
    assert wrapped() == 5  # a success: 1 -> 3
    assert wrapped() == 7  # 3 -> 2 after its failure: its retry goes again
    assert script.calls == 5


# 3. on=, retry_if, retry_with.


def test_on_names_the_exceptions_retried_as_upstream_failures(clock: FakeClock) -> None:
    script = Script(QuotaBusyError("try later"), QuotaBusyError("try later"), 7)
    wrapped = upstreamkit.retry(on=QuotaBusyError, policy=RetryPolicy(attempts=3, backoff=ZERO))(script)
    assert wrapped() == 7
    assert script.calls == 3


def test_on_gives_up_with_an_upstream_outage_raised_from_the_exception(clock: FakeClock) -> None:
    busy = QuotaBusyError("try later")
    script = Script(busy)
    wrapped = upstreamkit.retry(on=(QuotaBusyError, TimeoutError), policy=RetryPolicy(attempts=2, backoff=ZERO))(script)
    with pytest.raises(UpstreamError) as info:
        wrapped()
    assert info.value.kind is ErrorKind.UPSTREAM_OUTAGE
    assert info.value.attempts == 2
    assert info.value.__cause__ is busy


def test_exceptions_outside_on_propagate_untouched(clock: FakeClock) -> None:
    timeout = httpx.ReadTimeout("timed out")
    script = Script(timeout, 7)
    wrapped = upstreamkit.retry(on=QuotaBusyError, policy=RetryPolicy(attempts=3, backoff=ZERO))(script)
    with pytest.raises(httpx.ReadTimeout) as info:
        wrapped()
    assert info.value is timeout
    assert script.calls == 1


def test_on_takes_a_predicate(clock: FakeClock) -> None:
    script = Script(ValueError("upstream busy"), ValueError("bad amount"), 7)
    busy: Callable[[Exception], bool] = lambda exc: "busy" in str(exc)  # noqa: E731 - named for the reader
    wrapped = upstreamkit.retry(on=busy, policy=RetryPolicy(attempts=3, backoff=ZERO))(script)
    with pytest.raises(ValueError, match="bad amount"):
        wrapped()
    assert script.calls == 2


def test_the_policys_retry_if_still_decides_on_the_outcome(clock: FakeClock) -> None:
    script = Script(QuotaBusyError("x"), 7)
    policy = RetryPolicy(
        attempts=3, backoff=ZERO, retry_if=lambda outcome: outcome.kind is not ErrorKind.UPSTREAM_OUTAGE
    )
    with pytest.raises(UpstreamError) as info:
        upstreamkit.retry(on=QuotaBusyError, policy=policy)(script)()
    assert (info.value.kind, info.value.attempts, script.calls) == (ErrorKind.UPSTREAM_OUTAGE, 1, 1)


def test_retry_with_a_policy_changes_one_call_only(clock: FakeClock) -> None:
    script = Script(refused(), refused(), 7)
    wrapped = upstreamkit.retry(policy=RetryPolicy(attempts=3, backoff=ZERO))(script)
    with pytest.raises(UpstreamError) as info:
        wrapped.retry_with(policy=RetryPolicy(attempts=1))()
    assert (info.value.attempts, script.calls) == (1, 1)
    assert wrapped() == 7  # the decorator's own policy: a failure, a retry
    assert script.calls == 3


def test_retry_with_breaker_false_neither_asks_nor_teaches_the_breaker(clock: FakeClock) -> None:
    script = Script(refused(), 7)
    fail_fast = RetryPolicy(attempts=1, fail_fast=True)
    wrapped = upstreamkit.retry(policy=fail_fast, budget=None, breaker=TRIP_ON_ONE)(script)
    with pytest.raises(UpstreamError):
        wrapped()  # trips
    assert wrapped.retry_with(breaker=False)() == 7  # past the open breaker
    with pytest.raises(UpstreamError) as info:
        wrapped()
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN  # that success did not close it
    assert script.calls == 2


def test_retry_with_budget_false_retries_past_an_empty_budget(clock: FakeClock) -> None:
    script = Script(refused(), 7, refused(), 8)
    wrapped = upstreamkit.retry(policy=RetryPolicy(attempts=2, backoff=ZERO), budget=EMPTY_BUDGET)(script)
    assert wrapped.retry_with(budget=False)() == 7
    with pytest.raises(UpstreamError) as info:
        wrapped()
    assert info.value.kind is ErrorKind.BUDGET_EXHAUSTED


def test_retry_with_fail_fast_and_call_options(clock: FakeClock) -> None:
    script = Script(refused(), 7)
    wrapped = upstreamkit.retry(policy=RetryPolicy(attempts=1), budget=None, breaker=TRIP_ON_ONE, rng=Half())(script)
    with pytest.raises(UpstreamError):
        wrapped()
    for fail_fast in (wrapped.retry_with(fail_fast=True), wrapped.retry_with(CallOptions(fail_fast=True))):
        with pytest.raises(UpstreamError) as info:
            fail_fast()
        assert info.value.kind is ErrorKind.CIRCUIT_OPEN
        assert info.value.retry_after == pytest.approx(1.0)
        assert info.value.__cause__ is None
    assert clock.sleeps == []
    # Keywords win over the options they come with: this call waits for the probe.
    assert wrapped.retry_with(CallOptions(fail_fast=True), fail_fast=False)() == 7
    assert clock.sleeps == [pytest.approx(1.05)]


def test_async_retry_with_stays_a_coroutine_function(clock: FakeClock) -> None:
    script = Script(refused(), 7)

    @upstreamkit.retry(policy=RetryPolicy(attempts=2, backoff=ZERO), budget=EMPTY_BUDGET)
    async def fetch() -> int:
        await asyncio.sleep(0)
        return script()

    once = fetch.retry_with(budget=False)
    assert inspect.iscoroutinefunction(fetch)
    assert inspect.iscoroutinefunction(once)
    assert asyncio.run(once()) == 7
    assert script.calls == 2


def test_methods_keep_self_and_take_overrides_through_the_class(clock: FakeClock) -> None:
    class Client:
        def __init__(self) -> None:
            self.script = Script(refused(), 7, refused())

        @upstreamkit.retry(policy=RetryPolicy(attempts=3, backoff=ZERO), budget=None)
        def fetch(self, extra: int) -> int:
            return self.script() + extra

    client = Client()
    assert client.fetch(1) == 8
    with pytest.raises(UpstreamError) as info:
        Client.fetch.retry_with(policy=RetryPolicy(attempts=1))(client, 1)
    assert info.value.attempts == 1


def test_types_hold_under_mypy_strict() -> None:
    # The promises of Retrying (ParamSpec kept, retry_with, methods) checked by mypy, never run; with strict's
    # warn_unused_ignores, each "type: ignore" there is a misuse that must stay an error.
    checked = Path(__file__).with_name("typing_decorator.py")
    report, errors, status = mypy.api.run(["--strict", "--no-error-summary", str(checked)])
    assert status == 0, report + errors


def test_retry_with_refuses_what_is_not_an_option(clock: FakeClock) -> None:
    wrapped = upstreamkit.retry(Script(7))
    with pytest.raises(TypeError, match="CallOptions"):
        wrapped.retry_with({"fail_fast": True})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="failfast"):
        wrapped.retry_with(failfast=True)  # type: ignore[call-arg]
    assert wrapped.retry_with()() == 7


@pytest.mark.parametrize("on", [KeyboardInterrupt, (QuotaBusyError, "TimeoutError"), "TimeoutError"])
def test_on_is_checked_when_decorating(on: object) -> None:
    with pytest.raises(TypeError, match="on= takes"):
        upstreamkit.retry(on=on)  # type: ignore[call-overload]


def test_async_calls_wait_for_the_probe_and_retry_what_on_names(clock: FakeClock) -> None:
    script = Script(QuotaBusyError("try later"), 7)

    @upstreamkit.retry(
        on=QuotaBusyError, policy=RetryPolicy(attempts=2, backoff=Backoff(base=0.1, jitter="none")),
        budget=EMPTY_BUDGET, breaker=TRIP_ON_ONE, rng=Half(),
    )  # fmt: skip
    async def fetch() -> int:
        await asyncio.sleep(0)
        return script()

    # The failure trips the breaker; the retry waits for the probe (not charged to the empty budget).
    assert asyncio.run(fetch()) == 7
    assert clock.sleeps == [0.1, pytest.approx(0.9 + 0.05)]
    assert script.calls == 2


def test_a_retry_that_is_the_breakers_probe_is_not_charged_to_the_budget(clock: FakeClock) -> None:
    script = Script(refused(), 7)
    wrapped = upstreamkit.retry(
        policy=RetryPolicy(attempts=2, backoff=Backoff(base=0.1, jitter="none")), budget=EMPTY_BUDGET,
        breaker=BreakerConfig(consecutive_failures=1, open_for=0.05),
    )(script)  # fmt: skip
    assert wrapped() == 7  # the break ended during the backoff: the retry goes at once, as the probe
    assert clock.sleeps == [0.1]


def test_a_probe_does_not_use_up_the_decorated_calls_attempts(clock: FakeClock) -> None:
    """Like the transport: a call that waits through the outage may send the breaker's probes; they are the
    breaker's attempts, so the call still succeeds once the upstream is back."""
    script = Script(refused(), refused(), refused(), refused(), 7)  # down for four attempts, then up
    wrapped = upstreamkit.retry(
        policy=RetryPolicy(attempts=3), budget=None,
        breaker=BreakerConfig(consecutive_failures=2, open_for=0.5, open_for_growth=1.0), rng=Half(),
    )(script)  # fmt: skip
    assert wrapped() == 7  # 2 own attempts (the second trips it), then probes: 2 failed, 1 succeeded
    assert script.calls == 5
