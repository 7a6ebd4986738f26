"""The core's breaker, budget and limiter, taught to share: what they learn is pushed, what others learnt is adopted.

Each class is the core object itself (the decisions stay local, pure and lock-guarded, on the hot path with no
I/O), plus a few counters of what happened since the last synchronisation and an ``adopt`` step for the shared
state that comes back (:mod:`upstreamkit.state.redis` does the I/O, ``sync.lua`` the shared arithmetic). While
the shared state is reachable (``online``), an open breaker waits for the shared state to grant it the next
probe, so N processes send one probe, not N; offline, each behaves exactly as the core object it is.

:func:`payload` and :func:`adopt` are pure: the thread driver (sync ``redis``) and the asyncio driver
(``redis.asyncio``) call the same two functions around their one round trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from upstreamkit.core.breaker import BreakerConfig, BreakerState, BreakerTransition, CircuitBreaker
from upstreamkit.core.budget import BUCKETS, BudgetConfig, RetryBudget
from upstreamkit.core.ratelimit import RateLimiter
from upstreamkit.state.memory import UpstreamState

__all__ = ["Reply", "SharedBreaker", "SharedBudget", "SharedLimiter", "adopt", "idle", "payload"]

_MILLI = 1000


class SharedBreaker(CircuitBreaker):
    """A :class:`CircuitBreaker` whose OPEN → HALF_OPEN step is granted by the shared state while it is online."""

    def __init__(self, config: BreakerConfig, *, name: str, on_transition: object, online: list[bool]) -> None:
        super().__init__(config, name=name, on_transition=on_transition)  # type: ignore[arg-type]
        self._online = online  # one cell shared by every breaker of a store: flipped by the driver
        self._adopting = False
        self.epoch = 0
        self.gen = -1
        self.calls = self.failures = self.slow = 0
        self.reset_streak = False
        self.probe = 0  # 1: a granted probe succeeded; -1: it failed (since the last push)
        self.probe_hold = 0.0
        self.version = 0  # bumped by every local transition: a reply older than one is not adopted

    def record_success(self, now: float, duration: float) -> None:
        """As the core's, counting the outcome for the shared window."""
        if self._state is BreakerState.CLOSED:
            # Unlocked increments: a race loses a count of thousands, as the core's own fast path does.
            self.calls += 1
            self.reset_streak = True
            slow_after = self.config.slow_call_duration
            self.slow += slow_after is not None and duration > slow_after
        super().record_success(now, duration)

    def record_failure(self, now: float, duration: float, *, hold: float | None = None) -> None:
        """As the core's, counting the outcome for the shared window."""
        if self._state is BreakerState.CLOSED:
            self.calls += 1
            self.failures += 1
            slow_after = self.config.slow_call_duration
            self.slow += slow_after is not None and duration > slow_after
        super().record_failure(now, duration, hold=hold)

    def allow(self, now: float) -> float | None:
        """As the core's; an open breaker whose break is over waits for the shared grant (a ``poll`` at a time)."""
        wait = super().allow(now)
        return self.config.poll if wait is not None and wait <= 0 else wait

    def _advance(self, now: float) -> list[BreakerTransition]:
        if self._online[0]:
            return []  # the shared state decides who probes; its grant arrives through adopt()
        return super()._advance(now)

    def _transition(self, old: BreakerState, new: BreakerState, reason: str, now: float) -> BreakerTransition:
        if not self._adopting:
            self.version += 1
            if old is BreakerState.HALF_OPEN:
                self.probe = 1 if new is BreakerState.CLOSED else -1
                self.probe_hold = self._break
        return super()._transition(old, new, reason, now)

    @property
    def streak(self) -> int:
        """Failures in a row now (while closed)."""
        return self._consecutive

    def local_open(self, now: float) -> float:
        """Seconds left of a break this breaker holds (0 when closed): pushed, so Redis learns it on re-joining."""
        if self._state is BreakerState.CLOSED:
            return 0.0
        return max(self._opened_at + self._break - now, 0.001)

    def adopt_shared(self, now: float, state: int, left: float, failed_probes: int, streak: int) -> None:
        """Take the shared state: 0 closed, 1 open for ``left`` more seconds, 2 the next probe is ours."""
        with self._lock:
            self._adopting = True
            fired: list[BreakerTransition] = []
            try:
                old = self._state
                if state == 0:
                    if old is not BreakerState.CLOSED:
                        self._clear()
                        fired.append(self._transition(old, BreakerState.CLOSED, "closed by the shared state", now))
                    self._consecutive = max(self._consecutive, streak)
                elif state == 1:
                    self._failed_probes = failed_probes
                    if old is not BreakerState.OPEN:
                        fired.append(self._open(now, "opened by the shared state"))
                    self._opened_at, self._break = now, max(left, 0.0)
                elif old is not BreakerState.HALF_OPEN:
                    self._failed_probes = failed_probes
                    if old is BreakerState.CLOSED:
                        fired.append(self._open(now, "opened by the shared state"))
                    self._state = BreakerState.HALF_OPEN
                    self._probes = self._probe_successes = 0
                    fired.append(self._transition(BreakerState.OPEN, BreakerState.HALF_OPEN, "probe granted", now))
            finally:
                self._adopting = False
        self._notify(fired)


