"""A real per-key token bucket for the simulated upstream, and the headers real APIs send with it.

Each key (the fingerprint of the presented credential, else the client address) has a bucket of ``limit``
tokens refilled at ``limit / window`` tokens per second; a request takes one. The clock is injected, so
tests empty a bucket and move time instead of sleeping.

Every response on a limited route carries the three header families clients meet in the wild:

- IETF structured fields (draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Policy: "default";q=10;w=1``
  and ``RateLimit: "default";r=3;t=1``;
- the ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` triple, with reset as epoch seconds (GitHub's
  convention) or as a delta (most others), per the scenario;
- on refusal, ``Retry-After`` as delta-seconds or an HTTP-date (RFC 9110 section 10.2.3).

``t`` and ``X-RateLimit-Reset`` count until the bucket is full again; ``Retry-After`` counts until the next
token, which is when a retry can succeed. Both are rounded up: a client that waits what it is told is
never early.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from upstreamkit.simulator.scenario import RateLimitConfig

__all__ = ["RateDecision", "TokenBucketLimiter", "retry_after_value"]

_MAX_KEYS = 10_000
_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One request's verdict and the headers to send with the response."""

    allowed: bool
    remaining: int
    headers: tuple[tuple[str, str], ...]


def retry_after_value(seconds: float, fmt: str, now: float) -> str:
    """A Retry-After value: whole delta-seconds rounded up, or the HTTP-date that many seconds from ``now``."""
    delay = max(0, math.ceil(seconds))
    if fmt == "http-date":
        # An HTTP-date has one-second resolution; round the instant up so the date is never early.
        return formatdate(math.ceil(now + seconds), usegmt=True)
    return str(delay)


class TokenBucketLimiter:
    """Per-key token buckets (bounded: the least recently seen keys are forgotten past 10,000)."""

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._clock = clock
        self._rate = config.limit / config.window
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        window = f"{config.window:g}"
        self._policy = f'"default";q={config.limit};w={window}'

    def take(self, key: str) -> RateDecision:
        """Take a token for ``key`` if one is left; the decision carries the response headers."""
        now = self._clock()
        capacity = float(self.config.limit)
        tokens, last = self._buckets.pop(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - last) * self._rate)
        # Epoch seconds carry ~1e-7 s of float error: a client that waited exactly as told must get its token.
        allowed = tokens >= 1.0 - _TOLERANCE
        if allowed:
            tokens = max(0.0, tokens - 1.0)
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > _MAX_KEYS:
            self._buckets.popitem(last=False)
        remaining = int(tokens)
        until_full = (capacity - tokens) / self._rate
        headers = [
            ("RateLimit-Policy", self._policy),
            ("RateLimit", f'"default";r={remaining};t={math.ceil(until_full)}'),
            ("X-RateLimit-Limit", str(self.config.limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            (
                "X-RateLimit-Reset",
                str(math.ceil(now + until_full)) if self.config.x_reset == "epoch" else str(math.ceil(until_full)),
            ),
        ]
        if not allowed:
            until_token = (1.0 - tokens) / self._rate
            headers.append(("Retry-After", retry_after_value(until_token, self.config.retry_after_format, now)))
        return RateDecision(allowed, remaining, tuple(headers))

    def reset(self) -> None:
        """Forget every bucket (all keys start full)."""
        self._buckets.clear()
