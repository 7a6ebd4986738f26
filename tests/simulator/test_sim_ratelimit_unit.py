"""The token bucket on a manual clock: capacity, refill, headers, Retry-After never early."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from upstreamkit.simulator import RateLimitConfig
from upstreamkit.simulator.ratelimit import TokenBucketLimiter, retry_after_value


def test_capacity_then_refusal_then_refill(manual_clock: Any) -> None:
    limiter = TokenBucketLimiter(RateLimitConfig(enabled=True, limit=3, window=3), manual_clock)
    decisions = [limiter.take("k") for _ in range(4)]
    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    refused = dict(decisions[-1].headers)
    assert refused["Retry-After"] == "1"
    assert refused["RateLimit-Policy"] == '"default";q=3;w=3'
    assert refused["RateLimit"] == '"default";r=0;t=3'
    assert limiter.take("other").allowed
    manual_clock.advance(1.0)
    assert limiter.take("k").allowed
    assert not limiter.take("k").allowed
    manual_clock.advance(100)
    assert limiter.take("k").remaining == 2  # capped at capacity, minus this one
    limiter.reset()


def test_retry_after_formats(manual_clock: Any) -> None:
    assert retry_after_value(0.2, "seconds", manual_clock.now) == "1"
    assert retry_after_value(3.0, "seconds", manual_clock.now) == "3"
    dated = parsedate_to_datetime(retry_after_value(0.2, "http-date", manual_clock.now + 0.9)).timestamp()
    assert dated >= manual_clock.now + 1.1
