"""Graceful stop: stop accepting, finish what is in flight (bounded), exit 0; and the command's own errors."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario, wait_until
from typer.testing import CliRunner

from upstreamkit.cli.app import app
from upstreamkit.simulator import Simulator

pytestmark = pytest.mark.integration


def _refuses(port: int) -> bool:
    """True when the port takes no new connection: refused, or reset (a connect that met the listener closing:
    the kernel resets what its queue held, seen on CI as ECONNRESET from connect() itself)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def test_stop_finishes_in_flight_and_refuses_new(
    gateway_factory: Callable[..., RunningGateway], simulator_factory: Any
) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "latency", delay = 0.6 }'))
    gw = gateway_factory(f"/pay={sim.base_url}/v1")
    port = gw.gateway.port
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(httpx.get, gw.url("/pay/slow"), timeout=10)
        wait_until(lambda: len(sim.ledger.entries()) == 1)  # the request is at the upstream
        stopping = pool.submit(gw.stop)
        wait_until(lambda: _refuses(port))  # no longer accepting, while the request is still in flight
        response = slow.result(10)
        stopping.result(10)
    assert response.status_code == 200
    assert response.headers["connection"] == "close"


def test_drain_is_bounded(gateway_factory: Callable[..., RunningGateway], simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "hang" }'))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", timeout=60.0)
    with ThreadPoolExecutor(1) as pool:
        hung = pool.submit(httpx.get, gw.url("/pay/hangs"), timeout=20)
        wait_until(lambda: len(sim.ledger.entries()) == 1)
        gw.stop(drain_timeout=0.2)
        with pytest.raises(httpx.TransportError):
            hung.result(20)


def _reap(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)
    assert process.stderr is not None
    process.stderr.close()


def _start(*args: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "upstreamkit", "gateway", "--port", "0", "--admin-port", "0", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
    assert match, first
    return process, int(match.group(1))


@pytest.mark.parametrize(("signum", "loop"), [(signal.SIGTERM, "asyncio"), (signal.SIGINT, "uvloop")])
def test_command_stops_gracefully_on_signal(simulator_factory: Any, signum: signal.Signals, loop: str) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "latency", delay = 0.5 }'))
    process, port = _start("--route", f"/pay={sim.base_url}/v1", "--loop", loop)
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(httpx.get, f"http://127.0.0.1:{port}/pay/slow", timeout=10)
            wait_until(lambda: len(sim.ledger.entries()) == 1)
            process.send_signal(signum)
            assert slow.result(10).status_code == 200
        assert process.wait(10) == 0
    finally:
        _reap(process)


def test_command_policy_flags(simulator_factory: Any, tmp_path: Path) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "outage", status = 502 }'))
    log = tmp_path / "access.jsonl"
    route = f"/pay={sim.base_url}/v1"
    process, port = _start("--route", route, "--attempts", "1", "--no-breaker", "--access-log", str(log))
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/pay/orders", timeout=10)
        assert response.json()["kind"] == "upstream_outage"
        assert len(sim.ledger) == 1  # --attempts 1: no retry
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        _reap(process)
    (line,) = [json.loads(text) for text in log.read_text().splitlines()]
    assert (line["attempts"], line["breaker"]) == (1, None)  # --no-breaker


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "at least one --route"),
        (["--route", "pay=http://x"], "must start with '/'"),
        (["--route", "/pay=ftp://x"], "http:// or https://"),
        (["--route", "/pay"], "expected /PREFIX=URL"),
        (["--route", "/pay=http://127.0.0.1:1", "--status-mode", "404"], "--status-mode"),
        (["--route", "/pay=http://127.0.0.1:1", "--loop", "trio"], "--loop"),
    ],
)
def test_command_rejects_bad_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["gateway", "--port", "0", "--admin-port", "0", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
