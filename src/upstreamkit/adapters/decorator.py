"""``@upstreamkit.retry``: the same policy, budget and breaker for any sync or async callable.

    @upstreamkit.retry
    def fetch_rates() -> dict: ...

    @upstreamkit.retry(policy=RetryPolicy(attempts=5), breaker=BreakerConfig())
    async def charge(order): ...

Exceptions are classified (:func:`~upstreamkit.core.classify.classify_exception`): network failures and
:class:`~upstreamkit.errors.UpstreamError` are retried when the policy allows; anything else (a bug, a
``KeyError``) propagates untouched at once. When the call fails for good, the
:class:`~upstreamkit.errors.UpstreamError` is raised ``from`` the last exception.

The success path does the least possible: one clock read, one budget deposit, the call.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar, overload

from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import BreakerConfig, BreakerTransition, CircuitBreaker
from upstreamkit.core.budget import BudgetConfig, RetryBudget
from upstreamkit.core.classify import classify_exception
from upstreamkit.core.events import AttemptFailed, BreakerStateChanged, Event, GaveUp, Hook, RetryScheduled
from upstreamkit.core.outcome import Outcome
from upstreamkit.core.retry import Deadline, Retry, RetryPolicy
from upstreamkit.core.retry import GiveUp as GiveUpDecision
from upstreamkit.errors import ErrorKind, Hop, UpstreamError, make_error

__all__ = ["retry"]

P = ParamSpec("P")
T = TypeVar("T")
_DEFAULT: Any = object()


class _Retrier:
    """The state one decorated function shares across its calls."""

    def __init__(
        self,
        *,
        name: str,
        policy: RetryPolicy,
        budget: BudgetConfig | None,
        breaker: BreakerConfig | None,
        idempotent: bool,
        hooks: Sequence[Hook],
        clock: Clock | None,
        rng: RandomSource | None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.budget = RetryBudget(budget) if budget is not None else None
        self.hooks = tuple(hooks)
        self.breaker = CircuitBreaker(breaker, name=name, on_transition=self._announce) if breaker is not None else None
        self.method = "GET" if idempotent else "POST"
        self._clock = clock
        self.rng: RandomSource = rng if rng is not None else random.Random()

    def clock(self) -> Clock:
        return self._clock if self._clock is not None else get_clock()

    def _announce(self, transition: BreakerTransition) -> None:
        self.emit(
            BreakerStateChanged(transition.name, transition.old, transition.new, transition.reason, transition.at)
        )

    def emit(self, event: Event) -> None:
        for hook in self.hooks:
            with contextlib.suppress(Exception):  # a broken hook must not break the call it observes
                hook(event)

    def begin(self, now: float) -> None:
        """The first attempt of a call: a budget deposit, and the breaker's permission."""
        if self.budget is not None:
            self.budget.record_request(now)
        if self.breaker is not None:
            self.before(1, now, None)

    def before(self, attempt: int, now: float, last: Outcome | None) -> None:
        """Budget and breaker checks before an attempt; raises the policy error when one says no."""
        if attempt > 1 and self.budget is not None and not self.budget.try_withdraw(now):
            assert last is not None  # noqa: S101 - a retry always follows a failure
            raise make_error(
                ErrorKind.BUDGET_EXHAUSTED, f"retry budget exhausted; last failure: {last.kind}: {last.explanation}",
                request_sent=last.request_sent, attempts=attempt - 1, upstream=self.name, hop=Hop.CLIENT,
            )  # fmt: skip
        if self.breaker is not None:
            wait = self.breaker.allow(now)
            if wait is not None:
                raise make_error(
                    ErrorKind.CIRCUIT_OPEN, f"circuit open for {self.name}; next probe in {wait:.3g}s",
                    request_sent=False, attempts=attempt - 1, retry_after=wait, upstream=self.name, hop=Hop.CLIENT,
                )  # fmt: skip

    def after_failure(
        self, exc: Exception, attempt: int, started: float, deadline: Deadline, previous: float | None
    ) -> tuple[Outcome, Retry | GiveUpDecision | None]:
        """Classify, record and decide; None for exceptions that are not upstream failures (re-raised)."""
        clock = self.clock()
        now = clock.monotonic()
        outcome = classify_exception(exc)
        if _foreign(exc, outcome):
            return outcome, None
        kind = outcome.kind
        assert kind is not None  # noqa: S101 - an exception is never a success
        if self.breaker is not None:
            self.breaker.record_failure(now, now - started)
        self.emit(
            AttemptFailed(self.name, "", self.method, attempt, kind, outcome.status, outcome.is_600, now - started,
                          outcome.explanation, now)
        )  # fmt: skip
        decision = self.policy.decide(
            outcome, attempt=attempt, method=self.method, deadline=deadline, now=now, rng=self.rng,
            previous_delay=previous, upstream=self.name,
        )  # fmt: skip
        if isinstance(decision, Retry):
            self.emit(RetryScheduled(self.name, "", attempt, decision.delay, decision.reason, now))
        else:
            error = decision.error
            self.emit(GaveUp(self.name, "", attempt, error.kind, error.retry_after, decision.reason, now))
        return outcome, decision

    def record_success(self, clock: Clock, started: float) -> None:
        if self.breaker is not None:
            now = clock.monotonic()
            self.breaker.record_success(now, now - started)


