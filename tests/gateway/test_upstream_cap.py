"""The per-upstream connection cap: requests beyond it wait in a bounded queue for a bounded time, then get the
envelope with kind ``connection_limit_reached``; a connection handed back serves the next waiter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway

from upstreamkit.core.retry import RetryPolicy
from upstreamkit.errors import UpstreamError
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.gateway.upstream import UpstreamPool

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., RunningGateway]
_WAIT = 10.0
_ONE_ATTEMPT = RoutePolicy(retry=RetryPolicy(attempts=1), breaker=None, budget=None)


class _Held:
    """An upstream whose ``/v1/hold`` answers only once released; it records each connection's client port."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.ports: set[int] = set()
        held = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                held.ports.add(self.client_address[1])
                if self.path.endswith("/hold"):
                    held.arrived.set()
                    held.release.wait(_WAIT)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def held() -> Iterator[_Held]:
    upstream = _Held()
    thread = threading.Thread(target=upstream.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.release.set()
        upstream.server.shutdown()
        upstream.server.server_close()
        thread.join(_WAIT)


def test_a_request_beyond_the_cap_gets_connection_limit_reached(gateway_factory: GatewayFactory, held: _Held) -> None:
    gw = gateway_factory(
        f"/slow={held.url}", policy=_ONE_ATTEMPT, max_connections_per_upstream=1, connection_queue_timeout=0.05
    )
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.get, gw.url("/slow/hold"), timeout=_WAIT)
        assert held.arrived.wait(_WAIT)

        refused = httpx.get(gw.url("/slow/other"), timeout=_WAIT)

        held.release.set()
        assert first.result(_WAIT).status_code == 200
    assert refused.status_code == 503  # the gateway's own overload: unavailable, not a bad gateway
    body = refused.json()
    assert (body["kind"], body["upstream_status"]) == ("connection_limit_reached", None)
    # Retry-After from the queue's wait (0.05 s, rounded up to whole seconds), in the header and the body.
    assert (refused.headers["retry-after"], body["retry_after"]) == ("1", 1)
    assert "error=connection_limit_reached" in refused.headers["proxy-status"]
    assert httpx.get(gw.url("/slow/after")).status_code == 200
    assert len(held.ports) == 1  # never more than the one connection


def test_a_waiter_gets_the_connection_handed_back(gateway_factory: GatewayFactory, held: _Held) -> None:
    gw = gateway_factory(
        f"/slow={held.url}", policy=_ONE_ATTEMPT, max_connections_per_upstream=1, connection_queue_timeout=_WAIT
    )
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(httpx.get, gw.url("/slow/hold"), timeout=_WAIT)
        assert held.arrived.wait(_WAIT)
        second = pool.submit(httpx.get, gw.url("/slow/next"), timeout=_WAIT)
        held.release.set()
        assert (first.result(_WAIT).status_code, second.result(_WAIT).status_code) == (200, 200)
    assert len(held.ports) == 1


async def _pool_against_a_listener(
    check: Callable[[UpstreamPool, tuple[str, str, int]], Awaitable[None]], *, max_queued: int = 0
) -> None:
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda _, writer: accepted.append(writer), "127.0.0.1", 0)
    origin = ("http", "127.0.0.1", int(server.sockets[0].getsockname()[1]))
    pool = UpstreamPool(max_connections_per_origin=1, queue_timeout=_WAIT, max_queued=max_queued)
    try:
        await check(pool, origin)
    finally:
        pool.close()
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()
        for _ in range(3):  # the transports' close callbacks
            await asyncio.sleep(0)


def test_pool_full_queue_refuses_at_once_and_a_closed_connection_frees_its_slot() -> None:
    async def check(pool: UpstreamPool, origin: tuple[str, str, int]) -> None:
        first = await pool.connect(origin, _WAIT)
        busy = r"1 connections to 127\.0\.0\.1:\d+ are busy and 0 requests already wait"
        with pytest.raises(UpstreamError, match=busy):
            await pool.connect(origin, _WAIT)
        pool.discard(first)
        second = await pool.connect(origin, _WAIT)
        assert second is not first
        assert pool.open_connections == 1

    asyncio.run(_pool_against_a_listener(check))


def test_pool_hands_a_returned_connection_to_its_waiter() -> None:
    async def check(pool: UpstreamPool, origin: tuple[str, str, int]) -> None:
        first = await pool.connect(origin, _WAIT)
        waiting = asyncio.create_task(pool.connect(origin, _WAIT))
        for _ in range(5):  # let it queue (bounded)
            await asyncio.sleep(0)
        assert not waiting.done()
        pool.checkin(origin, first, reusable=True)
        assert await asyncio.wait_for(waiting, _WAIT) is first
        assert pool.open_connections == 1

    asyncio.run(_pool_against_a_listener(check, max_queued=1))


def test_the_cap_must_allow_a_connection() -> None:
    from upstreamkit.gateway import GatewaySettings, parse_route  # noqa: PLC0415 - only this test

    with pytest.raises(ValueError, match="at least 1"):
        GatewaySettings(routes=(parse_route("/a=http://127.0.0.1:1"),), max_connections_per_upstream=0)
