"""Gateway processes (workers, and separate commands) sharing their state through a real redis-server: an
outage costs the upstream about what one process would send; Redis killed mid-run fails no request and the
state re-joins; a newcomer resets nothing.

The traffic is paced (one request every ``_PACE`` seconds, as a steady load would arrive): the scenario is the
load, not time logic under test, and the assertions are counts from the simulator's own ledger.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from gateway_support import fault_scenario
from workers_support import GatewayProcess

from upstreamkit.simulator import Simulator
from upstreamkit.state.redis import keys
from upstreamkit.state.testing import RedisServer, redis_server  # noqa: F401 - the fixture

pytestmark = [pytest.mark.engine, pytest.mark.integration]

Start = Callable[..., list[GatewayProcess]]
_REQUESTS = 60
_PACE = 0.025
_POLICY = ("--deadline", "0.3", "--per-try-timeout", "0.2")  # an open circuit is answered at once, not waited for


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Start]:
    started: list[GatewayProcess] = []

    def start(*commands: tuple[tuple[str, ...], int]) -> list[GatewayProcess]:
        """One command per (arguments, workers), started together (a start is most of these tests' time)."""
        processes = [GatewayProcess(tmp_path, *args, workers=workers, wait=False) for args, workers in commands]
        started.extend(processes)
        for process in processes:
            process.wait_ready()
        return processes

    yield start
    for process in started:
        process.stop()


def _load(gateway: GatewayProcess, count: int = _REQUESTS) -> list[int]:
    """``count`` requests, each on a new connection (spread over the workers by the kernel), paced; statuses."""
    statuses = []
    with httpx.Client(base_url=gateway.url(""), timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(count):
            statuses.append(client.get("/api/v1/items").status_code)
            time.sleep(_PACE)
    return statuses


def _attempts(sim: Simulator, run: Callable[[], object]) -> int:
    before = int(sim.stats()["requests"])
    run()
    return int(sim.stats()["requests"]) - before


def test_two_workers_sharing_redis_send_an_outage_about_what_one_sends(
    start_gateway: Start,
    simulator_factory: Callable[..., Simulator],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    sim = simulator_factory(fault_scenario('{ kind = "outage", status = 503 }'))
    memory = ("--route", f"/api={sim.base_url}", *_POLICY)
    redis = (*memory, "--state", redis_server.url)
    one, shared, apart = start_gateway((memory, 1), (redis, 2), (memory, 2))
    alone = _attempts(sim, lambda: _load(one))
    together = _attempts(sim, lambda: _load(shared))
    unshared = _attempts(sim, lambda: _load(apart))
    print(f"upstream attempts for {_REQUESTS} requests: one process {alone}, two sharing Redis {together}, "
          f"two apart {unshared}")  # fmt: skip
    assert all(_served(g, i) for g in (shared, apart) for i in range(2))  # the load reached both workers
    assert together <= 1.5 * alone
    assert together < unshared  # what the sharing saves: apart, each trips and probes on its own

    # A process that joins while the breaker is open (a worker replaced) resets nothing, and learns it is open.
    client = redis_server.client()
    breaker_key = keys("upstreamkit", "api")[0]
    before = client.hgetall(breaker_key)
    assert before[b"st"] == b"1"
    replaced = shared.admin[1][0]
    os.kill(replaced, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while shared.admin[1][0] == replaced and time.monotonic() < deadline:  # bounded: until the new one announces
        shared.wait_ready(worker_lines=3)
    for _ in range(40):  # bounded: until the newcomer has had a request
        _load(shared, 1)
        if _served(shared, 1):
            break
    after = client.hgetall(breaker_key)
    # Still open, the same shared state (a reset would start a new epoch, or close it), and the break still
    # growing: the failed probes meanwhile (time passes: the prober's probes fail) are counted on, not from zero.
    assert after[b"st"] == b"1"
    assert after[b"epoch"] == before[b"epoch"]
    assert int(after[b"fp"]) >= int(before[b"fp"])
    assert int(after[b"gen"]) >= int(before[b"gen"])
    assert shared.status(1)["upstreams"]["api"]["breaker"] == "open"


def _served(gateway: GatewayProcess, worker: int) -> int:
    upstreams = gateway.status(worker)["upstreams"]
    return sum(u["recent"]["requests"] for u in upstreams.values())


def test_redis_killed_mid_run_fails_no_request_and_the_state_rejoins(
    start_gateway: Start,
    simulator: Simulator,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    command = ("--route", f"/api={simulator.base_url}", "--state", redis_server.url)
    gateways = start_gateway((command, 1), (command, 1))
    assert set(_load(gateways[0], 5) + _load(gateways[1], 5)) == {200}
    assert all(g.status()["state"]["shared"] for g in gateways)
    redis_server.kill()
    assert set(_load(gateways[0], 10) + _load(gateways[1], 10)) == {200}  # none waits for, or fails with, Redis
    assert not any(g.status()["state"]["shared"] for g in gateways)
    assert all(g.status()["state"]["fallbacks"] == 1 for g in gateways)
    redis_server.start()  # empty: the processes re-join and write their state again
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(g.status()["state"]["shared"] for g in gateways):  # bounded
        assert set(_load(gateways[0], 2) + _load(gateways[1], 2)) == {200}
    assert all(g.status()["state"]["shared"] for g in gateways)
    assert redis_server.client().exists(keys("upstreamkit", "api")[0]) == 1
