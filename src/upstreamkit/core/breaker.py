"""Circuit breaker: stop calling an upstream that is failing, probe it now and then, close when it heals.

The state machine follows resilience4j's ``CircuitBreaker`` (time-based sliding window, minimum number of
calls, failure-rate and slow-call-rate thresholds, a bounded number of half-open probes; Hystrix's error
percentage over a request-volume threshold is the same idea) with pybreaker's consecutive-failure trip
(``fail_max``) added::

    CLOSED ──(N consecutive failures | failure rate ≥ r | slow-call rate ≥ s, over ≥ min_calls)──▶ OPEN
    OPEN ──(the break elapsed: noticed by state()/allow())──▶ HALF_OPEN
    HALF_OPEN ──(successes_to_close successful probes)──▶ CLOSED   (window and counters cleared)
    HALF_OPEN ──(a probe failed)──▶ OPEN                            (for a longer break)

* CLOSED lets every call through and records each outcome in a sliding time window of ``window``
  seconds, kept as a ring of ``BUCKETS`` buckets so memory is bounded whatever the rate (a bucket expires
  as a whole: the window covers between 90% and 100% of ``window``). Rates are judged only once the
  window holds ``min_calls`` calls. A slow call (``duration > slow_call_duration``) counts toward the
  slow-call rate whether it succeeded or failed, as in resilience4j.
* OPEN lets nothing through: :meth:`CircuitBreaker.allow` returns the seconds until a probe may go, so a
  caller can fail at once or wait for the probe's answer within its deadline (the transports wait).
* The break grows while the upstream stays down (Polly v8's break-duration generator, Envoy's outlier
  ejection time growing with each ejection): the first break is ``open_for``, each failed probe multiplies
  it by ``open_for_growth``, up to ``max_open_for``. A short first break finds a quick recovery quickly;
  the growth keeps the probes of a long outage rare (one per ``max_open_for`` at most).
* HALF_OPEN lets ``half_open_probes`` calls through at once; further callers get a short positive wait
  (:attr:`BreakerConfig.poll`, a tenth of ``open_for``). A permitted call that ends with neither success
  nor failure (a 4xx that says nothing about the upstream's health) must be given back with
  :meth:`CircuitBreaker.release`.

Outcomes that arrive while OPEN, or while HALF_OPEN with no probe in flight, come from calls let through
before the breaker tripped; they say nothing new and are ignored. So are outcomes, in HALF_OPEN, of calls
that started (``now - duration``) before it began: a call let through while CLOSED that ends after the
breaker went HALF_OPEN must neither close it, nor reopen it, nor give back a probe slot it never held.

Pure and thread-safe: time is always passed in (monotonic seconds), state is guarded by one lock held for
a few arithmetic operations, and ``on_transition`` is called after the lock is released. A callback that
raises is ignored on purpose: a broken metrics hook must not leave the breaker half-updated or fail the call
it observes. Transitions from concurrent threads may reach the callback out of order; the ``transitions``
history is recorded under the lock and is always in order.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BUCKETS", "HISTORY", "BreakerConfig", "BreakerState", "BreakerTransition", "CircuitBreaker"]

BUCKETS = 10
"""Buckets per sliding window: the window's resolution."""
HISTORY = 100
"""How many transitions :attr:`CircuitBreaker.transitions` keeps."""


