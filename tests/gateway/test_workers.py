"""``upstreamkit gateway --workers N``: N processes on one port, supervised (restart, SIGTERM, SIGHUP)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from workers_support import GatewayProcess

from upstreamkit.simulator import Simulator

pytestmark = pytest.mark.integration

Start = Callable[..., GatewayProcess]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Start]:
    started: list[GatewayProcess] = []

    def start(*args: str, workers: int = 1) -> GatewayProcess:
        process = GatewayProcess(tmp_path, *args, workers=workers)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def _served_by_each(gateway: GatewayProcess, workers: int) -> dict[int, int]:
    """Requests on fresh connections until every worker's /status counts some (at most 200): index -> count."""
    for _ in range(200):
        assert httpx.get(gateway.url("/api/v1/ok"), timeout=5).status_code == 200  # a new connection each
        counts = {i: _requests(gateway, i) for i in range(workers)}
        if all(counts.values()):
            return counts
    return counts


def _requests(gateway: GatewayProcess, worker: int) -> int:
    upstreams = gateway.status(worker)["upstreams"]
    return sum(u["recent"]["requests"] for u in upstreams.values())


def test_two_workers_serve_one_port_and_sigterm_stops_them_all(start_gateway: Start, simulator: Simulator) -> None:
    gateway = start_gateway("--route", f"/api={simulator.base_url}", workers=2)
    counts = _served_by_each(gateway, 2)
    assert all(counts.values()), counts
    states = [gateway.status(i)["state"] for i in range(2)]
    pids = {state["pid"] for state in states}
    assert pids == {gateway.admin[0][0], gateway.admin[1][0]}
    assert len(pids) == 2
    assert gateway.process.pid not in pids  # the parent supervises; the workers serve
    for state in states:
        assert {k: state[k] for k in ("backend", "shared", "workers")} == {
            "backend": "memory", "shared": False, "workers": 2,
        }  # fmt: skip
    assert gateway.stop(signal.SIGTERM) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "stopped" in gateway.lines()


def test_a_crashed_worker_is_replaced_and_the_port_keeps_serving(start_gateway: Start, simulator: Simulator) -> None:
    gateway = start_gateway("--route", f"/api={simulator.base_url}", workers=2)
    crashed = gateway.admin[1][0]
    os.kill(crashed, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while gateway.admin[1][0] == crashed and time.monotonic() < deadline:  # bounded: until the new one announces
        gateway.wait_ready(worker_lines=3)
    assert gateway.admin[1][0] != crashed
    assert "worker 1 exited with code -9: restarting it" in gateway.lines()
    for _ in range(10):
        assert httpx.get(gateway.url("/api/v1/ok"), timeout=5).status_code == 200
    assert gateway.stop() == 0


def test_sighup_replaces_every_worker_one_at_a_time(start_gateway: Start, simulator: Simulator) -> None:
    gateway = start_gateway("--route", f"/api={simulator.base_url}", workers=2)
    before = {pid for pid, _ in gateway.admin.values()}
    os.kill(gateway.process.pid, signal.SIGHUP)
    gateway.wait_ready(worker_lines=4)
    after = {pid for pid, _ in gateway.admin.values()}
    assert not before & after
    assert httpx.get(gateway.url("/api/v1/ok"), timeout=5).status_code == 200
    assert gateway.stop() == 0


def test_workers_with_a_bad_state_url_is_a_usage_error(start_gateway: Start, tmp_path: Path) -> None:
    del start_gateway
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    result = subprocess.run(
        [sys.executable, "-m", "upstreamkit", "gateway", "--route", "/a=http://127.0.0.1:9", "--state", "http://x"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --state: state must be a redis://HOST:PORT/DB URL, not 'http://x'"
    ]


def test_the_config_file_says_state_and_workers() -> None:
    from upstreamkit.gateway.configfile import ConfigError, parse_config  # noqa: PLC0415

    routes = '[upstreams.pay]\nurl = "http://127.0.0.1:9000/v1"\n[[routes]]\nprefix = "/pay"\nupstream = "pay"\n'
    settings = parse_config(f'[gateway]\nstate = "redis://127.0.0.1:6379/2"\nworkers = 3\n{routes}', source_name="g")
    assert (settings.state, settings.workers) == ("redis://127.0.0.1:6379/2", 3)
    assert (parse_config(routes, source_name="g").state, parse_config(routes, source_name="g").workers) == (None, 1)
    with pytest.raises(ConfigError, match=r"gateway\.state"):
        parse_config(f'[gateway]\nstate = "http://127.0.0.1:6379"\n{routes}', source_name="g")
    with pytest.raises(ConfigError, match=r"gateway\.workers"):
        parse_config(f"[gateway]\nworkers = 0\n{routes}", source_name="g")


def test_sighup_with_a_config_file_reloads_every_worker(
    start_gateway: Start, simulator: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\nport = 0\nadmin_port = 0\nworkers = 2\n[upstreams.api]\nurl = "{simulator.base_url}"\n'
        '[[routes]]\nprefix = "/api"\nupstream = "api"\n'
    )
    gateway = start_gateway("--config", str(config), workers=2)
    before = {pid for pid, _ in gateway.admin.values()}
    os.kill(gateway.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while gateway.lines().count("reloaded: 1 route(s)") < 2 and time.monotonic() < deadline:  # bounded
        time.sleep(0.05)
    assert gateway.lines().count("reloaded: 1 route(s)") == 2  # each worker reloaded the file, none restarted
    assert {state["pid"] for state in (gateway.status(0)["state"], gateway.status(1)["state"])} == before
    assert httpx.get(gateway.url("/api/v1/ok"), timeout=5).status_code == 200
    assert gateway.stop() == 0
