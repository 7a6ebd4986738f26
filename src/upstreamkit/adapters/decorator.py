"""``@upstreamkit.retry``: the same policy, budget and breaker for any sync or async callable.

    @upstreamkit.retry
    def fetch_rates() -> dict: ...

    @upstreamkit.retry(policy=RetryPolicy(attempts=5), breaker=BreakerConfig(), on=(MyApiDown, TimeoutError))
    async def charge(order): ...

    fetch_rates.retry_with(fail_fast=True)()       # one call with overrides (CallOptions' fields)
    fetch_rates.retry_with(breaker=False, budget=False)()

Which exceptions are upstream failures: by default the classifier decides
(:func:`~upstreamkit.core.classify.classify_exception`): network failures and
:class:`~upstreamkit.errors.UpstreamError` are; anything else (a bug, a ``KeyError``) propagates untouched at
once. ``on=`` (exception types, or a predicate on the exception, as stamina's ``on``) names them instead: a
match is an upstream failure (an ``upstream_outage`` when the classifier knows it not), anything else
propagates. Whether an upstream failure is retried is then the policy's (``retry_if``, idempotency, attempts,
Retry-After, deadline). When the call fails for good, the :class:`~upstreamkit.errors.UpstreamError` is
raised ``from`` the last exception.

Before each attempt the call passes the same gate as the httpx transport (:mod:`upstreamkit.adapters._gate`):
a call that meets an open breaker waits for its next probe while its deadline allows (``fail_fast``: it fails
at once with ``retry_after``); a retry that waited for the breaker, or is its probe, is not charged to the
budget; a budget refusal is final. Whatever the wrapped code raises (a bug, ``KeyboardInterrupt``,
``asyncio.CancelledError``), the breaker's half-open probe slot is given back.

Per call, ``fn.retry_with(...)`` is the function with overrides for the calls made through it: a
:class:`~upstreamkit.CallOptions` (the value an httpx request carries in ``extensions["upstreamkit"]``), or its
fields as keywords (which win over the options they come with): ``policy=``, ``breaker=False`` (the call
neither asks nor teaches the breaker), ``budget=False`` (its retries are neither limited nor counted),
``fail_fast=``. On a method, go through the class: ``Client.fetch.retry_with(fail_fast=True)(client, path)``.

The success path does the least possible: one clock read (two with a breaker, for the call's duration), one
budget deposit, the breaker's gate, the call, the breaker's and the throttle's success.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeAlias, TypeVar, cast, overload

from upstreamkit.adapters._gate import gate, settle, wait_for_gate
from upstreamkit.adapters._options import CallOptions
from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import BreakerConfig, BreakerTransition, CircuitBreaker
from upstreamkit.core.budget import BudgetConfig, RetryBudget
from upstreamkit.core.classify import classify_exception
from upstreamkit.core.events import AttemptFailed, BreakerStateChanged, Event, GaveUp, Hook, RetryScheduled, Throttled
from upstreamkit.core.outcome import Outcome
from upstreamkit.core.retry import GiveUp as GiveUpDecision
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.errors import ErrorKind, Hop, UpstreamError, make_error

__all__ = ["Retrying", "retry"]

P = ParamSpec("P")
Q = ParamSpec("Q")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
S = TypeVar("S")
_DEFAULT: Any = object()

RetryOn: TypeAlias = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]
"""Which exceptions are upstream failures: exception types, or a predicate on the exception."""


class Retrying(Protocol[P, T_co]):
    """What ``@upstreamkit.retry`` returns: the function, with :meth:`retry_with` for one call's overrides.

    On a method, call the overrides through the class (``Client.fetch.retry_with(fail_fast=True)(client)``):
    like tenacity's, ``retry_with`` is the function's attribute and does not bind ``self``.
    """

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T_co:
        """Call with retries, the budget and the breaker."""
        ...

    def retry_with(
        self,
        options: CallOptions | None = None,
        /,
        *,
        policy: RetryPolicy | None = None,
        breaker: bool | None = None,
        budget: bool | None = None,
        fail_fast: bool | None = None,
    ) -> Callable[P, T_co]:
        """The function with overrides for the calls made through what this returns.

        Either a :class:`~upstreamkit.CallOptions` (the same value an httpx request takes in its extensions), or
        its fields as keywords, or both (the keywords win). ``breaker=False``: the call neither asks the breaker
        nor teaches it; ``budget=False``: its retries are neither limited nor counted by the budget;
        ``fail_fast=True``: an open circuit fails the call at once; ``policy``: this call's retry policy.
        """
        ...

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None, /) -> Retrying[P, T_co]: ...
    @overload
    def __get__(
        self: Retrying[Concatenate[S, Q], T_co], instance: S, owner: type[Any] | None = None, /
    ) -> Callable[Q, T_co]: ...


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one call uses: the decorator's configuration with the call's overrides applied."""

    policy: RetryPolicy
    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    fail_fast: bool


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
        on: Callable[[Exception], bool] | None,
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
        self.on = on
        self._clock = clock
        self.rng: RandomSource = rng if rng is not None else random.Random()
        self.plan = _Plan(policy, self.breaker, self.budget, policy.fail_fast)

    def clock(self) -> Clock:
        return self._clock if self._clock is not None else get_clock()

    def with_options(self, options: CallOptions) -> _Plan:
        policy = options.policy if options.policy is not None else self.policy
        return _Plan(
            policy,
            self.breaker if options.breaker else None,
            self.budget if options.budget else None,
            policy.fail_fast if options.fail_fast is None else options.fail_fast,
        )

    def _announce(self, transition: BreakerTransition) -> None:
        self.emit(
            BreakerStateChanged(transition.name, transition.old, transition.new, transition.reason, transition.at)
        )

    def emit(self, event: Event) -> None:
        for hook in self.hooks:
            with contextlib.suppress(Exception):  # a broken hook must not break the call it observes
                hook(event)

    def classify(self, exc: BaseException) -> Outcome | None:
        """The outcome of an exception that is an upstream failure; None for anything else (re-raised untouched)."""
        if not isinstance(exc, Exception):  # KeyboardInterrupt, asyncio.CancelledError, SystemExit
            return None
        on = self.on
        if on is not None and not on(exc):
            return None
        outcome = classify_exception(exc)
        if isinstance(exc, UpstreamError) or outcome.kind is not ErrorKind.HTTP_REQUEST_ERROR:
            return outcome
        if on is None:  # not a network failure (a bug, a validation error): not ours to wrap or retry
            return None
        # The caller named it an upstream failure; the classifier cannot say which: an outage, retryable.
        return dataclasses.replace(outcome, kind=ErrorKind.UPSTREAM_OUTAGE, retryable=True, hop=Hop.UNKNOWN)

    def first(self, plan: _Plan, now: float) -> bool:
        """The first attempt's deposit and gate: True to go at once (the fast path), False to wait or fail."""
        budget = plan.budget
        if budget is not None:
            budget.record_request(now)
        breaker = plan.breaker
        return breaker is None or gate(breaker, None, now, retry=False, waited=False, upstream=self.name) is None


