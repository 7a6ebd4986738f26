"""Raw loopback servers for the transport's socket-level findings: a server that never answers, and one
whose bodies break off mid-way. Each runs in a thread on 127.0.0.1, bounded, and is closed by the fixture."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Script = Callable[[socket.socket, int], None]
"""What the server does with accepted connection number n (0-based), after reading the request head."""


@dataclass
class RawServer:
    """A loopback HTTP/1.1 server played by a script: one connection at a time, one request each."""

    script: Script
    sock: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    connections: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    held: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set() and self.connections < 100:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            n, self.connections = self.connections, self.connections + 1
            conn.settimeout(5)
            try:
                _read_head(conn)
                self.script(conn, n)
            except OSError:
                conn.close()


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
