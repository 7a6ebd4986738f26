"""ResilientTransport takes a RedisStateStore unchanged: two transports (two processes' worth: two stores, two
background threads) against one failing simulator, the second learns the first's trip through Redis."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from upstreamkit import ResilientTransport
from upstreamkit.adapters._options import EXTENSION, CallOptions
from upstreamkit.core.breaker import BreakerConfig, BreakerState
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.errors import ErrorKind, UpstreamError
from upstreamkit.simulator import Simulator, parse_scenario
from upstreamkit.state.redis import RedisStateStore
from upstreamkit.state.testing import RedisServer

pytestmark = [pytest.mark.engine, pytest.mark.integration]

_OUTAGE = """
name = "down"
[auth]
mode = "none"
[[phases]]
name = "down"
start = 0
[phases.routes."/v1/*"]
faults = [{ kind = "outage", status = 503 }]
"""


def test_a_second_transport_learns_the_first_ones_trip_through_redis(
    redis_server: RedisServer, simulator_factory: Callable[..., Simulator]
) -> None:
    sim = simulator_factory(parse_scenario(_OUTAGE))
    breaker = BreakerConfig(consecutive_failures=3, failure_rate=None, open_for=30.0)
    stores = [RedisStateStore.from_url(redis_server.url, breaker=breaker) for _ in range(2)]
    policy = RetryPolicy(attempts=1, deadline=1.0)
    clients = [httpx.Client(transport=ResilientTransport(store=store, policy=policy)) for store in stores]
    fail_fast = {EXTENSION: CallOptions(fail_fast=True)}
    try:
        second = stores[1].get(sim.base_url.rstrip("/"), 0.0)  # the state B will use, before A's trip
        for _ in range(3):
            with pytest.raises(UpstreamError):
                clients[0].get(sim.url("/v1/items"))
        assert stores[0].upstreams() == stores[1].upstreams()
        deadline = time.monotonic() + 5
        assert second.breaker is not None
        while second.breaker.state(time.monotonic()) is not BreakerState.OPEN and time.monotonic() < deadline:
            time.sleep(0.01)  # the background thread's next sync (every 20 ms): I/O, not time logic
        before = sim.stats()["requests"]
        with pytest.raises(UpstreamError) as caught:
            clients[1].get(sim.url("/v1/items"), extensions=fail_fast)
        assert caught.value.kind is ErrorKind.CIRCUIT_OPEN
        assert sim.stats()["requests"] == before  # B never called the failing upstream
        assert all(store.backend_up for store in stores)
    finally:
        for client, store in zip(clients, stores, strict=True):
            client.close()
            store.close()
