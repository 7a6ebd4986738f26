"""A route's static fallback body, served instead of the envelope when the simulator fails."""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario
from test_gateway_lifecycle import _reap, _start  # the command's process helpers
from typer.testing import CliRunner

from upstreamkit.cli.app import app
from upstreamkit.gateway import parse_route
from upstreamkit.gateway.degrade import fallback_from
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.simulator import Simulator

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., RunningGateway]


def test_fallback_body_from_a_file_answers_a_failure(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "outage", status = 503 }'))
    body = tmp_path / "maintenance.json"
    body.write_text('{"orders": [], "degraded": true}')
    route = dataclasses.replace(parse_route(f"/pay={sim.base_url}/v1"), fallback=fallback_from(file=body, status=200))
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(route, access_log=str(log), policy=RoutePolicy(breaker=None, budget=None))

    response = httpx.get(gw.url("/pay/orders"), headers={"X-Request-Id": "fb-1"})
    posted = httpx.post(gw.url("/pay/orders"), json={"n": 1}, headers={"X-Request-Id": "fb-2"})

    assert response.status_code == 200
    assert response.json() == {"orders": [], "degraded": True}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "fb-1"
    assert response.headers["cache-control"] == "no-store"
    assert "error=upstream_outage" in response.headers["proxy-status"]
    assert posted.json() == {"orders": [], "degraded": True}  # any method: the fallback is static
    metrics = httpx.get(gw.admin_url("/metrics")).text
    assert (
        'upstreamkit_gateway_degraded_total{kind="upstream_outage",mode="fallback",route="/pay",upstream="pay"} 2.0'
        in metrics
    )
    gw.stop()
    line = json.loads(log.read_text().splitlines()[0])
    assert (line["status"], line["kind"], line["degraded"], line["upstream_status"]) == (
        200, "upstream_outage", "fallback", 503,
    )  # fmt: skip


def test_inline_fallback_with_its_own_status_and_type(gateway_factory: GatewayFactory, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "gateway_timeout" }'))
    route = dataclasses.replace(
        parse_route(f"/pay={sim.base_url}/v1"),
        fallback=fallback_from("down for maintenance\n", status=503, content_type="text/plain; charset=utf-8"),
    )
    gw = gateway_factory(route, policy=RoutePolicy(breaker=None, budget=None))

    response = httpx.get(gw.url("/pay/orders"))
    head = httpx.head(gw.url("/pay/orders"))

    assert (response.status_code, response.text) == (503, "down for maintenance\n")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert (head.status_code, head.content) == (503, b"")


def test_a_success_passes_through_untouched(gateway_factory: GatewayFactory, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory("healthy")
    route = dataclasses.replace(parse_route(f"/pay={sim.base_url}/v1"), fallback=fallback_from("fallback"))
    gw = gateway_factory(route)
    response = httpx.get(gw.url("/pay/orders"))
    assert response.status_code == 200
    assert response.json()["ok"] is True


def test_command_fallback_and_stale_flags(simulator_factory: Any, tmp_path: Path) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "outage", status = 502 }'))
    body = tmp_path / "down.json"
    body.write_text('{"down": true}')
    args = ["--route", f"/pay={sim.base_url}/v1", "--attempts", "1", "--stale-if-error", "30"]
    process, port = _start(*args, "--fallback-body", f"@{body}", "--fallback-status", "503")
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/pay/orders", timeout=10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        _reap(process)
    assert (response.status_code, response.json()) == (503, {"down": True})
    assert "error=upstream_outage" in response.headers["proxy-status"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fallback-body", "@/nonexistent/down.json"], "--fallback-body: cannot read /nonexistent/down.json"),
        (["--fallback-body", "x", "--fallback-status", "99"], "--fallback-status"),
        (["--fallback-body", "x", "--fallback-type", "text/plain\x01"], "control characters"),
        (["--stale-if-error", "-1"], "--stale-if-error"),
        (["--max-upstream-connections", "0"], "--max-upstream-connections"),
    ],
)
def test_command_rejects_bad_degraded_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        app, ["gateway", "--port", "0", "--admin-port", "0", "--route", "/pay=http://127.0.0.1:1", *args]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
