"""The state and the per-call logic behind ``@upstreamkit.retry`` (see :mod:`upstreamkit.adapters.decorator`).

:class:`Retrier` is what one decorated function shares across its calls (policy, budget, breaker, hooks);
:class:`Call` is one logical call past its first attempt: the gate (:mod:`upstreamkit.adapters._gate`, the
transport's), the failures, the decisions. The decorator's sync and async loops only sequence them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from upstreamkit.adapters._gate import gate, is_health_failure, settle, wait_for_gate
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

__all__ = ["Call", "Plan", "Retrier", "RetryOn", "exception_filter", "succeeded"]

RetryOn: TypeAlias = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]
"""Which exceptions are upstream failures: exception types, or a predicate on the exception."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What one call uses: the decorator's configuration with the call's overrides applied."""

    policy: RetryPolicy
    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    fail_fast: bool


class Retrier:
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
        self.plan = Plan(policy, self.breaker, self.budget, policy.fail_fast)

    def clock(self) -> Clock:
        return self._clock if self._clock is not None else get_clock()

    def with_options(self, options: CallOptions) -> Plan:
        policy = options.policy if options.policy is not None else self.policy
        return Plan(
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

    def first(self, plan: Plan, now: float) -> bool:
        """The first attempt's deposit and the breaker's permission: True to go at once (the fast path).

        False: the breaker said "not now" and took nothing; :meth:`Call.gate` asks the whole gate again and
        waits or fails. (A first attempt meets only the breaker: the budget gates retries.)
        """
        budget = plan.budget
        if budget is not None:
            budget.record_request(now)
        breaker = plan.breaker
        return breaker is None or breaker.allow(now) is None


def exception_filter(on: RetryOn | None) -> Callable[[Exception], bool] | None:
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


class Call:
    """One logical call past its first attempt's fast path: the gate, the failures, the decisions.

    Every method that takes the breaker's permission hands it back on every path: :meth:`failed` settles the
    attempt (or releases the probe slot for an exception that is not an upstream failure) before it decides
    anything that could raise.
    """

    __slots__ = (
        "attempt", "deadline", "error", "last", "plan", "previous", "probe", "probes_failed", "retrier", "waited",
    )  # fmt: skip

    def __init__(self, retrier: Retrier, plan: Plan, start: float) -> None:
        self.retrier = retrier
        self.plan = plan
        self.deadline = plan.policy.start(start)
        self.attempt = 1  # the attempt in flight, or the next to go
        self.previous: float | None = None
        self.last: Outcome | None = None
        self.error: BaseException | None = None
        self.waited = False
        self.probe = False  # the attempt in flight is the breaker's probe
        self.probes_failed = 0  # the breaker's attempts, not the call's: they use up none of its attempts

    def gate(self, now: float) -> float | None:
        """None: the attempt may go. Else seconds to wait before asking again; raises when the call may not wait."""
        plan, retrier = self.plan, self.retrier
        refusal = gate(
            plan.breaker, plan.budget, now, retry=self.attempt > 1, waited=self.waited, upstream=retrier.name
        )
        if refusal is None:
            self.probe = plan.breaker is not None and plan.breaker.probing(now)
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
            _release(plan.breaker, now, started)
            raise
        if outcome is None:
            _release(plan.breaker, now, started)
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
        if self.probe and is_health_failure(outcome):
            self.probes_failed += 1
        decision = plan.policy.decide(
            outcome, attempt=max(attempt - self.probes_failed, 1), method=retrier.method, deadline=self.deadline,
            now=now, rng=retrier.rng,
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


def _release(breaker: CircuitBreaker | None, now: float, started: float) -> None:
    if breaker is not None:
        breaker.release(now, started)


_SUCCESS = Outcome(ok=True, kind=None, retryable=False, request_sent=True, explanation="the call returned")


def succeeded(plan: Plan, clock: Clock, started: float) -> None:
    """Teach the breaker and the budget's throttle a success (they heal; a probe closes the breaker)."""
    if plan.breaker is not None:
        now = clock.monotonic()
        settle(plan.breaker, plan.budget, _SUCCESS, now, now - started)
    elif plan.budget is not None:  # the throttle needs no duration: spare the clock read on the hot path
        plan.budget.record_success()
