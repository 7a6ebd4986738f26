"""Exponential backoff with jitter, as a total function.

``Backoff.delay(attempt, rng)`` is defined for every attempt number: attempt 10,000 neither raises nor
overflows, and the result is always within ``[0, cap]``. Randomness is injected (anything with a
``random() -> float`` method, such as ``random.Random(seed)``), so schedules repeat in tests.

Jitter strategies (AWS Architecture Blog, "Exponential Backoff And Jitter", Marc Brooker, 2015):

- ``none``: ``min(cap, base * multiplier ** (attempt - 1))``
- ``full``: uniform in ``[0, exp]``; spreads retries best, recommended default
- ``equal``: ``exp / 2`` plus uniform in ``[0, exp / 2]``; never retries immediately
- ``decorrelated``: uniform in ``[base, previous * 3]``, capped; needs the previous delay
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["Backoff", "Jitter", "RandomSource"]

Jitter = Literal["none", "full", "equal", "decorrelated"]
_JITTERS: frozenset[str] = frozenset({"none", "full", "equal", "decorrelated"})


class RandomSource(Protocol):
    """Anything with ``random() -> float`` in ``[0, 1)``: ``random.Random``, ``secrets.SystemRandom``."""

    def random(self) -> float:
        """A float in ``[0, 1)``."""
        ...


def _unit(rng: RandomSource) -> float:
    # A misbehaving RNG (NaN, negative, >= 1) must not push a delay out of bounds.
    value = rng.random()
    if not math.isfinite(value):
        return 0.0
    return min(max(value, 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class Backoff:
    """An exponential backoff schedule. Immutable; share one across calls."""

    base: float = 0.1
    """Delay before the first retry, in seconds, before jitter."""
    multiplier: float = 2.0
    """Growth factor per attempt (>= 1)."""
    cap: float = 20.0
    """No delay is ever longer than this, in seconds."""
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base) and self.base >= 0):
            raise ValueError(f"backoff base must be a finite number >= 0, got {self.base!r}")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"backoff multiplier must be a finite number >= 1, got {self.multiplier!r}")
        if not (math.isfinite(self.cap) and self.cap >= 0):
            raise ValueError(f"backoff cap must be a finite number >= 0, got {self.cap!r}")
        if self.jitter not in _JITTERS:
            raise ValueError(f"backoff jitter must be one of {sorted(_JITTERS)}, got {self.jitter!r}")

    def exponential(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt number ``attempt`` (1-based), capped."""
        if attempt <= 1 or self.multiplier == 1.0 or self.base == 0.0:
            return min(self.base, self.cap)
        if self.base >= self.cap:
            return self.cap
        # Compare in log space instead of computing multiplier ** attempt, which overflows near attempt 1024
        # (and cap / base overflows for a denormal base).
        log_delay = math.log(self.base) + (attempt - 1) * math.log(self.multiplier)
        if log_delay >= math.log(self.cap):
            return self.cap
        try:
            value = self.base * self.multiplier ** (attempt - 1)  # exact where it can be
        except OverflowError:
            value = math.exp(log_delay)  # a denormal base times a huge power
        return min(self.cap, value)

    def delay(self, attempt: int, rng: RandomSource, previous: float | None = None) -> float:
        """The delay to wait after failed attempt number ``attempt`` (1-based), jittered, in ``[0, cap]``.

        ``previous`` is the delay used before this one; only ``decorrelated`` jitter reads it.
        """
        exp = self.exponential(attempt)
        if self.jitter == "none":
            value = exp
        elif self.jitter == "full":
            value = exp * _unit(rng)
        elif self.jitter == "equal":
            value = exp / 2 + exp / 2 * _unit(rng)
        else:
            last = self.base if previous is None or not math.isfinite(previous) else max(previous, self.base)
            high = min(self.cap, last * 3)
            value = self.base + (high - self.base) * _unit(rng)
        return min(max(value, 0.0), self.cap)