def _predicate(on: RetryOn | None) -> Callable[[Exception], bool] | None:
    if on is None:
        return None
    if isinstance(on, (type, tuple)):
        types = on if isinstance(on, tuple) else (on,)
        if not all(isinstance(t, type) and issubclass(t, Exception) for t in types):
            # Said at decoration, not at the first failure; BaseExceptions (KeyboardInterrupt...) always propagate.
            raise TypeError(f"on= takes Exception subclasses or a predicate, got {on!r}")
        return lambda exc: isinstance(exc, types)
    if not callable(on):
        raise TypeError(f"on= takes Exception subclasses or a predicate, got {on!r}")
    return on


class _Call:
    """One logical call past its first attempt's fast path: the gate, the failures, the decisions.

    Every method that takes the breaker's permission hands it back on every path: :meth:`failed` settles the
    attempt (or releases the probe slot for an exception that is not an upstream failure) before it decides
    anything that could raise.
    """

    __slots__ = ("attempt", "deadline", "error", "last", "plan", "previous", "retrier", "waited")

    def __init__(self, retrier: _Retrier, plan: _Plan, start: float) -> None:
        self.retrier = retrier
        self.plan = plan
        self.deadline = plan.policy.start(start)
        self.attempt = 1  # the attempt in flight, or the next to go
        self.previous: float | None = None
        self.last: Outcome | None = None
        self.error: BaseException | None = None
        self.waited = False

    def gate(self, now: float) -> float | None:
        """None: the attempt may go. Else seconds to wait before asking again; raises when the call may not wait."""
        plan, retrier = self.plan, self.retrier
        refusal = gate(
            plan.breaker, plan.budget, now, retry=self.attempt > 1, waited=self.waited, upstream=retrier.name
        )
        if refusal is None:
            return None
        wait = wait_for_gate(
            refusal, breaker=plan.breaker, deadline=self.deadline, policy=plan.policy, fail_fast=plan.fail_fast,
            now=now, rng=retrier.rng,
        )  # fmt: skip
        if wait is None:
            last, attempts = self.last, self.attempt - 1
            message = refusal.why if last is None else f"{refusal.why}; last failure: {last.kind}: {last.explanation}"
            error = make_error(
                refusal.kind, message, request_sent=last.request_sent if last is not None else False,
                attempts=attempts, retry_after=refusal.retry_after(last), upstream=retrier.name, hop=Hop.CLIENT,
                status=last.status if last is not None else None,
            )  # fmt: skip
            retrier.emit(GaveUp(retrier.name, "", attempts, error.kind, error.retry_after, refusal.reason, now))
            raise error from self.error
        retrier.emit(Throttled(retrier.name, "", wait, f"{refusal.why}: waiting for it", now))
        self.waited = True
        return wait

    def failed(self, exc: BaseException, started: float) -> float | None:
        """Settle the attempt that raised ``exc``: None when it is not an upstream failure (the caller re-raises
        it), else the wait before the next attempt; raises the UpstreamError, from ``exc``, when the call ends."""
        retrier, plan = self.retrier, self.plan
        now = retrier.clock().monotonic()
        try:
            outcome = retrier.classify(exc)
        except BaseException:  # an ``on`` predicate that raises must not keep the probe slot either
            _release(plan.breaker, now)
            raise
        if outcome is None:
            _release(plan.breaker, now)
            return None
        settle(plan.breaker, plan.budget, outcome, now, now - started)
        kind = outcome.kind
        assert kind is not None  # noqa: S101 - an exception is never a success
        attempt = self.attempt
        retrier.emit(
            AttemptFailed(retrier.name, "", retrier.method, attempt, kind, outcome.status, outcome.is_600,
                          now - started, outcome.explanation, now)
        )  # fmt: skip
        self.last, self.error = outcome, exc
        decision = plan.policy.decide(
            outcome, attempt=attempt, method=retrier.method, deadline=self.deadline, now=now, rng=retrier.rng,
            previous_delay=self.previous, upstream=retrier.name,
        )  # fmt: skip
        if isinstance(decision, GiveUpDecision):
            error = decision.error
            retrier.emit(GaveUp(retrier.name, "", attempt, error.kind, error.retry_after, decision.reason, now))
            raise error from exc
        retrier.emit(RetryScheduled(retrier.name, "", attempt, decision.delay, decision.reason, now))
        self.previous = decision.delay
        self.attempt += 1
        self.waited = False
        return decision.delay