class SharedBudget(RetryBudget):
    """A :class:`RetryBudget` whose balance counts every process's deposits and withdrawals, and whose retry
    throttle is one bucket for all."""

    __slots__ = ("deposits", "remote_deposits", "remote_withdrawals", "token_delta", "withdrawals")

    def __init__(self, config: BudgetConfig) -> None:
        super().__init__(config)
        self.deposits = self.withdrawals = 0
        self.token_delta = 0.0
        self.remote_deposits = self.remote_withdrawals = 0

    def record_request(self, now: float) -> None:
        """As the core's, counted for the shared window."""
        self.deposits += 1
        super().record_request(now)

    def try_withdraw(self, now: float) -> bool:
        """As the core's, over the shared balance."""
        if super().try_withdraw(now):
            self.withdrawals += 1
            return True
        return False

    def record_success(self) -> None:
        """As the core's, the change pushed to the shared throttle."""
        before = self._tokens
        super().record_success()
        self.token_delta += self._tokens - before

    def record_failure(self) -> None:
        """As the core's, the change pushed to the shared throttle."""
        before = self._tokens
        super().record_failure()
        self.token_delta += self._tokens - before

    def _balance(self) -> float:
        return super()._balance() + self._config.percent * self.remote_deposits - self.remote_withdrawals

    def local_sums(self, now: float) -> tuple[int, int]:
        """This process's deposits and withdrawals still in the window."""
        with self._lock:
            self._slot(now)
            oldest = self._head - BUCKETS
            live = [i for i, stamp in enumerate(self._stamps) if stamp > oldest]
            return sum(self._deposits[i] for i in live), sum(self._withdrawals[i] for i in live)

    def adopt_shared(self, now: float, deposits: int, withdrawals: int, tokens: float | None) -> None:
        """Take the shared window's totals (others' = totals - ours) and the shared throttle."""
        mine_dep, mine_wd = self.local_sums(now)
        self.remote_deposits = max(deposits - mine_dep, 0)
        self.remote_withdrawals = max(withdrawals - mine_wd, 0)
        if tokens is not None and self._config.max_tokens is not None:
            self._tokens = tokens + self.token_delta  # what this process did since the push stays counted


class SharedLimiter(RateLimiter):
    """A :class:`RateLimiter` whose blocks (a Retry-After, an exhausted quota) hold every process."""

    __slots__ = ("pushed",)

    def __init__(self, rate: float | None, burst: int, *, learn: bool) -> None:
        super().__init__(rate, burst, learn=learn)
        self.pushed = -math.inf

    def local_block(self, now: float) -> float:
        """Seconds of a block learnt here and not pushed yet (0: none)."""
        until = max(self._blocked, self._held)
        return until - now if until > self.pushed and until > now else 0.0

    def adopt_shared(self, now: float, left: float) -> None:
        """Take the shared block (never shortening one of ours)."""
        if left > 0:
            with self._lock:
                self._blocked = max(self._blocked, now + left)
            self.pushed = max(self.pushed, now + left)


def _ms(seconds: float) -> int:
    return max(math.ceil(seconds * _MILLI), 0) if math.isfinite(seconds) else 0


@dataclass(slots=True)
class Sent:
    """What one push carried, subtracted from the counters once it is out (pushed or lost with Redis)."""

    calls: int = 0
    failures: int = 0
    slow: int = 0
    deposits: int = 0
    withdrawals: int = 0
    tokens: float = 0.0
    version: int = 0


