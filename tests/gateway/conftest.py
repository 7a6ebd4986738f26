"""Fixtures for the gateway's tests: a gateway on a free loopback port, in its own event-loop thread, in
front of the simulator (``simulator_factory``) or a small header-echoing upstream."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from gateway_support import RunningGateway

from upstreamkit.clock import Clock
from upstreamkit.gateway import GatewaySettings, Route, parse_route
from upstreamkit.gateway.upstream import Resolver
from upstreamkit.simulator.testing import simulator, simulator_factory
from upstreamkit.testing import FakeClock

__all__ = ["echo_upstream", "gateway_factory", "simulator", "simulator_factory"]

_TIMEOUT = 10.0

GatewayFactory = Callable[..., RunningGateway]


@pytest.fixture
def gateway_factory() -> Iterator[GatewayFactory]:
    """``factory("/pay=URL" or a Route, ..., resolver=None, clock=None, **settings)``: a started gateway; all stop at
    teardown. Its policies run on a :class:`FakeClock` unless given a clock: retries, backoff and waits for a
    breaker's probe take no real time (``running.clock`` moves only when they wait or a test advances it)."""
    started: list[RunningGateway] = []

    def factory(
        *routes: str | Route, resolver: Resolver | None = None, clock: Clock | None = None, **options: Any
    ) -> RunningGateway:
        options.setdefault("port", 0)
        options.setdefault("admin_port", 0)
        parsed = tuple(parse_route(route) if isinstance(route, str) else route for route in routes)
        settings = GatewaySettings(routes=parsed, **options)
        running = RunningGateway(settings, resolver, clock=clock if clock is not None else FakeClock())
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        running.stop()


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with the request line and header fields it received, and hop-by-hop fields of
    its own (``Connection: X-Echo-Hop``, ``X-Echo-Hop``, ``Keep-Alive``) that a proxy must not pass on."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        document = {
            "method": self.command,
            "target": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body": body.decode("latin-1"),
        }
        payload = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "X-Echo-Hop")
        self.send_header("X-Echo-Hop", "must not reach the caller")
        self.send_header("Keep-Alive", "timeout=5")
        self.send_header("X-Request-Id", "upstream-own-id")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's method names

    def do_HEAD(self) -> None:
        """The length a GET would have, and no body."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "123")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        del format, args


@pytest.fixture
def echo_upstream() -> Iterator[str]:
    """The base URL of a loopback upstream that echoes what it received as JSON."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(_TIMEOUT)