def _release(breaker: CircuitBreaker | None, now: float) -> None:
    if breaker is not None:
        breaker.release(now)


_SUCCESS = Outcome(ok=True, kind=None, retryable=False, request_sent=True, explanation="the call returned")


def _succeeded(plan: _Plan, clock: Clock, started: float) -> None:
    """Teach the breaker and the budget's throttle a success (they heal; a probe closes the breaker)."""
    if plan.breaker is not None:
        now = clock.monotonic()
        settle(plan.breaker, plan.budget, _SUCCESS, now, now - started)
    elif plan.budget is not None:  # the throttle needs no duration: spare the clock read on the hot path
        plan.budget.record_success()


def _sync(fn: Callable[P, T], retrier: _Retrier) -> Callable[[_Plan], Callable[P, T]]:
    """A maker of wrappers of a sync ``fn``, one per plan (the decorator's, or one ``retry_with``'s)."""

    def make(plan: _Plan) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            clock = retrier.clock()
            start = clock.monotonic()
            call = None
            wait: float | None = None
            if retrier.first(plan, start):
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # settled in failed(): foreign ones re-raised untouched
                    call = _Call(retrier, plan, start)
                    wait = call.failed(exc, start)
                    if wait is None:
                        raise
                else:
                    _succeeded(plan, clock, start)
                    return result
            return _again_sync(fn, args, kwargs, call or _Call(retrier, plan, start), clock, wait=wait)

        return wrapper

    return make


def _again_sync(fn: Callable[P, T], args: Any, kwargs: Any, call: _Call, clock: Clock, *, wait: float | None) -> T:
    """The slow path, after a failure or a closed gate: wait, pass the gate, try again."""
    while True:
        if wait is not None:
            clock.sleep(wait)
        wait = call.gate(clock.monotonic())
        if wait is not None:
            continue
        started = clock.monotonic()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # settled in failed(): foreign ones re-raised untouched
            wait = call.failed(exc, started)
            if wait is None:
                raise
            continue
        _succeeded(call.plan, clock, started)
        return result


