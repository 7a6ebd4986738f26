"""Large upstream bodies streamed to the caller instead of buffered: whole, in order, past max_response_bytes,
with the connection back in the pool afterwards; a body that breaks midway ends the caller's connection."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario

from upstreamkit.core.retry import RetryPolicy
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.simulator import Simulator

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., RunningGateway]
_WAIT = 10.0
_MIB = 1024 * 1024
_PIECE = bytes(range(256)) * 256  # 64 KiB, not all one byte: order and integrity show


class _BigBodies(BaseHTTPRequestHandler):
    """``/v1/chunked``: 1 MiB chunked; ``/v1/short``: Content-Length 2 MiB, 512 KiB sent, then closed;
    ``/v1/stall``: the same 512 KiB, then silence until ``stalled`` is set; anything else: a small JSON answer.
    Every connection's client port is recorded."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[set[int]] = set()
    stalled: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        type(self).ports.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.path.endswith("/chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(16):
                self.wfile.write(b"%x\r\n%b\r\n" % (len(_PIECE), _PIECE))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.endswith("/stall"):
            self.send_header("Content-Length", str(2 * _MIB))
            self.end_headers()
            self.wfile.write(_PIECE * 8)
            self.wfile.flush()
            type(self).stalled.wait(_WAIT)  # then nothing more: the gateway's read timeout must end it
            self.close_connection = True
        elif self.path.endswith("/short"):
            self.send_header("Content-Length", str(2 * _MIB))
            self.end_headers()
            self.wfile.write(_PIECE * 8)
            self.close_connection = True
        else:
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        del format, args


@pytest.fixture
def big_bodies() -> Iterator[tuple[str, set[int]]]:
    """The upstream's base URL and the client ports of the connections it accepted."""
    ports: set[int] = set()
    stalled = threading.Event()
    handler = type("Handler", (_BigBodies,), {"ports": ports, "stalled": stalled})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", ports
    finally:
        stalled.set()
        server.shutdown()
        server.server_close()
        thread.join(_WAIT)


def test_a_body_past_the_threshold_streams_past_the_buffer_cap(
    gateway_factory: GatewayFactory, simulator_factory: Any, tmp_path: Path
) -> None:
    size = 3 * _MIB
    sim: Simulator = simulator_factory(
        fault_scenario(f'{{ kind = "slow_body", size = {size}, chunk = 65536, bytes_per_second = 1e9 }}')
    )
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(
        f"/files={sim.base_url}/v1", stream_threshold=64 * 1024, max_response_bytes=256 * 1024, access_log=str(log)
    )

    response = httpx.get(gw.url("/files/big"), timeout=_WAIT)
    again = httpx.get(gw.url("/files/big"), timeout=_WAIT)

    assert response.status_code == 200
    assert len(response.content) == size == len(again.content)
    assert response.headers["content-length"] == str(size)
    assert "x-request-id" in response.headers
    gw.stop()
    line = json.loads(log.read_text().splitlines()[0])
    assert (line["status"], line["kind"], line["bytes_out"]) == (200, None, size)


def test_without_streaming_the_cap_still_holds(gateway_factory: GatewayFactory, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(
        fault_scenario('{ kind = "slow_body", size = 524288, chunk = 65536, bytes_per_second = 1e9 }')
    )
    gw = gateway_factory(f"/files={sim.base_url}/v1", stream_threshold=None, max_response_bytes=256 * 1024)
    assert httpx.get(gw.url("/files/big"), timeout=_WAIT).json()["kind"] == "http_response_body_size"


def test_a_chunked_body_is_passed_on_chunked_and_the_connection_reused(
    gateway_factory: GatewayFactory, big_bodies: tuple[str, set[int]]
) -> None:
    url, ports = big_bodies
    gw = gateway_factory(f"/files={url}", stream_threshold=64 * 1024)
    first = httpx.get(gw.url("/files/chunked"), timeout=_WAIT)
    second = httpx.get(gw.url("/files/chunked"), timeout=_WAIT)
    small = httpx.get(gw.url("/files/small"), timeout=_WAIT)

    assert first.status_code == second.status_code == 200
    assert first.headers["transfer-encoding"] == "chunked"
    assert first.content == second.content == _PIECE * 16
    assert small.json() == {}
    assert len(ports) == 1  # each streamed body's connection went back to the pool once complete


def test_a_body_that_breaks_midway_ends_the_callers_connection(
    gateway_factory: GatewayFactory, big_bodies: tuple[str, set[int]]
) -> None:
    gw = gateway_factory(
        f"/files={big_bodies[0]}", stream_threshold=64 * 1024, max_connections_per_upstream=1,
        policy=RoutePolicy(retry=RetryPolicy(attempts=1), breaker=None, budget=None),
    )  # fmt: skip
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(gw.url("/files/short"), timeout=_WAIT)
    # The broken connection gave its slot back: the one allowed connection can be opened again.
    assert httpx.get(gw.url("/files/small"), timeout=_WAIT).json() == {}


def test_an_http10_caller_gets_a_body_delimited_by_the_connections_end(
    gateway_factory: GatewayFactory, big_bodies: tuple[str, set[int]]
) -> None:
    gw = gateway_factory(f"/files={big_bodies[0]}", stream_threshold=64 * 1024)
    with socket.create_connection(("127.0.0.1", gw.gateway.port), timeout=_WAIT) as sock:
        sock.sendall(b"GET /files/chunked HTTP/1.0\r\nHost: gw\r\n\r\n")
        received = bytearray()
        for _ in range(10_000):  # bounded: until the gateway closes (1 MiB arrives in far fewer reads)
            data = sock.recv(65536)
            if not data:
                break
            received += data
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body == _PIECE * 16


def test_a_body_that_stalls_is_cut_at_the_read_timeout(
    gateway_factory: GatewayFactory, big_bodies: tuple[str, set[int]]
) -> None:
    gw = gateway_factory(
        f"/files={big_bodies[0]}", stream_threshold=64 * 1024, timeout=0.3,
        policy=RoutePolicy(retry=RetryPolicy(attempts=1), breaker=None, budget=None),
    )  # fmt: skip
    with httpx.stream("GET", gw.url("/files/stall"), timeout=_WAIT) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(2 * _MIB)
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert gw.gateway.proxy is not None
    assert gw.gateway.proxy.pool.open_connections == 0  # the stalled upstream connection was closed
