"""The bypass admin API through a real gateway in front of the simulator: switch a route's optional middleware
off and on without a restart, and see it in the simulator's ledger, /routes, /status, /metrics and the log."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario

from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.simulator import Simulator

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., RunningGateway]
_JSON = {"Content-Type": "application/json"}


def _failing(gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path, **options: Any) -> Any:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "outage", status = 503 }'))
    options.setdefault("policy", RoutePolicy(breaker=None, budget=None))
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(f"/pay={sim.base_url}/v1", f"/api/v2={sim.base_url}/v1", access_log=str(log), **options)
    return sim, gw, log


def test_bypass_retry_then_restore(gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path) -> None:
    sim, gw, log = _failing(gateway_factory, simulator_factory, tmp_path)

    bypassed = httpx.post(gw.admin_url("/routes/pay/bypass"), json={"middleware": ["retry"]})
    assert bypassed.status_code == 200, bypassed.text
    assert bypassed.json()["middleware"]["bypassed"] == ["retry"]
    assert "retry" not in bypassed.json()["middleware"]["active"]
    once = httpx.get(gw.url("/pay/orders"), headers={"X-Request-Id": "one"})
    other_route = httpx.get(gw.url("/api/v2/orders"), headers={"X-Request-Id": "other"})

    status = httpx.get(gw.admin_url("/status")).json()
    metrics = httpx.get(gw.admin_url("/metrics")).text
    restored = httpx.delete(gw.admin_url("/routes/pay/bypass"))
    httpx.get(gw.url("/pay/orders"), headers={"X-Request-Id": "again"})

    assert (once.status_code, once.json()["kind"]) == (503, "upstream_outage")  # still the envelope
    assert other_route.status_code == 503
    assert sim.ledger.attempts_by_request_id() == {"one": 1, "other": 3, "again": 3}
    assert status["bypass"] == {"/pay": ["retry"]}
    assert 'upstreamkit_gateway_bypassed{middleware="retry",route="/pay"} 1.0' in metrics
    assert restored.status_code == 200
    assert restored.json()["middleware"]["bypassed"] == []
    assert httpx.get(gw.admin_url("/status")).json()["bypass"] == {}
    after = httpx.get(gw.admin_url("/metrics")).text
    assert 'upstreamkit_gateway_bypassed{middleware="retry",route="/pay"} 0.0' in after
    gw.stop()
    lines = {line["request_id"]: line for line in map(json.loads, log.read_text().splitlines())}
    assert (lines["one"]["bypassed"], lines["one"]["attempts"]) == (["retry"], 1)
    assert (lines["other"]["bypassed"], lines["again"]["bypassed"]) == (None, None)


def test_bypass_the_breaker_reaches_the_upstream_while_it_is_open(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    policy = RoutePolicy(retry=RetryPolicy(attempts=1, deadline=0.3), breaker=BreakerConfig(consecutive_failures=1))
    sim, gw, _ = _failing(gateway_factory, simulator_factory, tmp_path, policy=policy)
    httpx.get(gw.url("/pay/orders"))
    assert httpx.get(gw.url("/pay/orders")).json()["kind"] == "circuit_open"
    sent = len(sim.ledger)

    httpx.post(gw.admin_url("/routes/%2Fpay/restore"), json={})  # nothing bypassed yet: a no-op
    httpx.post(gw.admin_url("/routes/%2Fpay/bypass"), json={"middleware": ["breaker", "retry"]})
    probed = httpx.get(gw.url("/pay/orders"))

    assert probed.json()["kind"] == "upstream_outage"  # the upstream's own answer, not the breaker's
    assert len(sim.ledger) == sent + 1
    httpx.post(gw.admin_url("/routes/pay/restore"), json={"middleware": ["breaker"]})
    assert httpx.get(gw.url("/pay/orders")).json()["kind"] == "circuit_open"  # the breaker's state was kept
    routes = httpx.get(gw.admin_url("/routes")).json()["routes"]
    pay = next(route for route in routes if route["prefix"] == "/pay")
    assert pay["middleware"]["bypassed"] == ["retry"]
    assert pay["middleware"]["configured"] == ["breaker", "budget", "rate_limit"]  # attempts=1: no retry
    assert [route["name"] for route in routes] == ["pay", "api/v2"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "detail"),
    [
        ("POST", "/routes/pay/bypass", _JSON, b'{"middleware": ["auth"]}', 400, "not optional middleware: auth"),
        ("POST", "/routes/pay/bypass", _JSON, b'{"middleware": []}', 400, "non-empty list"),
        ("POST", "/routes/pay/bypass", _JSON, b'{"middleware": "retry"}', 400, "non-empty list"),
        ("POST", "/routes/pay/bypass", _JSON, b'{"middlewares": ["retry"]}', 400, "no other key"),
        ("POST", "/routes/pay/bypass", _JSON, b"{}", 400, "say what to bypass"),
        ("POST", "/routes/pay/bypass", _JSON, b"retry", 400, "not valid JSON"),
        ("POST", "/routes/pay/bypass", _JSON, b"", 400, "a JSON object body is required"),
        ("POST", "/routes/nope/bypass", _JSON, b'{"middleware": ["retry"]}', 404, "no route 'nope'"),
        ("POST", "/routes/pay/teleport", _JSON, b"{}", 404, "admin routes API"),
        ("PUT", "/routes/pay/bypass", _JSON, b"{}", 405, "takes POST or DELETE"),
        # A cross-site form posts text/plain or a urlencoded body: refused before anything changes.
        (
            "POST", "/routes/pay/bypass", {"Content-Type": "text/plain"}, b'{"middleware": ["retry"]}', 415,
            "application/json",
        ),
        ("POST", "/routes/pay/bypass", {}, b"middleware=retry", 415, "application/json"),
        (
            "POST", "/routes/pay/bypass", {**_JSON, "Origin": "http://evil.example"}, b'{"middleware": ["retry"]}',
            403, "cross-origin",
        ),
        ("POST", "/routes/pay/bypass", {**_JSON, "Host": "evil.example"}, b'{"middleware": ["retry"]}', 403, "Host"),
    ],
)  # fmt: skip
def test_bad_requests_get_an_envelope_and_change_nothing(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path,
    method: str, path: str, headers: dict[str, str], body: bytes, status: int, detail: str,
) -> None:  # fmt: skip
    _, gw, _ = _failing(gateway_factory, simulator_factory, tmp_path)

    response = httpx.request(method, gw.admin_url(path), headers=headers, content=body)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    document = response.json()
    assert (document["code"], document["status"]) == (600, status)
    assert detail in document["detail"]
    assert httpx.get(gw.admin_url("/status")).json()["bypass"] == {}


def test_same_origin_change_is_taken(gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path) -> None:
    _, gw, _ = _failing(gateway_factory, simulator_factory, tmp_path)
    origin = gw.admin_url("").rstrip("/")
    response = httpx.post(
        gw.admin_url("/routes/api/v2/bypass"), json={"middleware": ["budget"]}, headers={"Origin": origin}
    )
    assert response.status_code == 200, response.text
    assert httpx.get(gw.admin_url("/status")).json()["bypass"] == {"/api/v2": ["budget"]}