class BreakerState(StrEnum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_CLOSED = BreakerState.CLOSED
"""For the lock-free reads every call makes: on Python 3.11 an Enum member read through its class runs a
descriptor (about as costly as a Python call); a module constant is a plain global."""


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _fraction(value: float) -> bool:
    return math.isfinite(value) and 0 < value <= 1


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker trips and how it recovers.

    Attributes:
        consecutive_failures: trip after this many failures in a row (None: off).
        failure_rate: trip when failures/calls in the window reach this fraction (None: off).
        window: the sliding time window of the rates, in seconds.
        min_calls: the failure and slow-call rates are judged only with at least this many calls in the window.
        slow_call_duration: a call slower than this many seconds counts as slow (None: off).
        slow_call_rate: trip when slow calls/calls in the window reach this fraction.
        open_for: how long the first OPEN lasts before a probe is allowed, in seconds.
        open_for_growth: each failed probe multiplies the break by this (1: a fixed break).
        max_open_for: the longest break, in seconds.
        half_open_probes: how many probes may be in flight at once in HALF_OPEN.
        successes_to_close: how many successful probes close the breaker.
    """

    consecutive_failures: int | None = 5
    failure_rate: float | None = 0.5
    window: float = 30.0
    min_calls: int = 10
    slow_call_duration: float | None = None
    slow_call_rate: float = 1.0
    open_for: float = 0.5
    open_for_growth: float = 1.5
    max_open_for: float = 30.0
    half_open_probes: int = 1
    successes_to_close: int = 1

    def __post_init__(self) -> None:
        checks = (
            ("consecutive_failures", self.consecutive_failures is None or self.consecutive_failures >= 1, ">= 1"),
            ("failure_rate", self.failure_rate is None or _fraction(self.failure_rate), "in (0, 1]"),
            ("window", _positive(self.window), "a positive number of seconds"),
            ("min_calls", self.min_calls >= 1, ">= 1"),
            ("slow_call_duration", self.slow_call_duration is None or _positive(self.slow_call_duration), "> 0"),
            ("slow_call_rate", _fraction(self.slow_call_rate), "in (0, 1]"),
            ("open_for", _positive(self.open_for), "a positive number of seconds"),
            ("open_for_growth", math.isfinite(self.open_for_growth) and self.open_for_growth >= 1, ">= 1"),
            ("max_open_for", _positive(self.max_open_for) and self.max_open_for >= self.open_for, ">= open_for"),
            ("half_open_probes", self.half_open_probes >= 1, ">= 1"),
            ("successes_to_close", self.successes_to_close >= 1, ">= 1"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"BreakerConfig.{name} must be {expected}, got {getattr(self, name)!r}")

    @property
    def poll(self) -> float:
        """How long a caller that finds the probe slots taken should wait before asking again."""
        return 0.1 * self.open_for

    def break_after(self, failed_probes: int) -> float:
        """The length of the break after ``failed_probes`` probes failed in a row (0: the first break)."""
        if self.open_for_growth == 1 or failed_probes <= 0:
            return self.open_for
        # Total for any count: the exponent is clamped before it can overflow.
        exponent = min(failed_probes, math.ceil(math.log(self.max_open_for / self.open_for, self.open_for_growth)) + 1)
        return min(self.open_for * self.open_for_growth**exponent, self.max_open_for)


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One change of state: which breaker, from what to what, why, and when (monotonic seconds)."""

    name: str
    old: BreakerState
    new: BreakerState
    reason: str
    at: float


class CircuitBreaker:
    """A thread-safe circuit breaker for one upstream (see the module docstring for the state machine)."""

    def __init__(
        self,
        config: BreakerConfig = BreakerConfig(),
        *,
        name: str = "",
        on_transition: Callable[[BreakerTransition], None] | None = None,
    ) -> None:
        """Create a closed breaker; ``on_transition`` is called (outside the lock) on every change of state."""
        self.config = config
        self.name = name
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._width = config.window / BUCKETS
        self._history: deque[BreakerTransition] = deque(maxlen=HISTORY)
        self._clear()

    def _clear(self) -> None:
        self._state = BreakerState.CLOSED
        self._since = -math.inf  # when the current state began
        self._opened_at = -math.inf
        self._break = self.config.open_for  # the current break's length
        self._failed_probes = 0  # failed probes since the breaker last closed
        self._probes = 0  # probes in flight (HALF_OPEN)
        self._probe_successes = 0
        self._consecutive = 0
        self._head = -math.inf
        # Ring of buckets: slot i counts the outcomes of bucket number _stamps[i].
        self._stamps: list[float] = [-math.inf] * BUCKETS
        self._calls = [0] * BUCKETS
        self._failures = [0] * BUCKETS
        self._slow = [0] * BUCKETS

    def state(self, now: float) -> BreakerState:
        """The state at ``now``; an OPEN breaker whose ``open_for`` has passed becomes HALF_OPEN here."""
        with self._lock:
            fired = self._advance(now)
            state = self._state
        self._notify(fired)
        return state

    def allow(self, now: float) -> float | None:
        """None: the call may go (in HALF_OPEN it takes a probe slot). Otherwise seconds until a probe may go."""
        if self._closed():
            return None  # the hot path: a closed breaker leaves CLOSED only under the lock, in record_*
        with self._lock:
            fired = self._advance(now)
            if self._state is BreakerState.CLOSED:
                wait = None
            elif self._state is BreakerState.OPEN:
                wait = self._opened_at + self._break - now
            elif self._probes < self.config.half_open_probes:
                self._probes += 1
                wait = None
            else:
                wait = self.config.poll
        self._notify(fired)
        return wait

    def record_success(self, now: float, duration: float) -> None:
        """A permitted call succeeded after ``duration`` seconds (slow successes count toward the slow rate)."""
        slow_after = self.config.slow_call_duration
        # The hot path, without the lock: closed, fast, and in the same window bucket as the last call. A
        # failure recorded at the same instant may lose this call's count or see its streak reset: both only
        # err toward what a success would have done a microsecond later, and every transition stays locked.
        head = self._head
        if self._state is _CLOSED and (slow_after is None or duration <= slow_after) and now // self._width == head:
            self._consecutive = 0
            self._calls[int(head % BUCKETS)] += 1
            return
        with self._lock:
            fired = self._advance(now)
            if self._state is BreakerState.CLOSED:
                self._consecutive = 0
                self._record(now, failed=False, duration=duration)
                slow_after = self.config.slow_call_duration
                if slow_after is not None and duration > slow_after:  # a fast success cannot raise any rate
                    fired += self._check_rates(now, failed=False)
            elif self._state is BreakerState.HALF_OPEN and self._probes > 0 and now - duration >= self._since:
                self._probes -= 1
                self._probe_successes += 1
                needed = self.config.successes_to_close
                if self._probe_successes >= needed:
                    reason = "probe succeeded" if needed == 1 else f"{needed} probes succeeded"
                    self._clear()
                    fired.append(self._transition(BreakerState.HALF_OPEN, BreakerState.CLOSED, reason, now))
        self._notify(fired)

    def record_failure(self, now: float, duration: float, *, hold: float | None = None) -> None:
        """A permitted call failed in a way that says the upstream is unhealthy, after ``duration`` seconds.

        ``hold``: the upstream said how long it will be unavailable (a 503's Retry-After). The breaker then
        opens at once, for at least that long (at most ``max_open_for``): one probe after the wait the
        upstream asked for, instead of every waiting caller at once.
        """
        if hold is not None and not (math.isfinite(hold) and hold > 0):
            hold = None
        with self._lock:
            fired = self._advance(now)
            if self._state is BreakerState.CLOSED:
                self._consecutive += 1
                self._record(now, failed=True, duration=duration)
                limit = self.config.consecutive_failures
                if hold is not None:
                    fired.append(self._open(now, f"the upstream is unavailable for {hold:g}s", hold=hold))
                elif limit is not None and self._consecutive >= limit:
                    n = self._consecutive
                    fired.append(self._open(now, f"{n} consecutive failure{'' if n == 1 else 's'}"))
                else:
                    fired += self._check_rates(now, failed=True)
            elif self._state is BreakerState.HALF_OPEN and self._probes > 0 and now - duration >= self._since:
                self._failed_probes += 1
                fired.append(self._open(now, "probe failed", hold=hold))
        self._notify(fired)

    def release(self, now: float, started: float | None = None) -> None:
        """A permitted call ended with neither success nor failure: give its half-open probe slot back.

        ``started``: when the call was let through; a call let through before HALF_OPEN began held no slot.
        """
        with self._lock:
            fired = self._advance(now)
            if (
                self._state is BreakerState.HALF_OPEN and self._probes > 0
                and (started is None or started >= self._since)
            ):  # fmt: skip
                self._probes -= 1
        self._notify(fired)

    @property
    def transitions(self) -> tuple[BreakerTransition, ...]:
        """The last ``HISTORY`` transitions, oldest first."""
        with self._lock:
            return tuple(self._history)

    def reset(self) -> None:
        """Back to CLOSED with an empty window and history; no callback is called (there is no ``now``)."""
        with self._lock:
            self._clear()
            self._history.clear()

    def probing(self, now: float) -> bool:
        """True when the breaker is not CLOSED at ``now``: a call it lets through is one of its probes."""
        return not self._closed() and self.state(now) is not BreakerState.CLOSED

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._state.value!r})"

    def _closed(self) -> bool:
        return self._state is _CLOSED

    @property
    def is_closed(self) -> bool:
        """True while CLOSED (read without the lock: a hint for a fast path, decided again under it)."""
        return self._state is _CLOSED

    # Internals: called with the lock held; they return the transitions to announce once it is released.

    def _advance(self, now: float) -> list[BreakerTransition]:
        if self._state is BreakerState.OPEN and now >= self._opened_at + self._break:
            self._state = BreakerState.HALF_OPEN
            self._probes = 0
            self._probe_successes = 0
            reason = f"open for {self._break:g}s"
            return [self._transition(BreakerState.OPEN, BreakerState.HALF_OPEN, reason, now)]
        return []

    def _open(self, now: float, reason: str, *, hold: float | None = None) -> BreakerTransition:
        old = self._state
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._break = self.config.break_after(self._failed_probes)
        if hold is not None:
            self._break = min(max(self._break, hold), max(self.config.max_open_for, self._break))
        self._probes = 0
        self._probe_successes = 0
        return self._transition(old, BreakerState.OPEN, reason, now)

    def _transition(self, old: BreakerState, new: BreakerState, reason: str, now: float) -> BreakerTransition:
        self._since = now
        transition = BreakerTransition(self.name, old, new, reason, now)
        self._history.append(transition)
        return transition

    def _record(self, now: float, *, failed: bool, duration: float) -> None:
        bucket = math.floor(now / self._width) if math.isfinite(now) else self._head
        if bucket < self._head or not math.isfinite(bucket):  # a late clock reading counts as the newest
            bucket = self._head if math.isfinite(self._head) else 0
        self._head = bucket
        slot = int(bucket % BUCKETS)
        if self._stamps[slot] != bucket:
            self._stamps[slot] = bucket
            self._calls[slot] = self._failures[slot] = self._slow[slot] = 0
        self._calls[slot] += 1
        self._failures[slot] += failed
        slow_after = self.config.slow_call_duration
        self._slow[slot] += slow_after is not None and duration > slow_after

    def _check_rates(self, now: float, *, failed: bool) -> list[BreakerTransition]:
        config = self.config
        if config.failure_rate is None and config.slow_call_duration is None:
            return []
        oldest = self._head - BUCKETS
        calls = failures = slow = 0
        for stamp, c, f, s in zip(self._stamps, self._calls, self._failures, self._slow, strict=True):
            if stamp > oldest:
                calls, failures, slow = calls + c, failures + f, slow + s
        if calls < config.min_calls:
            return []
        over = f"over {calls} calls in {config.window:g}s"
        if failed and config.failure_rate is not None and failures >= config.failure_rate * calls:
            return [self._open(now, f"failure rate {failures / calls:.0%} {over}")]
        if config.slow_call_duration is not None and slow >= config.slow_call_rate * calls:
            reason = f"slow-call rate {slow / calls:.0%} {over} (slower than {config.slow_call_duration:g}s)"
            return [self._open(now, reason)]
        return []

    def _notify(self, fired: list[BreakerTransition]) -> None:
        callback = self._on_transition
        if callback is None:
            return
        for transition in fired:
            # A raising callback is ignored by design (module docstring): the breaker's state is already consistent.
            with contextlib.suppress(Exception):
                callback(transition)
