"""Fixtures for diagnose tests: the simulator's own, as users get them, and a raw-socket upstream for bodies
no well-behaved server framework would send (10,000-level nested JSON, lone surrogates, invalid UTF-8)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from upstreamkit.simulator.testing import simulator, simulator_factory

__all__ = ["RawUpstream", "raw_upstream", "simulator", "simulator_factory"]

RawUpstream = Callable[..., str]
"""``raw_upstream(body, status=502, content_type="application/json") -> base URL``."""

_MAX_CONNECTIONS = 64
_MAX_HEAD = 64 * 1024


class _RawServer:
    """Answers every connection with the same bytes, then closes it (HTTP/1.1 with Connection: close)."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        served = 0
        while not self._stop.is_set() and served < _MAX_CONNECTIONS:
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            served += 1
            with conn:
                conn.settimeout(2.0)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    conn.sendall(self._response)
                except OSError:
                    continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


@pytest.fixture
def raw_upstream() -> Iterator[RawUpstream]:
    """Start raw upstreams on 127.0.0.1 that answer with a given status and body; all stop after the test."""
    servers: list[_RawServer] = []

    def start(body: bytes, status: int = 502, content_type: str = "application/json") -> str:
        head = (
            f"HTTP/1.1 {status} Status\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        server = _RawServer(head.encode("ascii") + body)
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()
