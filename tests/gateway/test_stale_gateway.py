"""Stale-if-error through a real gateway in front of the simulator: healthy, then failing; the last good
response is served within the window, the envelope after it. Gateway and simulator share one FakeClock."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway
from prometheus_client.parser import text_string_to_metric_families

from upstreamkit.gateway import parse_route
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.simulator import Simulator, parse_scenario
from upstreamkit.testing import FakeClock

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., RunningGateway]

_HEALTHY_THEN_FAILING = """
name = "goes-down"
[auth]
mode = "none"
[[phases]]
name = "healthy"
start = 0
end = 10
[[phases]]
name = "down"
start = 10
[phases.routes."/v1/*"]
faults = [{ kind = "outage", status = 503 }]
"""


def _start(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path, **route: Any
) -> tuple[Simulator, RunningGateway, FakeClock, Path]:
    clock = FakeClock()
    sim: Simulator = simulator_factory(parse_scenario(_HEALTHY_THEN_FAILING), clock=clock.monotonic)
    log = tmp_path / "access.jsonl"
    pay = dataclasses.replace(parse_route(f"/pay={sim.base_url}/v1"), **route)
    gw = gateway_factory(pay, clock=clock, access_log=str(log), policy=RoutePolicy(breaker=None, budget=None))
    return sim, gw, clock, log


def _degraded_count(gw: RunningGateway, mode: str, kind: str) -> float:
    for family in text_string_to_metric_families(httpx.get(gw.admin_url("/metrics")).text):
        for sample in family.samples:
            if sample.name == "upstreamkit_gateway_degraded_total" and sample.labels == {
                "route": "/pay", "upstream": "pay", "mode": mode, "kind": kind,
            }:  # fmt: skip
                return sample.value
    return 0.0


def test_stale_served_within_the_window_then_the_envelope(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    sim, gw, clock, log = _start(gateway_factory, simulator_factory, tmp_path, stale_if_error=60.0)
    good = httpx.get(gw.url("/pay/orders?x=1"), headers={"X-Request-Id": "good-1"})
    assert good.status_code == 200
    assert "cache-status" not in good.headers

    clock.advance(20)  # the simulator's "down" phase
    stale = httpx.get(gw.url("/pay/orders?x=1"), headers={"X-Request-Id": "stale-2"})
    uncached = httpx.get(gw.url("/pay/payments"), headers={"X-Request-Id": "miss-3"})

    assert stale.status_code == 200
    assert stale.content == good.content
    assert stale.headers["x-request-id"] == "stale-2"
    assert int(stale.headers["age"]) >= 20
    cache_status = stale.headers["cache-status"]
    assert cache_status.startswith("upstreamkit; fwd=stale; fwd-status=503; ttl=-")
    assert cache_status.endswith("; detail=stale-if-error")
    assert "error=upstream_outage" in stale.headers["proxy-status"]
    assert "warning" not in stale.headers
    assert [e.status for e in sim.ledger.entries() if e.request_id == "stale-2"] == [503, 503, 503]  # it was asked
    assert uncached.status_code == 503
    assert uncached.headers["content-type"] == "application/problem+json"

    clock.advance(60)  # now 80 s old: past the 60 s window
    late = httpx.get(gw.url("/pay/orders?x=1"), headers={"X-Request-Id": "late-4"})
    assert late.status_code == 503
    assert late.json()["kind"] == "upstream_outage"
    assert "cache-status" not in late.headers
    assert _degraded_count(gw, "stale", "upstream_outage") == 1
    cache = httpx.get(gw.admin_url("/status")).json()["stale_cache"]
    assert (cache["entries"], cache["max_entries"]) == (1, 10_000)
    assert len(good.content) < cache["bytes"] < 2048

    gw.stop()
    lines = {line["request_id"]: line for line in map(json.loads, log.read_text().splitlines())}
    served = lines["stale-2"]
    assert (served["status"], served["kind"], served["degraded"], served["upstream_status"]) == (
        200, "upstream_outage", "stale", 503,
    )  # fmt: skip
    assert (lines["good-1"]["degraded"], lines["good-1"]["kind"]) == (None, None)
    assert (lines["late-4"]["degraded"], lines["late-4"]["kind"]) == (None, "upstream_outage")


def test_a_head_is_kept_apart_from_the_get(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    _, gw, clock, _ = _start(gateway_factory, simulator_factory, tmp_path, stale_if_error=60.0)
    assert httpx.get(gw.url("/pay/orders")).status_code == 200
    clock.advance(20)
    assert httpx.head(gw.url("/pay/orders")).status_code == 503  # only the GET was kept
    assert httpx.get(gw.url("/pay/orders")).status_code == 200


def test_requests_with_authorization_are_not_kept_unless_configured(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    _, gw, clock, _ = _start(gateway_factory, simulator_factory, tmp_path, stale_if_error=60.0)
    token = {"Authorization": "Bearer alice-secret"}
    assert httpx.get(gw.url("/pay/me"), headers=token).status_code == 200
    clock.advance(20)
    assert httpx.get(gw.url("/pay/me"), headers=token).status_code == 503


def test_authorized_caching_keys_by_credential(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    _, gw, clock, _ = _start(
        gateway_factory, simulator_factory, tmp_path, stale_if_error=60.0, stale_cache_authorized=True
    )
    assert httpx.get(gw.url("/pay/me"), headers={"Authorization": "Bearer alice-secret"}).status_code == 200
    clock.advance(20)
    assert httpx.get(gw.url("/pay/me"), headers={"Authorization": "Bearer alice-secret"}).status_code == 200
    assert httpx.get(gw.url("/pay/me"), headers={"Authorization": "Bearer mallory"}).status_code == 503


def test_without_stale_if_error_nothing_is_kept(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    _, gw, clock, _ = _start(gateway_factory, simulator_factory, tmp_path)
    assert httpx.get(gw.url("/pay/orders")).status_code == 200
    clock.advance(20)
    assert httpx.get(gw.url("/pay/orders")).status_code == 503
    assert gw.gateway.proxy is not None
    assert gw.gateway.proxy.degraded.cache is None  # the feature is off: no cache at all
    assert httpx.get(gw.admin_url("/status")).json()["stale_cache"] is None


def test_bypass_stale_shows_the_envelope_and_restore_brings_it_back(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    _, gw, clock, log = _start(gateway_factory, simulator_factory, tmp_path, stale_if_error=600.0)
    assert httpx.get(gw.url("/pay/orders")).status_code == 200
    clock.advance(20)
    assert httpx.get(gw.url("/pay/orders")).headers["cache-status"].endswith("detail=stale-if-error")

    httpx.post(gw.admin_url("/routes/pay/bypass"), json={"middleware": ["stale"]})
    bypassed = httpx.get(gw.url("/pay/orders"), headers={"X-Request-Id": "bypassed"})
    httpx.post(gw.admin_url("/routes/pay/restore"), json={"middleware": ["stale"]})
    restored = httpx.get(gw.url("/pay/orders"))

    assert (bypassed.status_code, bypassed.json()["kind"]) == (503, "upstream_outage")
    assert restored.status_code == 200
    gw.stop()
    lines = {line["request_id"]: line for line in map(json.loads, log.read_text().splitlines())}
    assert (lines["bypassed"]["bypassed"], lines["bypassed"]["degraded"]) == (["stale"], None)


def test_a_reload_keeps_the_stale_cache_and_the_bypass_switches(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    _, gw, clock, _ = _start(gateway_factory, simulator_factory, tmp_path, stale_if_error=600.0)
    assert httpx.get(gw.url("/pay/orders")).status_code == 200
    httpx.post(gw.admin_url("/routes/pay/bypass"), json={"middleware": ["retry"]})
    settings = gw.gateway.settings
    other = parse_route("/gone=http://127.0.0.1:1")

    assert gw.call(lambda: gw.gateway.reload(dataclasses.replace(settings, routes=(*settings.routes, other)))) == []
    httpx.post(gw.admin_url("/routes/gone/bypass"), json={"middleware": ["breaker"]})
    gw.call(lambda: gw.gateway.reload(settings))  # /gone goes, and its switch with it
    clock.advance(20)
    stale = httpx.get(gw.url("/pay/orders"))

    assert stale.headers["cache-status"].endswith("detail=stale-if-error")  # kept across both reloads
    assert httpx.get(gw.admin_url("/status")).json()["bypass"] == {"/pay": ["retry"]}
    metrics = httpx.get(gw.admin_url("/metrics")).text
    assert 'upstreamkit_gateway_bypassed{middleware="breaker",route="/gone"} 0.0' in metrics
