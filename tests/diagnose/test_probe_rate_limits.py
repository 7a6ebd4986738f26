"""The rate_limits phase: header families, the remaining quota across repeats, throttling."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import pytest

from upstreamkit.diagnose.model import Exchange, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import http, rate_limits

NOW = 1_795_514_700.0
URL = "https://api.example.com/v1/orders"


def _response(status: int, *headers: tuple[str, str]) -> Exchange:
    exchange = Exchange("GET", URL, [], None, status=status, started=NOW)
    exchange.response_headers = [("Date", formatdate(NOW, usegmt=True)), *headers]
    return exchange


def _probe(*exchanges: Exchange, http_kind: str | None = None) -> Any:
    ctx = ProbeContext(ProbeRequest(URL), ProbeOptions(), exchanges=list(exchanges))
    if http_kind is not None:
        ctx.facts["http.kind"] = http_kind
    return rate_limits.probe(ctx)


def test_x_ratelimit_drifting_down_across_repeats_is_low_then_exhausted() -> None:
    responses = [
        _response(200, ("X-RateLimit-Limit", "100"), ("X-RateLimit-Remaining", str(left)), ("X-RateLimit-Reset", "30"))
        for left in (12, 8, 4)
    ]
    result = _probe(*responses)
    facts = result.facts
    assert facts["rl.remaining_series"] == [12, 8, 4]
    assert (facts["rl.limit"], facts["rl.remaining"], facts["rl.reset_after"]) == (100, 4, 30.0)
    assert facts["rl.low"] is True
    assert facts["rl.exhausted"] is False
    assert facts["rl.throttled"] is False
    assert facts["rl.source"] == "x-ratelimit"
    assert facts["rl.headers"] == ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]
    assert result.status == "warning"
    assert "remaining across sends: 12 → 8 → 4" in result.detail


def test_ietf_fields_and_retry_after_date_on_a_429() -> None:
    result = _probe(
        _response(
            429,
            ("RateLimit-Policy", '"burst";q=10;w=1'),
            ("RateLimit", '"burst";r=0;t=7'),
            ("Retry-After", formatdate(NOW + 7, usegmt=True)),
        )
    )
    facts = result.facts
    assert result.status == "failed"
    assert facts["rl.throttled"] is True
    assert facts["rl.exhausted"] is True
    assert facts["rl.retry_after"] == 7.0
    assert facts["rl.reset_after"] == 7.0
    assert facts["rl.limit"] == 10
    assert facts["rl.policy"] == "burst"
    assert facts["rl.source"] == "ratelimit"
    assert result.detail.startswith("throttled; 0 of 10 requests left; resets in 7 s; Retry-After 7 s")


def test_throttled_when_the_http_phase_says_so_and_healthy_headers_are_ok() -> None:
    assert _probe(_response(503, ("Retry-After", "5")), http_kind="rate_limited").status == "failed"
    healthy = _probe(_response(200, ("X-RateLimit-Limit", "100"), ("X-RateLimit-Remaining", "99")))
    assert healthy.status == "ok"
    none = _probe(_response(200))
    assert none.status == "ok"
    assert none.detail == "no rate-limit headers"
    assert none.facts["rl.remaining"] is None


def test_skipped_without_a_response() -> None:
    failed = Exchange("GET", URL, [], None, error="ConnectError: refused")
    result = _probe(failed)
    assert result.status == "skipped"
    assert result.detail == "skipped: no response to read"


@pytest.mark.integration
def test_rate_limited_scenario_over_repeats(simulator_factory: Any) -> None:
    # A stopped clock: the bucket never refills, however slowly a loaded machine sends the fifteen requests.
    sim = simulator_factory("rate-limited", clock=lambda: 1_700_000_000.0)
    ctx = ProbeContext(ProbeRequest(sim.url("/v1/items")), ProbeOptions(repeat=15))
    ctx.facts.update(http.probe(ctx).facts)
    result = rate_limits.probe(ctx)
    facts = result.facts
    assert result.status == "failed"
    assert facts["rl.throttled"] is True
    assert facts["rl.limit"] == 10
    assert facts["rl.remaining"] == 0
    assert facts["rl.retry_after"] is not None
    assert facts["rl.retry_after"] >= 1
    series = facts["rl.remaining_series"]
    assert series[0] == 9
    assert series == sorted(series, reverse=True)  # the bucket only drains
    assert series[-1] == 0
    assert len(series) == 15
    assert {"retry-after", "ratelimit", "ratelimit-policy", "x-ratelimit-remaining"} <= set(facts["rl.headers"])
    assert any("(429): Retry-After:" in line for line in result.lines)
