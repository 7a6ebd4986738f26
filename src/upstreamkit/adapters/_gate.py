"""The gate before every attempt, and what an attempt teaches: one piece of code for the transport and the decorator.

Before an attempt a call asks :func:`gate`: the circuit breaker (every attempt) and the retry budget (retries
only). A refusal is a :class:`Refusal`; :func:`wait_for_gate` says whether the call may wait for the gate to
open (the breaker's next probe, within the deadline, jittered by up to the breaker's ``poll`` so the callers a
recovery releases do not arrive as one herd) or must fail at once. After the attempt, :func:`settle` teaches the
breaker and the budget's retry throttle what it showed, and gives back the breaker's probe slot when the
outcome says nothing about the upstream's health.

No I/O and no clock: time is passed in, the caller (the engine's generator, the decorator's loop) does the
waiting and raises the errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import CircuitBreaker
from upstreamkit.core.budget import RetryBudget
from upstreamkit.core.outcome import Outcome
from upstreamkit.core.ratelimit import RateLimiter
from upstreamkit.core.retry import Deadline, RetryPolicy
from upstreamkit.errors import ErrorKind

__all__ = ["NOT_HEALTH", "Refusal", "gate", "is_health_failure", "learn", "settle", "wait_for_gate"]

NOT_HEALTH = frozenset(
    {
        ErrorKind.AUTH_EXPIRED,
        ErrorKind.AUTH_INVALID,
        ErrorKind.AUTH_FORBIDDEN,
        ErrorKind.PAYLOAD_REJECTED,
        ErrorKind.HTTP_REQUEST_ERROR,
        ErrorKind.HTTP_REQUEST_DENIED,
        ErrorKind.RATE_LIMITED,
        ErrorKind.REQUEST_TIMEOUT,
    }
)
"""Failures that say nothing about the upstream's health (below HTTP 500): they neither trip nor heal a breaker."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """The gate said "not now": ``kind`` is circuit_open or budget_exhausted."""

    kind: ErrorKind
    wait: float
    """Seconds until the breaker lets a probe through (0 for the budget, whose refusal is final)."""
    reason: str
    """Short, for events: "circuit open for X"."""
    why: str
    """For error messages: the reason and the wait."""

    def retry_after(self, last: Outcome | None) -> float | None:
        """The ``retry_after`` of the error a refused call ends with: the breaker's wait, else the last failure's."""
        return self.wait if self.kind is ErrorKind.CIRCUIT_OPEN or last is None else last.retry_after


def is_health_failure(outcome: Outcome) -> bool:
    """A failure that says the upstream is unhealthy (every 5xx, the network failures): it trips a breaker."""
    kind = outcome.kind
    return kind is not None and (kind not in NOT_HEALTH or (outcome.status or 0) >= 500)


def gate(
    breaker: CircuitBreaker | None, budget: RetryBudget | None, now: float, *, retry: bool, waited: bool, upstream: str
) -> Refusal | None:
    """The breaker (every attempt) and the budget (retries): None to go (a half-open breaker's probe slot is then
    taken: :func:`settle` or ``breaker.release`` gives it back), else the :class:`Refusal`.

    A retry that waited for an open circuit, or that is the breaker's probe, is not charged to the budget: the
    breaker already decided that the upstream may be tried again, and lets through no more than it can bear. A
    budget that says no is final (waiting for it would wait for other callers' successes).
    """
    if breaker is not None:
        wait = breaker.allow(now)
        if wait is not None:
            reason = f"circuit open for {upstream}"
            return Refusal(ErrorKind.CIRCUIT_OPEN, wait, reason, f"{reason}; next probe in {wait:.3g}s")
    if not retry or budget is None or waited or (breaker is not None and breaker.probing(now)):
        return None
    if budget.try_withdraw(now):
        return None
    if breaker is not None:
        breaker.release(now)
    return Refusal(ErrorKind.BUDGET_EXHAUSTED, 0.0, "retry budget exhausted", "retry budget exhausted")


def wait_for_gate(
    refusal: Refusal, *, breaker: CircuitBreaker | None, deadline: Deadline, policy: RetryPolicy, fail_fast: bool,
    now: float, rng: RandomSource,
) -> float | None:  # fmt: skip
    """Seconds to wait before asking the gate again, or None: the call fails now with the refusal.

    Only an open circuit is waited for, and only by a call that is not ``fail_fast`` and whose deadline reaches
    the probe with ``policy.min_attempt_time`` to spare. The wait is jittered by up to one ``poll`` past the
    moment, and never runs past what the deadline leaves for the attempt.
    """
    if (
        refusal.kind is not ErrorKind.CIRCUIT_OPEN or breaker is None or fail_fast or deadline.total is None
        or not deadline.fits(refusal.wait, now, reserve=policy.min_attempt_time)
    ):  # fmt: skip
        return None
    jittered = refusal.wait + rng.random() * breaker.config.poll
    return min(jittered, deadline.remaining(now) - policy.min_attempt_time)


def settle(
    breaker: CircuitBreaker | None, budget: RetryBudget | None, outcome: Outcome, now: float, duration: float
) -> None:
    """Teach the breaker and the budget's retry throttle what a permitted attempt showed.

    Successes heal, health failures (every 5xx, and the network failures) trip; anything else gives the
    breaker's probe slot back and leaves the throttle as it was.
    """
    kind = outcome.kind
    if kind is None:
        if breaker is not None:
            breaker.record_success(now, duration)
        if budget is not None:
            budget.record_success()
    # A 503 with Retry-After is classified rate_limited, yet it says the upstream is shedding load: every 5xx
    # counts against the upstream's health.
    elif kind in NOT_HEALTH and (outcome.status or 0) < 500:
        if breaker is not None:
            breaker.release(now, now - duration)
    else:
        if breaker is not None:
            # A 5xx with Retry-After says how long the upstream will be down: the breaker opens for that long.
            hold = outcome.retry_after if (outcome.status or 0) >= 500 else None
            breaker.record_failure(now, duration, hold=hold)
        if budget is not None:
            budget.record_failure()


def learn(
    limiter: RateLimiter, breaker: CircuitBreaker | None, budget: RetryBudget | None, outcome: Outcome, *,
    started: float, done: float,
) -> None:  # fmt: skip
    """Everything a permitted attempt teaches: the limiter (rate-limit headers, a 429's wait), then :func:`settle`.

    A 429's Retry-After is the limiter's to keep; a 503's opened the breaker (settle) for that long, so the
    limiter holds it only when there is no breaker to.
    """
    limit = outcome.rate_limit
    if limit is not None:
        limiter.observe(done, remaining=limit.remaining, reset_after=limit.reset_after, limit=limit.limit)
    settle(breaker, budget, outcome, done, done - started)
    if (
        outcome.kind is ErrorKind.RATE_LIMITED and outcome.retry_after is not None
        and (breaker is None or (outcome.status or 0) < 500)
    ):  # fmt: skip
        limiter.block_until(done + outcome.retry_after)
