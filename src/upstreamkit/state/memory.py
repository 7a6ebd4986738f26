"""In-process per-upstream state: one breaker, one retry budget and one rate limiter per upstream.

Shared by every request of a transport (and by several transports when the same store is passed to them),
so that the budget and the breaker see all the traffic to an upstream, not one call's.

Bounded: a webhook sender or a crawler calls thousands of hosts, once each. A state unused for
``idle_for`` seconds is forgotten, and beyond ``max_upstreams`` states the least recently used are; a
state whose breaker is not closed, or whose retry throttle is holding retries back, is in the middle of an
incident and is never forgotten (the store may then exceed its cap until the incident ends).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from upstreamkit.core.breaker import BreakerConfig, BreakerState, BreakerTransition, CircuitBreaker
from upstreamkit.core.budget import BudgetConfig, RetryBudget
from upstreamkit.core.ratelimit import RateLimiter

__all__ = ["MemoryStateStore", "UpstreamState"]


@dataclass(slots=True)
class UpstreamState:
    """The live state kept for one upstream."""

    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    limiter: RateLimiter
    last_used: float = field(default=0.0)
    """Monotonic seconds of the last call that asked for this state."""

    def in_incident(self, now: float) -> bool:
        """True while forgetting this state would lose what an ongoing incident taught it."""
        breaker, budget = self.breaker, self.budget
        if breaker is not None and breaker.state(now) is not BreakerState.CLOSED:
            return True
        return (budget is not None and budget.throttled) or self.limiter.holding(now)


class MemoryStateStore:
    """Creates each upstream's state on first use, from one set of configs; forgets idle ones."""

    def __init__(
        self,
        *,
        breaker: BreakerConfig | None = None,
        budget: BudgetConfig | None = None,
        rate: float | None = None,
        burst: int = 1,
        learn_rate_limits: bool = True,
        on_transition: Callable[[BreakerTransition], None] | None = None,
        max_upstreams: int = 1024,
        idle_for: float = 600.0,
    ) -> None:
        """Args (beyond the per-upstream configs): ``max_upstreams`` states at most (incidents excepted),
        and a state unused for ``idle_for`` seconds may be forgotten."""
        if max_upstreams < 1:
            raise ValueError(f"max_upstreams must be >= 1, got {max_upstreams!r}")
        if not idle_for > 0:
            raise ValueError(f"idle_for must be a positive number of seconds, got {idle_for!r}")
        self.breaker_config = breaker
        self.budget_config = budget
        self.rate = rate
        self.burst = burst
        self.learn_rate_limits = learn_rate_limits
        self.on_transition = on_transition
        self.max_upstreams = max_upstreams
        self.idle_for = idle_for
        self._states: dict[str, UpstreamState] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def get(self, upstream: str, now: float = 0.0) -> UpstreamState:
        """The state of ``upstream`` (``scheme://host:port``) at monotonic ``now``, created when first asked for."""
        state = self._states.get(upstream)
        if state is not None:
            state.last_used = now
            return state
        with self._lock:
            state = self._states.get(upstream)
            if state is None:
                if len(self._states) >= self.max_upstreams or now >= self._next_sweep:
                    self._sweep(now)
                state = self._states[upstream] = self._new_state(upstream, now)
        return state

    def _new_state(self, upstream: str, now: float) -> UpstreamState:
        """A fresh state for ``upstream`` (a shared store makes the objects that share)."""
        return UpstreamState(
            breaker=CircuitBreaker(self.breaker_config, name=upstream, on_transition=self._announce)
            if self.breaker_config is not None
            else None,
            budget=RetryBudget(self.budget_config) if self.budget_config is not None else None,
            limiter=RateLimiter(self.rate, self.burst, learn=self.learn_rate_limits),
            last_used=now,
        )

    def upstreams(self) -> list[str]:
        """The upstreams whose state is kept."""
        return list(self._states)

    def forget(self, upstream: str) -> None:
        """Drop the state of ``upstream`` (it is made afresh when next asked for)."""
        with self._lock:
            self._states.pop(upstream, None)

    def _announce(self, transition: BreakerTransition) -> None:
        # Looked up at each transition, so a callback installed after a breaker was made still hears it.
        callback = self.on_transition
        if callback is not None:
            callback(transition)

    def _sweep(self, now: float) -> None:
        """Forget idle states, then the least recently used ones down to 90% of the cap (under the lock)."""
        self._next_sweep = now + self.idle_for / 10
        states = self._states
        for name in [n for n, s in states.items() if now - s.last_used > self.idle_for and not s.in_incident(now)]:
            del states[name]
        excess = len(states) - int(self.max_upstreams * 0.9)
        if excess > 0:
            for name, state in sorted(states.items(), key=lambda item: item[1].last_used):
                if excess <= 0:
                    break
                if not state.in_incident(now):
                    del states[name]
                    excess -= 1
