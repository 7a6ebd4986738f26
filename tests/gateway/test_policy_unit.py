"""The gateway's policy loop without sockets: attempts given canned answers, time on a FakeClock."""

from __future__ import annotations

import asyncio
import random
import sys

import pytest

from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.events import Event, GaveUp, RetryScheduled
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.admin import AdminHandler
from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.policy import Policies, Result, RoutePolicy, assess_response
from upstreamkit.gateway.server import Request
from upstreamkit.gateway.upstream import ReadTimeout, UpstreamResponse
from upstreamkit.testing import FakeClock


def _response(status: int, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b"") -> UpstreamResponse:
    return UpstreamResponse(status, headers or [], body, keep_alive=True, connect_ms=None, ttfb_ms=0.1)


def _call(
    policies: Policies, policy: RoutePolicy, answers: list[UpstreamResponse | Exception], limits: list[float | None],
    *, clock: FakeClock, method: str = "GET", takes: float = 0.0,
) -> Result:  # fmt: skip
    async def send(limit: float | None) -> UpstreamResponse:
        limits.append(limit)
        clock.advance(takes if limit is None else min(takes, limit))  # a timeout fires at the limit
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    call = policies.call(
        policy, "pay", method, "rid", idempotency_key=lambda: False, send=send, assess=assess_response
    )  # fmt: skip
    return asyncio.run(call)


def test_every_attempt_gets_min_per_try_and_what_the_deadline_leaves() -> None:
    clock = FakeClock()
    policy = RoutePolicy(retry=RetryPolicy(per_try_timeout=4.0, deadline=10.0), breaker=None)
    events: list[Event] = []
    policies = Policies([policy], clock=clock, rng=random.Random(3), observe=events.append)
    limits: list[float | None] = []
    timeout = ReadTimeout("timed out waiting for the upstream's response")

    result = _call(policies, policy, [timeout, timeout, timeout], limits, clock=clock, takes=4.0)

    assert result.failure is not None
    assert result.failure.kind is ErrorKind.DEADLINE_EXCEEDED  # the third attempt ran out the deadline
    assert result.failure.last is not None
    assert result.failure.last.kind is ErrorKind.HTTP_RESPONSE_TIMEOUT
    (first, second, third) = limits
    assert (first, second) == (4.0, 4.0)
    delays = [event.delay for event in events if isinstance(event, RetryScheduled)]
    assert third == pytest.approx(10.0 - 8.0 - sum(delays))  # the deadline's remainder, not another 4 s
    assert [type(event) for event in events][-1] is GaveUp


def test_a_429_holds_the_limiter_for_the_next_request() -> None:
    clock = FakeClock()
    policy = RoutePolicy(retry=RetryPolicy(attempts=1, deadline=1.0))
    policies = Policies([policy], clock=clock)
    limits: list[float | None] = []
    told = _call(policies, policy, [_response(429, [(b"retry-after", b"3")])], limits, clock=clock)
    held = _call(policies, policy, [], limits, clock=clock)

    assert told.failure is not None
    assert told.failure.kind is ErrorKind.RATE_LIMITED
    assert held.failure is not None
    assert (held.failure.kind, held.failure.retry_after) == (ErrorKind.RATE_LIMITED, 3.0)
    assert len(limits) == 1  # the second request was not sent


def test_a_caller_4xx_passes_through_and_leaves_the_breaker_closed() -> None:
    clock = FakeClock()
    policy = RoutePolicy(breaker=BreakerConfig(consecutive_failures=1))
    policies = Policies([policy], clock=clock)
    limits: list[float | None] = []
    for _ in range(3):
        result = _call(policies, policy, [_response(404)], limits, clock=clock)
        assert result.failure is None
        assert result.response is not None
        assert result.response.status == 404
        assert result.breaker == "closed"
    assert len(limits) == 3  # never retried


def test_metrics_endpoint_says_when_prometheus_client_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails as when not installed
    metrics = GatewayMetrics(FakeClock())
    admin = AdminHandler(ready=lambda: True, breakers=dict, metrics=metrics)
    request = Request("GET", b"/metrics", [], b"", "127.0.0.1", keep_alive=True)
    response = asyncio.run(admin.handle(request))
    assert response.status == 501
    assert b"upstreamkit[prometheus]" in response.body
    status = asyncio.run(admin.handle(Request("GET", b"/status", [], b"", "127.0.0.1", keep_alive=True)))
    assert status.status == 200  # /status needs no extra
