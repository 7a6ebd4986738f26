"""The upstream side of the data plane: pooled keep-alive HTTP/1.1 connections, responses parsed by httptools.

Why by hand: the forwarder is the gateway's hot path, and the measured peers are too slow for it on this
kind of machine (bench/RESULTS.md, "Gateway data plane"): ``httpx.AsyncClient`` forwards about 1.4k req/s,
an aiohttp ``ClientSession`` about 12k. A gateway already holds the request as raw header pairs and
bytes, so what it needs is small: write a request head and body, parse a response with llhttp (the C
parser behind uvicorn, via ``httptools``), keep the connection for the next request. That is
:mod:`.connection` (one :class:`UpstreamConnection` protocol object per TCP or TLS connection, fed by the
parser's callbacks, and the exceptions it raises) and this module: an :class:`UpstreamPool` of idle
connections per origin, most recently used first.

A pool may cap the connections open to one origin (idle and busy, :mod:`.capacity`): a request beyond the cap
waits for one to be returned or closed, in a bounded queue for a bounded time, else fails with the taxonomy's
``connection_limit_reached`` (the gateway's own overload, the request never left).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable

from upstreamkit.gateway.capacity import OriginCap
from upstreamkit.gateway.connection import (
    ConnectError,
    ConnectTimeout,
    ReadTimeout,
    RemoteProtocolError,
    UpstreamConnection,
    UpstreamResponse,
)

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "RemoteProtocolError",
    "Resolver",
    "UpstreamConnection",
    "UpstreamPool",
    "UpstreamResponse",
]

Resolver = Callable[[str, int], Awaitable[list[tuple[int, tuple[object, ...]]]]]
"""``resolve(host, port)`` -> ``[(family, sockaddr), ...]``; raises ``socket.gaierror`` as getaddrinfo does."""


async def _getaddrinfo(host: str, port: int) -> list[tuple[int, tuple[object, ...]]]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, tuple(sockaddr)) for family, _, _, _, sockaddr in infos]


class UpstreamPool:
    """Idle keep-alive connections per origin ``(scheme, host, port)``, reused most recently used first."""

    def __init__(
        self,
        *,
        max_idle_per_origin: int = 64,
        max_body: int = 32 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
        max_connections_per_origin: int | None = None,
        queue_timeout: float = 1.0,
        max_queued: int = 1024,
        stream_threshold: int | None = None,
    ) -> None:
        """``resolver`` replaces the system resolver (tests point it at a loopback DNS server);
        ``max_connections_per_origin`` caps the connections open to one origin (None: no cap), a request beyond
        it waiting at most ``queue_timeout`` s, with at most ``max_queued`` others; ``stream_threshold``: body
        bytes past which a passed-through response is streamed (None: always read whole)."""
        self._idle: dict[tuple[str, str, int], deque[UpstreamConnection]] = {}
        self._max_idle = max_idle_per_origin
        self._max_body = max_body
        self._ssl_context = ssl_context
        self._resolver = resolver
        self._all: set[UpstreamConnection] = set()
        self._stream_threshold = stream_threshold
        self._cap = (
            OriginCap(max_connections_per_origin, queue_timeout=queue_timeout, max_queued=max_queued)
            if max_connections_per_origin is not None
            else None
        )

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def connect(self, origin: tuple[str, str, int], timeout: float) -> UpstreamConnection:
        """A new connection to ``origin`` (TCP, then TLS for https), within ``timeout`` seconds.

        At the origin's cap, it waits for a connection to be returned (and gives that one) or closed (and opens
        one), at most the queue's timeout; raises ``connection_limit_reached`` when none comes or the queue is full.
        """
        cap = self._cap
        if cap is None:
            connection = await self._connect(origin, timeout)
            self._all.add(connection)
            return connection
        idle = await cap.acquire(origin, timeout, self.checkout)
        if idle is not None:
            return idle
        try:
            connection = await self._connect(origin, timeout)
        except BaseException:
            cap.release(origin)
            raise
        connection.origin = origin
        self._all.add(connection)
        return connection

    async def _connect(self, origin: tuple[str, str, int], timeout: float) -> UpstreamConnection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        max_body, threshold = self._max_body, self._stream_threshold

        async def open_connection() -> UpstreamConnection:
            if self._resolver is not None:
                addresses = await self._resolver(host, port)
                if not addresses:
                    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                family, sockaddr = addresses[0]
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)  # noqa: FBT003 - the socket API's own signature
                try:
                    await loop.sock_connect(sock, sockaddr)
                except BaseException:
                    sock.close()
                    raise
                _, protocol = await loop.create_connection(
                    lambda: UpstreamConnection(max_body, threshold),
                    sock=sock,
                    ssl=self._ssl() if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                )
                return protocol
            _, protocol = await loop.create_connection(
                lambda: UpstreamConnection(max_body, threshold),
                host,
                port,
                ssl=self._ssl() if scheme == "https" else None,
            )
            return protocol

        try:
            async with asyncio.timeout(timeout):
                connection = await open_connection()
        except TimeoutError as exc:
            raise ConnectTimeout(f"connect to {host}:{port} timed out after {timeout:g} s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"connect to {host}:{port} failed: {exc}") from exc
        return connection

    def checkout(self, origin: tuple[str, str, int]) -> UpstreamConnection | None:
        """An idle connection to ``origin`` that is still open, or None."""
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.transport is not None and not connection.transport.is_closing():
                return connection
            self._forget(connection)
        return None

    def checkin(self, origin: tuple[str, str, int], connection: UpstreamConnection, *, reusable: bool) -> None:
        """Return a connection after a complete response; closed at once when not reusable or the pool is full."""
        idle = self._idle.setdefault(origin, deque())
        if not reusable or connection.closed or len(idle) >= self._max_idle:
            self.discard(connection)
            return
        idle.append(connection)
        if self._cap is not None:
            self._cap.wake(origin)

    def discard(self, connection: UpstreamConnection) -> None:
        """Close and forget a connection."""
        connection.abort()
        self._forget(connection)

    def _forget(self, connection: UpstreamConnection) -> None:
        if connection in self._all:
            self._all.discard(connection)
            if connection.origin is not None and self._cap is not None:
                self._cap.release(connection.origin)

    @property
    def open_connections(self) -> int:
        """Connections opened by this pool and not yet discarded (idle and busy)."""
        return len(self._all)

    def close(self) -> None:
        """Close every connection, idle or busy."""
        for connection in list(self._all):
            with contextlib.suppress(Exception):
                connection.abort()
        self._all.clear()
        self._idle.clear()
        if self._cap is not None:
            self._cap.clear()
