"""Retry budget: retries may be at most a fraction of recent first attempts, plus a small floor per second.

A retry policy alone multiplies load during an outage: with 3 retries, every logical request becomes 4
attempts exactly when the upstream can least afford them. A budget caps the *ratio* instead, per upstream:

    balance(now) = percent * requests_in_window + min_per_second * ttl - retries_in_window

A logical request's first attempt deposits into the window (:meth:`RetryBudget.record_request`); a retry
may go only when the balance is at least one, and then withdraws one (:meth:`RetryBudget.try_withdraw`).
Deposits and withdrawals both expire after ``ttl`` seconds, so the floor (``min_per_second * ttl``)
renews itself and a quiet client can still retry its rare failures. During a total outage with ``N``
logical requests over ``T`` seconds the upstream therefore sees at most about
``N * (1 + percent) + min_per_second * (T + ttl)`` attempts: about 1.2 per logical request by default.

This is Finagle's ``RetryBudget`` (``ttl``, ``minRetriesPerSec``, ``percentCanRetry``; see
finagle-core ``com.twitter.finagle.service.RetryBudget`` and its ``LeakyBucket`` over a ``WindowedAdder``)
and what Envoy's ``retry_budget`` (``budget_percent``, ``min_retry_concurrency``) approximates with
concurrency. Like Finagle's ``WindowedAdder``, the window is a ring of ``BUCKETS`` buckets, so memory is
bounded whatever the request rate; a bucket expires as a whole, so the window covers between
``(BUCKETS - 1) / BUCKETS * ttl`` and ``ttl`` seconds of history. Written by hand because no maintained
Python library offers a clock-injected budget; it is thirty lines of arithmetic.

The ratio alone does not bite at the start of an outage: the first attempts of healthy traffic from before
it still sit in the window (at 160 calls/s, ten seconds of them finance 320 retries into a dead upstream).
So the budget also keeps gRPC's retry throttle (gRFC A6, ``retryThrottling``: ``maxTokens``,
``tokenRatio``): a bucket of ``max_tokens`` that every failed attempt drains by one and every success
refills by ``token_ratio``; retries go only while it holds more than half. Whatever came before, a few
failures in a row stop the retries, and a recovering upstream earns them back with its successes. Its
memory is bounded by ``max_tokens``, not by time, which is exactly what the ratio lacks.

Pure: every method takes ``now`` (monotonic seconds) and none reads the clock. A ``now`` older than one
already seen (two threads reading the clock in one order and arriving in the other) counts in the newest
bucket, so time never runs backwards inside the window.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

__all__ = ["BUCKETS", "BudgetConfig", "RetryBudget"]

BUCKETS = 10
"""Buckets per ``ttl``: the window's resolution (Finagle's ``WindowedAdder`` uses 10 slices too)."""


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """How many retries an upstream may receive, relative to its recent traffic.

    Attributes:
        ttl: seconds of history that count; deposits and withdrawals expire after this long.
        percent: retries allowed as a fraction of first attempts in the window (0.2: one retry per five requests).
        min_per_second: a floor of retries per second even at low traffic (``ttl * min_per_second`` per window).
        max_tokens: the retry throttle's bucket (None: no throttle); retries go while it holds more than half.
        token_ratio: what a success puts back in the bucket (a failed attempt takes 1 out). With 1, retries
            stop once failures outnumber successes by ``max_tokens / 2`` in a row.
    """

    ttl: float = 10.0
    percent: float = 0.2
    min_per_second: float = 1.0
    max_tokens: float | None = 10.0
    token_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ttl) and self.ttl > 0):
            raise ValueError(f"BudgetConfig.ttl must be a positive number of seconds, got {self.ttl!r}")
        if not (math.isfinite(self.percent) and self.percent >= 0):
            raise ValueError(f"BudgetConfig.percent must be a fraction >= 0, got {self.percent!r}")
        if not (math.isfinite(self.min_per_second) and self.min_per_second >= 0):
            raise ValueError(f"BudgetConfig.min_per_second must be >= 0, got {self.min_per_second!r}")
        if self.max_tokens is not None and not (math.isfinite(self.max_tokens) and self.max_tokens > 0):
            raise ValueError(f"BudgetConfig.max_tokens must be a positive number or None, got {self.max_tokens!r}")
        if not (math.isfinite(self.token_ratio) and self.token_ratio > 0):
            raise ValueError(f"BudgetConfig.token_ratio must be > 0, got {self.token_ratio!r}")


class RetryBudget:
    """A thread-safe retry budget for one upstream (see the module docstring for the algorithm)."""

    __slots__ = (
        "_config", "_deposits", "_head", "_lock", "_reserve", "_stamps", "_tokens", "_width", "_withdrawals",
    )  # fmt: skip

    def __init__(self, config: BudgetConfig = BudgetConfig()) -> None:
        """Create an empty budget: only the floor (``min_per_second * ttl``) is available at first."""
        self._config = config
        self._width = config.ttl / BUCKETS
        self._reserve = config.min_per_second * config.ttl
        self._lock = threading.Lock()
        # Ring of buckets: slot i holds the counts of bucket number _stamps[i] (bucket n covers
        # [n * width, (n + 1) * width)). A slot whose stamp has fallen out of the window is stale.
        self._stamps = [-math.inf] * BUCKETS
        self._deposits = [0] * BUCKETS
        self._withdrawals = [0] * BUCKETS
        self._head = -math.inf
        self._tokens = config.max_tokens if config.max_tokens is not None else math.inf

    @property
    def config(self) -> BudgetConfig:
        """The configuration this budget was made with."""
        return self._config

    def record_request(self, now: float) -> None:
        """Deposit: a logical request's first attempt is about to be sent (retries are not deposits)."""
        head = self._head
        if now // self._width == head:
            # The hot path, without the lock: the newest bucket is current. Two threads racing here may lose
            # one deposit of thousands, which errs on the side of fewer retries.
            self._deposits[int(head % BUCKETS)] += 1
            return
        with self._lock:
            slot = self._slot(now)
            self._deposits[slot] += 1

    def record_success(self) -> None:
        """An attempt succeeded: the throttle's bucket gains ``token_ratio`` (up to ``max_tokens``)."""
        limit = self._config.max_tokens
        if limit is not None and self._tokens < limit:
            with self._lock:
                self._tokens = min(self._tokens + self._config.token_ratio, limit)

    def record_failure(self) -> None:
        """An attempt failed in a way that says the upstream is unhealthy: the bucket loses one token."""
        if self._config.max_tokens is not None:
            with self._lock:
                self._tokens = max(self._tokens - 1.0, 0.0)

    @property
    def throttled(self) -> bool:
        """True while the retry throttle holds retries back (half its bucket or less is left)."""
        limit = self._config.max_tokens
        return limit is not None and self._tokens <= limit / 2

    def try_withdraw(self, now: float) -> bool:
        """May one retry be sent now? True consumes it from the budget; False means the budget is exhausted."""
        with self._lock:
            slot = self._slot(now)
            if self.throttled or self._balance() < 1.0:
                return False
            self._withdrawals[slot] += 1
            return True

    def balance(self, now: float) -> float:
        """Retries available now (may be fractional; a retry needs at least 1). For metrics and tests."""
        with self._lock:
            self._slot(now)
            return self._balance()

    def __repr__(self) -> str:
        c = self._config
        return (
            f"RetryBudget(ttl={c.ttl:g}, percent={c.percent:g}, min_per_second={c.min_per_second:g}, "
            f"max_tokens={c.max_tokens!r}, token_ratio={c.token_ratio:g})"
        )

    # Internals: called with the lock held.

    def _slot(self, now: float) -> int:
        """Advance the window to ``now`` and return the ring slot of its bucket, cleared if it was stale."""
        bucket = math.floor(now / self._width) if math.isfinite(now) else self._head
        if bucket < self._head or not math.isfinite(bucket):  # late or odd clock reading: count it as the newest
            bucket = self._head if math.isfinite(self._head) else 0
        self._head = bucket
        slot = int(bucket % BUCKETS)
        if self._stamps[slot] != bucket:
            self._stamps[slot] = bucket
            self._deposits[slot] = 0
            self._withdrawals[slot] = 0
        return slot

    def _balance(self) -> float:
        oldest = self._head - BUCKETS
        deposits = withdrawals = 0
        for stamp, deposited, withdrawn in zip(self._stamps, self._deposits, self._withdrawals, strict=True):
            if stamp > oldest:
                deposits += deposited
                withdrawals += withdrawn
        return self._config.percent * deposits + self._reserve - withdrawals
