"""Per-route policies through a real gateway in front of the simulator: retries, idempotency, the breaker, the
limiter, and what /metrics and /status say about them.

The gateway's policies and the simulator's timeline share one FakeClock: waits (backoff, Retry-After, a breaker's
probe) advance it instead of sleeping, and the simulator's phases follow it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario
from prometheus_client.parser import text_string_to_metric_families

from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.simulator import Simulator, parse_scenario
from upstreamkit.testing import FakeClock

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., RunningGateway]


def _outage_then_healthy(fault: str, *, until: float) -> str:
    return f"""
name = "blip"
[auth]
mode = "none"
[[phases]]
name = "outage"
start = 0
end = {until}
[phases.routes."/v1/*"]
faults = [{fault}]
[[phases]]
name = "recovered"
start = {until}
"""


def _blip(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path, fault: str, policy: RoutePolicy
) -> tuple[Simulator, RunningGateway, Path]:
    """A simulator failing with ``fault`` for its first second, then healthy, and a gateway logging to a file,
    on one FakeClock."""
    clock = FakeClock()
    sim: Simulator = simulator_factory(parse_scenario(_outage_then_healthy(fault, until=1)), clock=clock.monotonic)
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(f"/pay={sim.base_url}/v1", clock=clock, policy=policy, access_log=str(log))
    return sim, gw, log


def _log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_get_retried_through_a_transient_503_reaches_the_caller_as_200(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    sim, gw, log = _blip(
        gateway_factory,
        simulator_factory,
        tmp_path,
        '{ kind = "outage", status = 503, retry_after = 1 }',
        RoutePolicy(),
    )

    response = httpx.get(gw.url("/pay/orders"), headers={"X-Request-Id": "blip-1"})

    assert response.status_code == 200, response.text
    first, second = sim.ledger.entries()
    assert (first.request_id, first.status, second.request_id, second.status) == ("blip-1", 503, "blip-1", 200)
    assert second.time - first.time >= 1  # Retry-After honoured, never early (on the shared fake clock)
    status = httpx.get(gw.admin_url("/status")).json()["upstreams"]["pay"]
    assert status["breaker"] == "closed"  # opened by the 503's Retry-After, closed by the probe that succeeded
    assert status["incident"] is None
    assert status["last_incident"]["time_to_recover_s"] >= 1
    assert status["last_incident"]["failed_attempts"] == 1
    assert status["recent"]["requests"] == 1
    assert status["recent"]["error_rate"] == 0
    samples = _samples(httpx.get(gw.admin_url("/metrics")).text)
    assert samples[("upstreamkit_upstream_time_to_recover_seconds_count", frozenset({("upstream", "pay")}))] == 1
    assert samples[("upstreamkit_upstream_breaker_state", frozenset({("upstream", "pay")}))] == 0  # closed again
    gw.stop()
    (line,) = _log_lines(log)
    assert (line["status"], line["attempts"], line["breaker"], line["kind"]) == (200, 2, "closed", None)


def test_keyless_post_is_never_sent_twice(gateway_factory: GatewayFactory, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "gateway_timeout" }'))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", policy=RoutePolicy(breaker=None, budget=None))

    keyless = httpx.post(gw.url("/pay/payments"), json={"amount": 1}, headers={"X-Request-Id": "post-1"})
    keyed = httpx.post(
        gw.url("/pay/payments"), json={"amount": 1}, headers={"X-Request-Id": "post-2", "Idempotency-Key": "k-2"}
    )
    read = httpx.get(gw.url("/pay/orders"), headers={"X-Request-Id": "get-3"})

    assert keyless.status_code == keyed.status_code == read.status_code == 504
    assert sim.ledger.attempts_by_request_id() == {"post-1": 1, "post-2": 3, "get-3": 3}
    assert sim.ledger.stats()["duplicate_side_effects"] == 0  # the keyed retries were replays, not new payments


def test_retry_budget_spares_a_failing_upstream(gateway_factory: GatewayFactory, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "gateway_timeout" }'))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", policy=RoutePolicy(breaker=None))
    kinds = [httpx.get(gw.url("/pay/orders"), headers={"X-Request-Id": f"g{n}"}).json()["kind"] for n in range(3)]
    # The retry throttle (the client's default budget) stops retries once failures outnumber successes by 5.
    assert kinds == ["http_response_timeout", "budget_exhausted", "budget_exhausted"]
    assert sim.ledger.attempts_by_request_id() == {"g0": 3, "g1": 2, "g2": 1}


def test_keyless_post_that_never_left_is_retried(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    import socket  # noqa: PLC0415 - only this test needs a closed port

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(f"/pay=http://127.0.0.1:{port}/v1", access_log=str(log), policy=RoutePolicy(breaker=None))
    response = httpx.post(gw.url("/pay/payments"), json={"amount": 1})
    assert response.json()["kind"] == "connection_refused"
    gw.stop()
    (line,) = _log_lines(log)
    assert line["attempts"] == 3  # refused connections: the request provably never left


def test_open_breaker_answers_circuit_open_at_once_when_the_deadline_cannot_reach_the_probe(
    gateway_factory: GatewayFactory, simulator_factory: Any
) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "outage", status = 503 }'))
    policy = RoutePolicy(retry=RetryPolicy(attempts=1, deadline=0.3), breaker=BreakerConfig(consecutive_failures=2))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", policy=policy)
    outcomes = [httpx.get(gw.url("/pay/orders")).json()["kind"] for _ in range(2)]
    assert outcomes == ["upstream_outage", "upstream_outage"]
    sent = len(sim.ledger)

    response = httpx.get(gw.url("/pay/orders"))

    assert len(sim.ledger) == sent  # the upstream was spared
    assert response.status_code == 503
    body = response.json()
    assert (body["kind"], body["error"], body["upstream"]) == ("circuit_open", "upstream_unavailable", "pay")
    assert response.headers["retry-after"] == "1"  # the probe's wait (0.5 s), rounded up
    assert body["retry_after"] == 1
    status = httpx.get(gw.admin_url("/status")).json()["upstreams"]["pay"]
    assert status["breaker"] == "open"
    assert status["recent"]["error_rate_by_kind"] == {"upstream_outage": 0.6667, "circuit_open": 0.3333}
    assert status["incident"]["ongoing_s"] >= 0
    assert status["last_incident"] is None  # not recovered yet
    ready = httpx.get(gw.admin_url("/readyz"))
    assert ready.status_code == 200  # an open breaker is reported, not fatal
    assert ready.json()["upstreams"]["pay"]["breaker"] == "open"


def test_open_breaker_is_waited_for_within_the_deadline(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    policy = RoutePolicy(breaker=BreakerConfig(consecutive_failures=1))
    sim, gw, log = _blip(gateway_factory, simulator_factory, tmp_path, '{ kind = "outage", status = 503 }', policy)

    response = httpx.get(gw.url("/pay/orders"))

    assert response.status_code == 200, response.text
    times = [entry.time for entry in sim.ledger.entries()]
    statuses = [entry.status for entry in sim.ledger.entries()]
    assert statuses == [503, 503, 200]  # the first attempt, a failed probe, the probe that closed the breaker
    assert times[1] - times[0] >= 0.5  # each probe after the breaker's open time: nothing in between
    assert times[2] - times[1] >= 0.75  # the open time grew after the failed probe
    gw.stop()
    (line,) = _log_lines(log)
    assert (line["attempts"], line["breaker"]) == (3, "closed")


def test_upstream_429_retry_after_holds_every_caller(gateway_factory: GatewayFactory, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "rate_limited", retry_after = 2 }'))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", policy=RoutePolicy(retry=RetryPolicy(deadline=1.0)))

    told = httpx.get(gw.url("/pay/orders"))
    held = httpx.get(gw.url("/pay/orders"))

    assert told.status_code == held.status_code == 429
    assert told.json()["upstream_status"] == 429
    assert held.json()["upstream_status"] is None  # the gateway's own limiter answered
    assert held.headers["retry-after"] == "2"
    assert len(sim.ledger) == 1
    assert isinstance(gw.clock, FakeClock)
    gw.clock.advance(2.0)
    httpx.get(gw.url("/pay/orders"))
    assert len(sim.ledger) == 2  # the wait is over: the upstream is asked again


def test_metrics_expose_counters_after_traffic(gateway_factory: GatewayFactory, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "outage", status = 502 }', routes="/v1/broken"))
    policy = RoutePolicy(retry=RetryPolicy(attempts=2), breaker=BreakerConfig(consecutive_failures=2))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", policy=policy)
    assert httpx.get(gw.url("/pay/orders")).status_code == 200
    assert httpx.get(gw.url("/pay/broken")).status_code == 503
    assert httpx.get(gw.url("/nowhere")).status_code == 404

    response = httpx.get(gw.admin_url("/metrics"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    requests = "upstreamkit_gateway_requests_total"
    assert value(requests, route="/pay", upstream="pay", status_class="2xx", kind="none") == 1
    assert value(requests, route="/pay", upstream="pay", status_class="5xx", kind="upstream_outage") == 1
    assert value(requests, route="none", upstream="none", status_class="4xx", kind="destination_not_found") == 1
    assert value("upstreamkit_upstream_attempts_total", upstream="pay", method="GET", outcome="ok") == 1
    assert value("upstreamkit_upstream_attempts_total", upstream="pay", method="GET", outcome="upstream_outage") == 2
    assert value("upstreamkit_upstream_retries_total", upstream="pay", reason="upstream_outage") == 1
    assert value("upstreamkit_upstream_request_duration_seconds_count", upstream="pay", method="GET") == 3
    assert value("upstreamkit_upstream_breaker_state", upstream="pay") == 2  # open
    assert set(httpx.get(gw.admin_url("/status")).json()["upstreams"]) == {"pay"}  # refusals name no upstream


def test_builtin_outage_opens_the_breaker_and_callers_get_circuit_open(
    gateway_factory: GatewayFactory, simulator_factory: Any
) -> None:
    sim: Simulator = simulator_factory("outage", seed=7)  # 503 with Retry-After: 5 (70%), or 502
    gw = gateway_factory(f"/pay={sim.base_url}/v1", policy=RoutePolicy(retry=RetryPolicy(deadline=1.0)))
    answers = []
    for _ in range(8):  # bounded: the breaker opens on the first 503 with Retry-After, or after 5 failures
        response = httpx.get(gw.url("/pay/orders"))
        answers.append((response, len(sim.ledger)))
        if response.json()["kind"] == "circuit_open":
            break
    response, sent = answers[-1]
    assert response.json()["kind"] == "circuit_open", [a.json()["kind"] for a, _ in answers]
    assert sent == answers[-2][1]  # the open breaker spared the upstream
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert httpx.get(gw.admin_url("/readyz")).json()["upstreams"]["pay"]["breaker"] == "open"
