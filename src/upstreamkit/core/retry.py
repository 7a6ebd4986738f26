"""Retry policy as a value: given an outcome and the time, say "retry after D seconds" or "give up with E".

The policy never sleeps and never reads the clock; the adapter (sync, async, the gateway) asks it after
every failed attempt and does the waiting. The rules, in order:

1. A non-retryable outcome (``auth_invalid``, ``payload_rejected``, a 404 ...) gives up at once; a
   ``retry_if`` predicate, when given, decides this instead of the knowledge base.
2. Idempotency (RFC 9110 section 9.2.2): GET, HEAD, OPTIONS, TRACE, PUT and DELETE may be sent again;
   POST and PATCH only with an ``Idempotency-Key`` (the same one on every attempt), or when the request
   provably never left (DNS failure, refused connection, open circuit).
3. The attempt cap.
4. Retry-After (or the rate-limit reset) is honoured, never early: the wait is at least that long. Past
   ``max_retry_after`` or past the deadline the call fails at once with the retry time attached, so the
   caller can schedule it.
5. Otherwise exponential backoff with jitter; a wait that cannot fit before the deadline is not taken.

One deadline per logical call: :class:`Deadline` gives each attempt ``min(per_try_timeout, remaining)``.

An open circuit or an exhausted retry budget is not the policy's business but the adapter's gate; what the
policy says of it is ``fail_fast``: meet it with an error at once, or (the default) wait within the deadline
for the breaker's next probe or for the budget to refill, so that callers need neither hammer a failing
upstream nor fail while it recovers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from upstreamkit.core.backoff import Backoff, RandomSource
from upstreamkit.core.outcome import Outcome
from upstreamkit.errors import ErrorKind, UpstreamError, make_error

__all__ = ["IDEMPOTENT_METHODS", "Deadline", "GiveUp", "Retry", "RetryPolicy"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""RFC 9110 section 9.2.2: methods whose repetition has the same effect as one request."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """The time budget of one logical call, on the monotonic clock. ``total=None`` means no deadline."""

    start: float
    total: float | None

    @property
    def at(self) -> float:
        """The monotonic time at which the call must be over (``inf`` without a deadline)."""
        return math.inf if self.total is None else self.start + self.total

    def remaining(self, now: float) -> float:
        """Seconds left (never negative; ``inf`` without a deadline)."""
        return max(self.at - now, 0.0)

    def expired(self, now: float) -> bool:
        """True once no time is left."""
        return now >= self.at

    def attempt_timeout(self, per_try: float | None, now: float) -> float | None:
        """``min(per_try, remaining)``; None when there is neither a per-try timeout nor a deadline."""
        remaining = self.remaining(now)
        if per_try is None:
            return None if math.isinf(remaining) else remaining
        return min(per_try, remaining)

    def fits(self, wait: float, now: float, *, reserve: float = 0.0) -> bool:
        """True when waiting ``wait`` seconds still leaves more than ``reserve`` seconds for an attempt."""
        return now + wait + reserve < self.at


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the request again after ``delay`` seconds."""

    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop; ``error`` is what the caller gets."""

    error: UpstreamError
    reason: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, how long apart, and within what time a logical call may be attempted.

    The defaults are safe for production: 3 attempts, full-jitter backoff from 0.2 s capped at 5 s,
    10 s per attempt, 30 s per call, Retry-After honoured up to 60 s.
    """

    attempts: int = 3
    """Total attempts, the first included (1 disables retries)."""
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.2, multiplier=2.0, cap=5.0, jitter="full"))
    per_try_timeout: float | None = 10.0
    """Timeout of one attempt, seconds; shortened to what the deadline leaves."""
    deadline: float | None = 30.0
    """Time budget of the whole logical call, waits included, seconds."""
    max_retry_after: float = 60.0
    """A Retry-After longer than this fails the call at once, with the retry time attached."""
    min_attempt_time: float = 0.05
    """A retry is not worth starting with less time than this left before the deadline."""
    retry_methods: frozenset[str] = IDEMPOTENT_METHODS
    """Methods retried without an idempotency key."""
    fail_fast: bool = False
    """True: an open circuit or an exhausted retry budget fails the call at once; False: the call waits for
    the breaker's probe (or for budget) as long as its deadline allows, then fails with the retry time."""
    retry_if: Callable[[Outcome], bool] | None = None
    """Decides whether a failed attempt may be retried (replacing the knowledge base's ``retryable``);
    idempotency, the attempt cap, Retry-After and the deadline still apply."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts!r}")
        for name in ("per_try_timeout", "deadline"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
        if not (self.max_retry_after >= 0):
            raise ValueError(f"max_retry_after must be >= 0, got {self.max_retry_after!r}")
        object.__setattr__(self, "retry_methods", frozenset(m.upper() for m in self.retry_methods))

    def start(self, now: float) -> Deadline:
        """The deadline of a logical call that starts ``now``."""
        return Deadline(start=now, total=self.deadline)

    def may_resend(self, method: str, *, idempotency_key: bool, request_sent: bool) -> bool:
        """Whether sending this request again cannot duplicate a side effect."""
        return method.upper() in self.retry_methods or idempotency_key or not request_sent

    def decide(
        self,
        outcome: Outcome,
        *,
        attempt: int,
        method: str,
        deadline: Deadline,
        now: float,
        rng: RandomSource,
        idempotency_key: bool = False,
        previous_delay: float | None = None,
        upstream: str | None = None,
    ) -> Retry | GiveUp:
        """After failed attempt number ``attempt`` (1-based) with ``outcome``: retry, or give up."""
        if outcome.kind is None:
            raise ValueError("decide() is for failed attempts; this outcome is a success")

        def give_up(reason: str, kind: ErrorKind | None = None, retry_after: float | None = None) -> GiveUp:
            error = outcome.to_error(attempts=attempt, upstream=upstream)
            if kind is not None or retry_after is not None:
                error = make_error(
                    kind or error.kind,
                    f"{reason}; last failure: {outcome.explanation}",
                    request_sent=outcome.request_sent,
                    attempts=attempt,
                    retry_after=retry_after if retry_after is not None else error.retry_after,
                    request_id=outcome.request_id,
                    upstream=upstream,
                    hop=outcome.hop,
                    status=outcome.status,
                )
            return GiveUp(error=error, reason=reason)

        retryable = outcome.retryable if self.retry_if is None else bool(self.retry_if(outcome))
        if not retryable:
            return give_up(f"{outcome.kind} is not retryable")
        if not self.may_resend(method, idempotency_key=idempotency_key, request_sent=outcome.request_sent):
            return give_up(f"{method.upper()} without an Idempotency-Key may have reached the upstream; not resent")
        if deadline.expired(now):
            return give_up("the deadline passed", ErrorKind.DEADLINE_EXCEEDED)
        if attempt >= self.attempts:
            return give_up(f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}")

        told = outcome.retry_after
        if told is not None:
            if told > self.max_retry_after:
                return give_up(
                    f"the upstream asks to wait {told:g}s, more than max_retry_after {self.max_retry_after:g}s",
                    retry_after=told,
                )
            if not deadline.fits(told, now, reserve=self.min_attempt_time):
                return give_up(
                    f"the upstream asks to wait {told:g}s, past the deadline ({deadline.remaining(now):.3g}s left)",
                    retry_after=told,
                )
        delay = self.backoff.delay(attempt, rng, previous_delay)
        if told is not None:
            delay = max(delay, told)
            reason = f"{outcome.kind}: Retry-After {told:g}s"
        else:
            reason = f"{outcome.kind}: backoff"
        if not deadline.fits(delay, now, reserve=self.min_attempt_time):
            return give_up(
                f"the next wait ({delay:.3g}s) does not fit before the deadline ({deadline.remaining(now):.3g}s left)"
            )
        return Retry(delay=delay, reason=reason)