def _async(fn: Callable[P, Awaitable[T]], retrier: _Retrier) -> Callable[[_Plan], Callable[P, Awaitable[T]]]:
    """Async twin of :func:`_sync`."""

    def make(plan: _Plan) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            clock = retrier.clock()
            start = clock.monotonic()
            call = None
            wait: float | None = None
            if retrier.first(plan, start):
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:  # asyncio.CancelledError too: settled in failed()
                    call = _Call(retrier, plan, start)
                    wait = call.failed(exc, start)
                    if wait is None:
                        raise
                else:
                    _succeeded(plan, clock, start)
                    return result
            return await _again_async(fn, args, kwargs, call or _Call(retrier, plan, start), clock, wait=wait)

        return wrapper

    return make


async def _again_async(
    fn: Callable[P, Awaitable[T]], args: Any, kwargs: Any, call: _Call, clock: Clock, *, wait: float | None
) -> T:
    """Async twin of :func:`_again_sync`."""
    while True:
        if wait is not None:
            await clock.asleep(wait)
        wait = call.gate(clock.monotonic())
        if wait is not None:
            continue
        started = clock.monotonic()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:  # asyncio.CancelledError too: settled in failed()
            wait = call.failed(exc, started)
            if wait is None:
                raise
            continue
        _succeeded(call.plan, clock, started)
        return result


def _retrying(make: Callable[[_Plan], Callable[P, T]], retrier: _Retrier) -> Retrying[P, T]:
    """The decorator's wrapper, with ``retry_with`` attached (see :class:`Retrying`)."""
    wrapper = make(retrier.plan)

    def retry_with(options: CallOptions | None = None, /, **fields: Any) -> Callable[P, T]:
        # Typed by Retrying.retry_with; here a field's None means "not given", and a name that is not one of
        # CallOptions' fields is a TypeError from replace().
        base = options if options is not None else CallOptions()
        if not isinstance(base, CallOptions):
            raise TypeError(f"retry_with() takes an upstreamkit.CallOptions, got {type(base).__name__}")
        given = {name: value for name, value in fields.items() if value is not None}
        return make(retrier.with_options(dataclasses.replace(base, **given) if given else base))

    retry_with.__doc__ = Retrying.retry_with.__doc__
    wrapper.retry_with = retry_with  # type: ignore[attr-defined]
    return cast(Retrying[P, T], wrapper)


@overload
def retry(fn: Callable[P, T], /) -> Retrying[P, T]: ...


@overload
def retry(
    *,
    policy: RetryPolicy | None = ...,
    budget: BudgetConfig | None = ...,
    breaker: BreakerConfig | None = ...,
    on: RetryOn | None = ...,
    name: str | None = ...,
    idempotent: bool = ...,
    hooks: Sequence[Hook] = ...,
    clock: Clock | None = ...,
    rng: RandomSource | None = ...,
) -> Callable[[Callable[P, T]], Retrying[P, T]]: ...


def retry(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    policy: RetryPolicy | None = None,
    budget: BudgetConfig | None = _DEFAULT,
    breaker: BreakerConfig | None = None,
    on: RetryOn | None = None,
    name: str | None = None,
    idempotent: bool = True,
    hooks: Sequence[Hook] = (),
    clock: Clock | None = None,
    rng: RandomSource | None = None,
) -> Any:
    """Retry a sync or async callable on upstream failures, with upstreamkit's policy, budget and breaker.

    Args:
        policy: attempts, backoff, deadline, ``fail_fast``, ``retry_if`` (the per-try timeout is the
            callable's own business).
        budget: the retry budget shared by all calls of this function (on by default; ``None``: off).
        breaker: a circuit breaker shared by all calls of this function (off by default).
        on: which exceptions are upstream failures: exception types or a predicate on the exception
            (default: network failures and :class:`~upstreamkit.errors.UpstreamError`, as classified).
            Anything else propagates untouched.
        name: the name in errors and events (default: the function's qualified name).
        idempotent: ``False`` retries only failures where the request provably never left.
        hooks: receive the events (attempt failed, retry scheduled, waiting for the breaker, gave up).
        clock, rng: injected time and randomness; ``upstreamkit.testing.testing()`` fakes the clock.

    The result is the function with ``retry_with(...)``: one call's overrides (:class:`Retrying`).
    """

    predicate = _predicate(on)

    def decorate(func: Callable[..., Any]) -> Any:
        retrier = _Retrier(
            name=name or str(getattr(func, "__qualname__", repr(func))),
            policy=policy if policy is not None else RetryPolicy(),
            budget=BudgetConfig() if budget is _DEFAULT else budget,
            breaker=breaker,
            idempotent=idempotent,
            on=predicate,
            hooks=hooks,
            clock=clock,
            rng=rng,
        )
        if inspect.iscoroutinefunction(func):
            return _retrying(_async(func, retrier), retrier)
        return _retrying(_sync(func, retrier), retrier)

    return decorate(fn) if fn is not None else decorate
