"""Phase "rate_limits": what every response's headers say about quota, and how it moved across repeats.

Parsing is :mod:`upstreamkit.core.headers`' (Retry-After, the IETF ``RateLimit``/``RateLimit-Policy`` fields
and the older drafts' triple, ``X-RateLimit-*``, OpenAI's); reset times are read against each response's own
Date header (immune to local clock skew), else against the time the request started. With ``--repeat`` the
remaining quota per response is a series: one that drifts down is the evidence that this client is the one
using it up.

Facts (from the latest response that reports a limit, unless said otherwise):

- ``rl.retry_after`` (float | None): seconds the latest response's Retry-After asks to wait.
- ``rl.limit`` (int | None), ``rl.remaining`` (int | None): the most constraining policy's quota and what is left.
- ``rl.reset_after`` (float | None): seconds until it resets.
- ``rl.window`` (float | None): the policy's window in seconds.
- ``rl.policy`` (str | None): the policy's name or description, when the headers give one.
- ``rl.source`` (str | None): the header family (``ratelimit``, ``ratelimit-draft``, ``x-ratelimit``, ``openai``).
- ``rl.exhausted`` (bool): remaining is 0.
- ``rl.low`` (bool): remaining is under 10% of the limit.
- ``rl.throttled`` (bool): some response was a 429, or the http phase classified the failure as rate_limited.
- ``rl.remaining_series`` (list[int]): remaining, one per response that reported it, in order.
- ``rl.headers`` (list[str]): the rate-limit and Retry-After header names seen (lower case, sorted).

Status: failed when throttled; warning when low or exhausted without a throttle; ok otherwise; skipped when no
exchange got a response.
"""

from __future__ import annotations

import time
from typing import Any

from upstreamkit.core.headers import RateLimit, parse_http_date, parse_rate_limit, parse_retry_after
from upstreamkit.diagnose.model import Exchange, PhaseResult, PhaseStatus, ProbeContext

__all__ = ["inspect", "probe"]

LOW_FRACTION = 0.1


def _is_limit_header(name: str) -> bool:
    lower = name.lower()
    return lower == "retry-after" or "ratelimit" in lower or "rate-limit" in lower


def _reference(exchange: Exchange) -> float | None:
    date = exchange.response_header("date")
    return (parse_http_date(date) if date else None) or exchange.started or None


def inspect(exchanges: list[Exchange], http_kind: Any = None) -> dict[str, Any]:
    """The rate-limit facts of every exchange that got a response (pure: reads headers only)."""
    answered = [exchange for exchange in exchanges if exchange.status is not None]
    names: set[str] = set()
    series: list[int] = []
    latest: RateLimit | None = None
    for exchange in answered:
        names.update(name.lower() for name, _ in exchange.response_headers if _is_limit_header(name))
        limit = parse_rate_limit(exchange.response_headers, _reference(exchange))
        if limit is None:
            continue
        latest = limit
        if limit.remaining is not None:
            series.append(limit.remaining)
    last = answered[-1] if answered else None
    retry_after = None
    if last is not None:
        retry_after = parse_retry_after(last.response_header("retry-after"), _reference(last))
    remaining = latest.remaining if latest is not None else None
    quota = latest.limit if latest is not None else None
    throttled = any(exchange.status == 429 for exchange in answered) or http_kind == "rate_limited"
    return {
        "rl.retry_after": retry_after,
        "rl.limit": quota,
        "rl.remaining": remaining,
        "rl.reset_after": latest.reset_after if latest is not None else None,
        "rl.window": latest.window if latest is not None else None,
        "rl.policy": latest.policy if latest is not None else None,
        "rl.source": latest.source if latest is not None else None,
        "rl.exhausted": remaining == 0,
        "rl.low": remaining is not None and bool(quota) and remaining < LOW_FRACTION * (quota or 0),
        "rl.throttled": throttled,
        "rl.remaining_series": series,
        "rl.headers": sorted(names),
    }


def _describe(facts: dict[str, Any]) -> str:
    parts: list[str] = []
    if facts["rl.throttled"]:
        parts.append("throttled")
    if facts["rl.remaining"] is not None:
        quota = f" of {facts['rl.limit']}" if facts["rl.limit"] is not None else ""
        parts.append(f"{facts['rl.remaining']}{quota} requests left")
    if facts["rl.reset_after"] is not None:
        parts.append(f"resets in {facts['rl.reset_after']:g} s")
    if facts["rl.retry_after"] is not None:
        parts.append(f"Retry-After {facts['rl.retry_after']:g} s")
    if facts["rl.policy"]:
        parts.append(f"policy {facts['rl.policy']}")
    series = facts["rl.remaining_series"]
    if len(series) > 1:
        parts.append("remaining across sends: " + " → ".join(str(value) for value in series))
    return "; ".join(parts) if parts else "no rate-limit headers"


def probe(ctx: ProbeContext) -> PhaseResult:
    """Read Retry-After and the rate-limit headers of every response; judge the quota."""
    began = time.perf_counter()
    if not any(exchange.status is not None for exchange in ctx.exchanges):
        return ctx.skip("rate_limits", "skipped: no response to read")
    facts = inspect(ctx.exchanges, ctx.facts.get("http.kind"))
    status: PhaseStatus
    if facts["rl.throttled"]:
        status = "failed"
    elif facts["rl.low"] or facts["rl.exhausted"]:
        status = "warning"
    else:
        status = "ok"
    detail = _describe(facts)
    answered = [exchange for exchange in ctx.exchanges if exchange.status is not None]
    lines = [
        f"response {number} ({exchange.status}): {name}: {value}"
        for number, exchange in enumerate(answered, 1)
        for name, value in exchange.response_headers
        if _is_limit_header(name)
    ]
    ctx.log.append(f"rate_limits: {detail}")
    return PhaseResult("rate_limits", status, (time.perf_counter() - began) * 1000, detail, facts, lines)
