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

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast, overload

from upstreamkit.adapters._options import CallOptions
from upstreamkit.adapters._retrier import Call, Plan, Retrier, RetryOn, exception_filter, succeeded
from upstreamkit.clock import Clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.budget import BudgetConfig
from upstreamkit.core.events import Hook
from upstreamkit.core.retry import RetryPolicy

__all__ = ["Retrying", "retry"]

P = ParamSpec("P")
Q = ParamSpec("Q")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
S = TypeVar("S")
_DEFAULT: Any = object()


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


def _sync(fn: Callable[P, T], retrier: Retrier) -> Callable[[Plan], Callable[P, T]]:
    """A maker of wrappers of a sync ``fn``, one per plan (the decorator's, or one ``retry_with``'s)."""

    def make(plan: Plan) -> Callable[P, T]:
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
                    call = Call(retrier, plan, start)
                    wait = call.failed(exc, start)
                    if wait is None:
                        raise
                else:
                    succeeded(plan, clock, start)
                    return result
            return _again_sync(fn, args, kwargs, call or Call(retrier, plan, start), clock, wait=wait)

        return wrapper

    return make


def _again_sync(fn: Callable[P, T], args: Any, kwargs: Any, call: Call, clock: Clock, *, wait: float | None) -> T:
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
        succeeded(call.plan, clock, started)
        return result


def _async(fn: Callable[P, Awaitable[T]], retrier: Retrier) -> Callable[[Plan], Callable[P, Awaitable[T]]]:
    """Async twin of :func:`_sync`."""

    def make(plan: Plan) -> Callable[P, Awaitable[T]]:
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
                    call = Call(retrier, plan, start)
                    wait = call.failed(exc, start)
                    if wait is None:
                        raise
                else:
                    succeeded(plan, clock, start)
                    return result
            return await _again_async(fn, args, kwargs, call or Call(retrier, plan, start), clock, wait=wait)

        return wrapper

    return make


async def _again_async(
    fn: Callable[P, Awaitable[T]], args: Any, kwargs: Any, call: Call, clock: Clock, *, wait: float | None
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
        succeeded(call.plan, clock, started)
        return result


def _retrying(make: Callable[[Plan], Callable[P, T]], retrier: Retrier) -> Retrying[P, T]:
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

    predicate = exception_filter(on)

    def decorate(func: Callable[..., Any]) -> Any:
        retrier = Retrier(
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
