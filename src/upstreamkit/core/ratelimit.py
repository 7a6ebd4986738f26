"""Client-side rate limiter: the client's own policy (GCRA), plus what the upstream says about its quota.

Three limits, combined by taking the latest of the times each allows:

1. **Static rate** (the client's own policy), with the Generic Cell Rate Algorithm (ITU-T I.371; the
   formulation of Brandur Leach's "Rate limiting, cells, and GCRA" and of redis-cell/throttled). State is
   one number, the theoretical arrival time ``tat``. With emission interval ``T = 1 / rate`` and burst
   tolerance ``tau = (burst - 1) * T``, a request may go at ``max(now, tat - tau)`` and then
   ``tat = max(tat, send) + T``. Reservations are made at the time the request will actually be sent, so
   concurrent callers get increasing waits (rate 10/s, burst 1: 0, 0.1, 0.2, ...) instead of all being
   told "now".
2. **Learned pacing** from the upstream's ``RateLimit`` / ``X-RateLimit-*`` headers
   (draft-ietf-httpapi-ratelimit-headers): when the remaining quota is low, it is spread evenly over the
   time left until the reset, ``reset_after / (remaining - headroom)`` seconds apart, so the client slows
   down *before* it is throttled. "Low" means at most ``LOW_FRACTION`` of ``limit`` (when the upstream
   says it) and at most ``LOW_REMAINING`` otherwise; above that the learned pacing is dropped. With no
   usable quota left (``remaining <= headroom``) every request is held until the reset.
3. **Blocks**: :meth:`RateLimiter.block_until` (a 429 or 503 with Retry-After) holds every request until
   then; a later, shorter block never shortens it (Retry-After is never honoured early).

The newest header observation replaces the learned state. Header values that make no sense (negative,
NaN, infinite) are ignored; a reset further away than ``MAX_RESET_AFTER`` is clamped to it.

Pure and thread-safe: time is passed in (monotonic seconds) and one lock guards a few arithmetic
operations. Written by hand: the Python rate limiters (limits, pyrate-limiter, aiolimiter) read the clock
or sleep themselves, and none learns from response headers.
"""

from __future__ import annotations

import math
import threading

__all__ = ["LOW_FRACTION", "LOW_REMAINING", "MAX_RESET_AFTER", "RateLimiter"]

LOW_FRACTION = 0.25
"""With a known ``limit``, the remaining quota is low (and paced) at or below this fraction of it."""
LOW_REMAINING = 10
"""Without a known ``limit``, the remaining quota is low (and paced) at or below this many requests."""
MAX_RESET_AFTER = 86_400.0
"""A reset announced further away than a day is clamped to a day."""


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value >= 0


