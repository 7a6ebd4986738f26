"""In-process per-upstream state: one breaker, one retry budget and one rate limiter per upstream.

Shared by every request of a transport (and by several transports when the same store is passed to them),
so that the budget and the breaker see all the traffic to an upstream, not one call's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from upstreamkit.core.breaker import BreakerConfig, BreakerTransition, CircuitBreaker
from upstreamkit.core.budget import BudgetConfig, RetryBudget
from upstreamkit.core.ratelimit import RateLimiter

__all__ = ["MemoryStateStore", "UpstreamState"]


@dataclass(slots=True)
class UpstreamState:
    """The live state kept for one upstream."""

    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    limiter: RateLimiter


class MemoryStateStore:
    """Creates each upstream's state on first use, from one set of configs."""

    def __init__(
        self,
        *,
        breaker: BreakerConfig | None = None,
        budget: BudgetConfig | None = None,
        rate: float | None = None,
        burst: int = 1,
        learn_rate_limits: bool = True,
        on_transition: Callable[[BreakerTransition], None] | None = None,
    ) -> None:
        self.breaker_config = breaker
        self.budget_config = budget
        self.rate = rate
        self.burst = burst
        self.learn_rate_limits = learn_rate_limits
        self.on_transition = on_transition
        self._states: dict[str, UpstreamState] = {}
        self._lock = threading.Lock()

    def get(self, upstream: str) -> UpstreamState:
        """The state of ``upstream`` (``scheme://host:port``), created when first asked for."""
        state = self._states.get(upstream)
        if state is not None:
            return state
        with self._lock:
            state = self._states.get(upstream)
            if state is None:
                state = UpstreamState(
                    breaker=CircuitBreaker(self.breaker_config, name=upstream, on_transition=self.on_transition)
                    if self.breaker_config is not None
                    else None,
                    budget=RetryBudget(self.budget_config) if self.budget_config is not None else None,
                    limiter=RateLimiter(self.rate, self.burst, learn=self.learn_rate_limits),
                )
                self._states[upstream] = state
        return state

    def upstreams(self) -> list[str]:
        """The upstreams seen so far."""
        return list(self._states)
