"""A loopback server that answers every request with bytes chosen from its head, then closes the connection.

Shared by the proxy fixtures' capture script (an upstream that answers an SSH banner) and the diagnose test
that replays the captured pages byte for byte. One daemon thread on 127.0.0.1, one connection at a time,
bounded in head size, per-connection time and connection count; leaving the ``with`` block stops it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

_ACCEPT_POLL = 0.2
_HEAD_LIMIT = 65_536
_CONNECTION_TIMEOUT = 2.0
_MAX_CONNECTIONS = 10_000


class CannedServer:
    """Answer each connection with ``respond(request_head)``; the head is read up to its blank line."""

    def __init__(self, respond: Callable[[bytes], bytes]) -> None:
        self._respond = respond
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(_ACCEPT_POLL)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="canned-server", daemon=True)

    @property
    def port(self) -> int:
        port: int = self._sock.getsockname()[1]
        return port

    def __enter__(self) -> CannedServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        for _ in range(_MAX_CONNECTIONS):
            conn = self._accept()
            if conn is None:
                return
            with conn:
                conn.settimeout(_CONNECTION_TIMEOUT)
                with contextlib.suppress(OSError):
                    conn.sendall(self._respond(_read_head(conn)))

    def _accept(self) -> socket.socket | None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            return conn
        return None


def _read_head(conn: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
        chunk = conn.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def request_path(head: bytes) -> str:
    """The target of the request line (``GET /a/b HTTP/1.1`` → ``/a/b``), or "" when there is none."""
    parts = head.split(b" ", 2)
    return parts[1].decode("ascii", "replace") if len(parts) > 1 else ""