def payload(state: UpstreamState, me: str, now: float, now_ms: int = 0) -> tuple[list[str | int], Sent]:
    """The script's arguments for one upstream (the order is ``sync.lua``'s), and what they carry."""
    breaker, budget, limiter = state.breaker, state.budget, state.limiter
    sent = Sent()
    args: list[str | int] = [me, now_ms]
    if isinstance(breaker, SharedBreaker):
        c = breaker.config
        sent.calls, sent.failures, sent.slow = breaker.calls, breaker.failures, breaker.slow
        sent.version = breaker.version
        args += [
            1, c.consecutive_failures or 0, _ms(c.failure_rate or 0.0),
            _ms(c.slow_call_rate) if c.slow_call_duration is not None else 0, c.min_calls, _ms(c.window),
            _ms(c.open_for), _ms(c.open_for_growth), _ms(c.max_open_for), _ms(max(4 * c.open_for, 1.0)),
            breaker.epoch, breaker.gen, sent.calls, sent.failures, sent.slow, breaker.streak,
            int(breaker.reset_streak), _ms(breaker.local_open(now)), breaker.probe, _ms(breaker.probe_hold),
        ]  # fmt: skip
        breaker.reset_streak = False
        breaker.probe = 0
    else:
        args += [0] * 20
    if isinstance(budget, SharedBudget):
        c2 = budget.config
        sent.deposits, sent.withdrawals, sent.tokens = budget.deposits, budget.withdrawals, budget.token_delta
        args += [
            1, _ms(c2.ttl), sent.deposits, sent.withdrawals, round(sent.tokens * _MILLI),
            _ms(c2.max_tokens) if c2.max_tokens is not None else 0,
        ]  # fmt: skip
    else:
        args += [0] * 6
    args.append(_ms(limiter.local_block(now)) if isinstance(limiter, SharedLimiter) else 0)
    return args, sent


def idle(args: list[str | int]) -> bool:
    """A payload with nothing to tell: no breaker or a closed one already in step with the shared state (epoch
    known), no outcome, deposit, withdrawal, throttle change or block to push."""
    if args[2] == 1 and (args[12] == 0 or any(args[i] for i in (14, 19, 20))):
        return False
    return not (args[22] == 1 and any(args[i] for i in (24, 25, 26))) and not args[28]


def settle_sent(state: UpstreamState, sent: Sent) -> None:
    """Take what a push carried off the counters (whether Redis got it or not: deltas are not replayed later)."""
    breaker, budget = state.breaker, state.budget
    if isinstance(breaker, SharedBreaker):
        breaker.calls -= sent.calls
        breaker.failures -= sent.failures
        breaker.slow -= sent.slow
    if isinstance(budget, SharedBudget):
        budget.deposits -= sent.deposits
        budget.withdrawals -= sent.withdrawals
        budget.token_delta -= sent.tokens


@dataclass(frozen=True, slots=True)
class Reply:
    """The script's answer, decoded (times in seconds from now)."""

    epoch: int
    gen: int
    breaker: int
    left: float
    failed_probes: int
    streak: int
    deposits: int
    withdrawals: int
    tokens: float | None
    block: float

    @classmethod
    def of(cls, raw: list[int]) -> Reply:
        """Decode the script's list of integers (bytes or str with ``decode_responses``: both are ints here)."""
        v = [int(x) for x in raw]
        tokens = v[9] / _MILLI if v[9] >= 0 else None
        return cls(v[1], v[2], v[3], v[4] / _MILLI, v[5], v[6], v[7], v[8], tokens, v[10] / _MILLI)


def adopt(state: UpstreamState, reply: Reply, sent: Sent, now: float) -> None:
    """Bring the local objects to the shared state; a breaker that moved on its own since the push keeps its
    news for the next push instead of being overwritten."""
    breaker, budget, limiter = state.breaker, state.budget, state.limiter
    if isinstance(breaker, SharedBreaker) and breaker.version == sent.version:
        breaker.epoch, breaker.gen = reply.epoch, reply.gen
        breaker.adopt_shared(now, reply.breaker, reply.left, reply.failed_probes, reply.streak)
    if isinstance(budget, SharedBudget) and reply.deposits >= 0:
        budget.adopt_shared(now, reply.deposits, reply.withdrawals, reply.tokens)
    if isinstance(limiter, SharedLimiter):
        limiter.adopt_shared(now, reply.block)