def _foreign(exc: Exception, outcome: Outcome) -> bool:
    # Not a network failure (a bug, a validation error): not ours to wrap or retry.
    return not isinstance(exc, UpstreamError) and outcome.kind is ErrorKind.HTTP_REQUEST_ERROR


def _wrap_sync(fn: Callable[P, T], retrier: _Retrier) -> Callable[P, T]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        clock = retrier.clock()
        start = clock.monotonic()
        retrier.begin(start)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified on the slow path; foreign ones re-raised there
            return _retry_sync(fn, args, kwargs, retrier=retrier, clock=clock, start=start, exc=exc)
        if retrier.breaker is not None:
            retrier.record_success(clock, start)
        return result

    return wrapper


def _retry_sync(
    fn: Callable[P, T], args: Any, kwargs: Any, *, retrier: _Retrier, clock: Clock, start: float, exc: Exception
) -> T:
    """The slow path, entered on the first failure: classify, decide, wait, try again."""
    deadline = Deadline(start, retrier.policy.deadline)
    attempt, started, previous = 1, start, None
    while True:
        last, decision = retrier.after_failure(exc, attempt, started, deadline, previous)
        if decision is None:
            raise exc
        if isinstance(decision, GiveUpDecision):
            raise decision.error from exc
        previous = decision.delay
        clock.sleep(decision.delay)
        attempt += 1
        started = clock.monotonic()
        retrier.before(attempt, started, last)
        try:
            result = fn(*args, **kwargs)
        except Exception as again:  # noqa: BLE001 - classified at the top of the loop; foreign ones re-raised
            exc = again
            continue
        if retrier.breaker is not None:
            retrier.record_success(clock, started)
        return result


def _wrap_async(fn: Callable[P, Awaitable[T]], retrier: _Retrier) -> Callable[P, Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        clock = retrier.clock()
        start = clock.monotonic()
        retrier.begin(start)
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified on the slow path; foreign ones re-raised there
            return await _retry_async(fn, args, kwargs, retrier=retrier, clock=clock, start=start, exc=exc)
        if retrier.breaker is not None:
            retrier.record_success(clock, start)
        return result

    return wrapper


async def _retry_async(
    fn: Callable[P, Awaitable[T]], args: Any, kwargs: Any, *, retrier: _Retrier, clock: Clock, start: float,
    exc: Exception,
) -> T:  # fmt: skip
    """Async twin of :func:`_retry_sync`."""
    deadline = Deadline(start, retrier.policy.deadline)
    attempt, started, previous = 1, start, None
    while True:
        last, decision = retrier.after_failure(exc, attempt, started, deadline, previous)
        if decision is None:
            raise exc
        if isinstance(decision, GiveUpDecision):
            raise decision.error from exc
        previous = decision.delay
        await clock.asleep(decision.delay)
        attempt += 1
        started = clock.monotonic()
        retrier.before(attempt, started, last)
        try:
            result = await fn(*args, **kwargs)
        except Exception as again:  # noqa: BLE001 - classified at the top of the loop; foreign ones re-raised
            exc = again
            continue
        if retrier.breaker is not None:
            retrier.record_success(clock, started)
        return result


@overload
def retry(fn: Callable[P, T], /) -> Callable[P, T]: ...


@overload
def retry(
    *,
    policy: RetryPolicy | None = ...,
    budget: BudgetConfig | None = ...,
    breaker: BreakerConfig | None = ...,
    name: str | None = ...,
    idempotent: bool = ...,
    hooks: Sequence[Hook] = ...,
    clock: Clock | None = ...,
    rng: RandomSource | None = ...,
) -> Callable[[Callable[P, T]], Callable[P, T]]: ...


def retry(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    policy: RetryPolicy | None = None,
    budget: BudgetConfig | None = _DEFAULT,
    breaker: BreakerConfig | None = None,
    name: str | None = None,
    idempotent: bool = True,
    hooks: Sequence[Hook] = (),
    clock: Clock | None = None,
    rng: RandomSource | None = None,
) -> Any:
    """Retry a sync or async callable on upstream failures, with upstreamkit's policy, budget and breaker.

    Args:
        policy: attempts, backoff, deadline (the per-try timeout is the callable's own business).
        budget: the retry budget shared by all calls of this function (on by default; ``None``: off).
        breaker: a circuit breaker shared by all calls of this function (off by default).
        name: the name in errors and events (default: the function's qualified name).
        idempotent: ``False`` retries only failures where the request provably never left.
        hooks: receive the events (attempt failed, retry scheduled, gave up).
        clock, rng: injected time and randomness; ``upstreamkit.testing.testing()`` fakes the clock.
    """

    def decorate(func: Callable[..., Any]) -> Any:
        retrier = _Retrier(
            name=name or str(getattr(func, "__qualname__", repr(func))),
            policy=policy if policy is not None else RetryPolicy(),
            budget=BudgetConfig() if budget is _DEFAULT else budget,
            breaker=breaker,
            idempotent=idempotent,
            hooks=hooks,
            clock=clock,
            rng=rng,
        )
        if inspect.iscoroutinefunction(func):
            return _wrap_async(func, retrier)
        return _wrap_sync(func, retrier)

    return decorate(fn) if fn is not None else decorate
