"""Fixtures of the adapter tests: raw loopback servers (raw_server.py), closed after each test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from raw_server import RawServer, Script


@pytest.fixture
def raw_server() -> Iterator[Callable[[Script], RawServer]]:
    """Start a RawServer with the given script; every server and held connection is closed afterwards."""
    servers: list[tuple[RawServer, threading.Thread]] = []

    def start(script: Script) -> RawServer:
        server = RawServer(script)
        thread = threading.Thread(target=server.serve, name="raw-server", daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.stop.set()
        thread.join(5)
        server.sock.close()
        for conn in server.held:
            conn.close()