class RateLimiter:
    """A thread-safe per-upstream limiter (see the module docstring for the algorithm)."""

    __slots__ = (
        "_blocked",
        "_burst",
        "_headroom",
        "_held",
        "_interval",
        "_last_paced",
        "_learn",
        "_lock",
        "_pace_interval",
        "_pace_until",
        "_rate",
        "_remaining",
        "_tat",
        "_tau",
    )

    def __init__(self, rate: float | None = None, burst: int = 1, *, learn: bool = True, headroom: int = 0) -> None:
        """Create a limiter.

        Args:
            rate: requests per second allowed by the client's own policy (None: no static limit).
            burst: how many requests may go back to back at the static rate (the bucket's depth).
            learn: pace and hold requests by the upstream's rate-limit headers (see :meth:`observe`).
            headroom: requests of the upstream's quota to leave unused (for other clients sharing it).
        """
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"RateLimiter rate must be a positive number of requests per second, got {rate!r}")
        if burst < 1:
            raise ValueError(f"RateLimiter burst must be >= 1, got {burst!r}")
        if headroom < 0:
            raise ValueError(f"RateLimiter headroom must be >= 0, got {headroom!r}")
        self._rate = rate
        self._burst = burst
        self._learn = learn
        self._headroom = headroom
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._tau = (burst - 1) * self._interval
        self._lock = threading.Lock()
        self._tat = -math.inf  # GCRA theoretical arrival time of the static rate
        self._blocked = -math.inf  # explicit block (Retry-After): never shortened
        self._held = -math.inf  # learned hold: no quota left until the upstream's reset
        self._pace_interval = 0.0  # learned spacing between requests; 0: not pacing
        self._pace_until = -math.inf  # the learned pacing lasts until the upstream's reset
        self._last_paced = -math.inf  # send time of the last request reserved under learned pacing
        self._remaining: int | None = None

    def reserve(self, now: float) -> float:
        """Seconds the caller must wait before sending (0.0: now). The slot is reserved: call once per request."""
        if not math.isfinite(now):
            return 0.0
        if self.idle(now):
            return 0.0  # the hot path: nothing to wait for and nothing to reserve, so no lock
        with self._lock:
            send = max(now, self._blocked, self._held)
            pacing = self._pace_interval > 0 and now < self._pace_until
            if pacing:
                send = max(send, self._last_paced + self._pace_interval)
            if self._rate is not None:
                send = max(send, self._tat - self._tau)
                self._tat = max(self._tat, send) + self._interval
            if pacing:
                self._last_paced = send
        return send - now

    def observe(
        self, now: float, *, remaining: int | None, reset_after: float | None, limit: int | None = None
    ) -> None:
        """Learn from the upstream's rate-limit headers of a response received at ``now``.

        ``remaining <= headroom`` holds every request until ``now + reset_after``; a low remaining quota is
        paced evenly over ``reset_after``; a high one drops the learned pacing. Ignored when the limiter was
        made with ``learn=False``, or when ``remaining`` or ``reset_after`` is None or nonsense.
        """
        if not self._learn or remaining is None or reset_after is None or not math.isfinite(now):
            return
        if not (_usable(remaining) and _usable(reset_after)):
            return
        reset_after = min(reset_after, MAX_RESET_AFTER)
        usable = remaining - self._headroom
        if limit is not None and _usable(limit) and limit > 0:
            low = remaining <= LOW_FRACTION * limit
        else:
            low = remaining <= LOW_REMAINING
        with self._lock:
            self._remaining = remaining
            self._held = -math.inf
            self._pace_interval = 0.0
            self._pace_until = -math.inf
            if reset_after == 0:  # the window resets now: nothing to hold or pace
                return
            if usable <= 0:
                self._held = now + reset_after
            elif low:
                self._pace_interval = reset_after / usable
                self._pace_until = now + reset_after

    def admit(self, now: float) -> bool:
        """True when a request may be sent at ``now`` without waiting, its slot taken (:meth:`reserve` returning
        0 does the same); False, with nothing taken, when it would wait: then call :meth:`reserve`. The fast
        paths' test: with a static rate, :meth:`idle` is never true, and every request took the slow path."""
        # self.idle(now), holding() inlined: the transport and the gateway ask this on every request, and two
        # Python calls fewer is measurable there. tests/core/test_ratelimit.py checks admit agrees with reserve.
        if self._rate is None and not (now < self._blocked or now < self._held) and now >= self._pace_until:
            return True
        if self._rate is None or not math.isfinite(now):
            return False
        with self._lock:
            if now < self._blocked or now < self._held or (self._pace_interval > 0 and now < self._pace_until):
                return False
            if now < self._tat - self._tau:
                return False
            self._tat = max(self._tat, now) + self._interval
            return True

    def idle(self, now: float) -> bool:
        """True when :meth:`reserve` would return 0 at ``now`` and reserve nothing (no static rate, no hold,
        no learned pacing): the fast path may skip it."""
        return self._rate is None and not self.holding(now) and now >= self._pace_until

    def holding(self, now: float) -> bool:
        """True while a Retry-After or an exhausted quota holds every request back."""
        return now < self._blocked or now < self._held

    def block_until(self, until: float) -> None:
        """Send no request before ``until`` (monotonic seconds), e.g. after a 429 with Retry-After."""
        if not math.isfinite(until):
            return
        with self._lock:
            self._blocked = max(self._blocked, until)

    def describe(self, now: float) -> str:
        """One line for logs, e.g. ``"paced to 2.5/s until +12s (upstream remaining 5)"``."""
        with self._lock:
            parts = []
            if self._blocked > now:
                parts.append(f"blocked until +{self._blocked - now:.3g}s (Retry-After)")
            if self._held > now:
                parts.append(f"held until +{self._held - now:.3g}s (upstream remaining {self._remaining})")
            if self._pace_interval > 0 and self._pace_until > now:
                parts.append(
                    f"paced to {1 / self._pace_interval:.3g}/s until +{self._pace_until - now:.3g}s"
                    f" (upstream remaining {self._remaining})"
                )
            if self._rate is not None:
                parts.append(f"limited to {self._rate:g}/s, burst {self._burst}")
        return "; ".join(parts) if parts else "not limited"

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self._rate!r}, burst={self._burst}, learn={self._learn}, headroom={self._headroom})"
