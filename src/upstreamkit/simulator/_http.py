"""A small HTTP/1.1 server on asyncio, written by hand because its faults live below HTTP.

Why by hand: an ordinary server (uvicorn, aiohttp, http.server) writes well-formed responses; the simulator
must also write a raw ``HTTP/1.1 600`` status line, send a Content-Length it never honours, stop mid-body,
reset the connection with an RST (``SO_LINGER`` 0, then close), close it without a response, trickle a
body at a set bandwidth, or say nothing at all. Those need the transport itself. Requests are parsed by
``httptools`` (the llhttp parser uvicorn uses), so the only hand-written part is the writing.

One :class:`Connection` per TCP connection. Keep-alive and pipelining work: requests are answered in order;
a plain response is written straight from the parser callback (no task per request, which is what makes
the healthy route fast), and a reply that needs time (latency, slow body, hang) runs as one task while
reading pauses. :meth:`Connection.abort` ends a connection at once, which is how ``stop()`` closes hung ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Literal, cast

import httptools

__all__ = ["Connection", "Reply", "Request", "render_response"]

_MAX_BODY = 16 * 1024 * 1024
_MID_RESPONSE_PAUSE = 0.05
_SERVER = b"upstreamkit-simulator"


@dataclass(slots=True)
class Request:
    """A parsed request: header names lower-cased (the last of repeated headers wins)."""

    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    peer: str


Action = Literal["send", "hang", "reset", "close", "truncate", "slow"]


@dataclass(slots=True)
class Reply:
    """What to do with one request: a response and, for faults, how to (mis)deliver it."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    action: Action = "send"
    at: Literal["before", "body"] = "before"
    delay: float = 0.0
    fraction: float = 0.5
    bytes_per_second: float = 4096.0
    chunk: int = 512
    close: bool = False


_REASONS = {int(status): status.phrase.encode() for status in HTTPStatus}
_REASONS[600] = b"Upstream Error"


def _reason(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


class _DateCache:
    """The Date header, formatted once per second rather than once per response."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


_DATE = _DateCache()


def render_head(status: int, reply: Reply, content_length: int, *, keep_alive: bool) -> bytes:
    """Status line and headers, with a Content-Length that need not match the bytes that follow."""
    lines = [
        b"HTTP/1.1 %d %s\r\n" % (status, _reason(status)),
        b"Server: " + _SERVER + b"\r\nDate: " + _DATE.get() + b"\r\n",
        b"Content-Type: " + reply.content_type.encode("latin-1") + b"\r\n",
        b"Content-Length: %d\r\n" % content_length,
    ]
    lines.extend(f"{name}: {value}\r\n".encode("latin-1", "replace") for name, value in reply.headers)
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def render_response(reply: Reply, *, keep_alive: bool = True, head_only: bool = False) -> bytes:
    """A complete, well-formed response (whatever its status code)."""
    head = render_head(reply.status, reply, len(reply.body), keep_alive=keep_alive)
    return head if head_only else head + reply.body


Handler = Callable[[Request, "Connection"], Reply]


class Connection(asyncio.Protocol):
    """One client connection: parses requests, asks the handler, writes (or withholds) responses."""

    def __init__(self, handler: Handler, registry: set[Connection]) -> None:
        self._handler = handler
        self._registry = registry
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._peer = ""
        self._url = b""
        self._header_list: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._hung = False
        self._closed = False

    # --- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection so ``stop()`` can end it."""
        self._transport = cast(asyncio.Transport, transport)
        self._registry.add(self)
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and stop whatever it was doing."""
        self._closed = True
        self._registry.discard(self)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a malformed request gets a 400 and the connection closes."""
        if self._hung or self._closed:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._send_and_close(Reply(400, b'{"error": "upgrades are not supported"}'))
        except httptools.HttpParserError:
            self._send_and_close(Reply(400, b'{"error": "malformed request"}'))

    # --- httptools callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A new request starts."""
        self._url = b""
        self._header_list = []
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        """Part of the request target."""
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header line."""
        self._header_list.append((name, value))

    def on_body(self, body: bytes) -> None:
        """Part of the body (bounded, so a huge upload cannot exhaust memory)."""
        self._body_size += len(body)
        if self._body_size <= _MAX_BODY:
            self._body.append(body)

    def on_message_complete(self) -> None:
        """A whole request: answer it now, or queue it behind the one being answered."""
        target = self._url.decode("latin-1")
        path, _, query = target.partition("?")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self._header_list}
        request = Request(
            method=self._parser.get_method().decode("ascii", "replace"),
            target=target,
            path=path,
            query=query,
            headers=headers,
            body=b"".join(self._body),
            keep_alive=self._parser.should_keep_alive(),
            peer=self._peer,
        )
        if self._body_size > _MAX_BODY:
            self._send_and_close(Reply(413, b'{"error": "request body too large"}'))
            return
        if self._task is not None or self._pending:
            self._pending.append(request)
            return
        self._dispatch(request)

    # --- answering ----------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> None:
        reply = self._handler(request, self)
        if reply.action == "send" and reply.delay <= 0:
            self._write_whole(request, reply)
            return
        transport = self._transport
        if transport is None:
            return
        transport.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._run(request, reply))

    def _write_whole(self, request: Request, reply: Reply) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        keep_alive = request.keep_alive and not reply.close
        transport.write(render_response(reply, keep_alive=keep_alive, head_only=request.method == "HEAD"))
        if not keep_alive:
            transport.close()

    async def _run(self, request: Request, reply: Reply) -> None:
        try:
            if reply.delay > 0:
                await asyncio.sleep(reply.delay)
            await self._deliver(request, reply)
        finally:
            self._task = None
        self._next()

    def _next(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._hung:
            return
        while self._pending and self._task is None and not transport.is_closing():
            self._dispatch(self._pending.popleft())
        if self._task is None and not transport.is_closing():
            transport.resume_reading()

    async def _deliver(self, request: Request, reply: Reply) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        action = reply.action
        if action == "send":
            self._write_whole(request, reply)
        elif action == "close":
            transport.close()
        elif action == "hang":
            self._hung = True
            if reply.at == "body":
                transport.write(self._partial(reply))
        elif action == "reset":
            if reply.at == "body":
                transport.write(self._partial(reply))
                await asyncio.sleep(_MID_RESPONSE_PAUSE)
            self.reset()
        elif action == "truncate":
            transport.write(self._partial(reply))
            transport.close()
        elif action == "slow":
            await self._trickle(request, reply)

    @staticmethod
    def _partial(reply: Reply) -> bytes:
        """Headers announcing the whole body, then only ``fraction`` of it."""
        sent = int(len(reply.body) * reply.fraction)
        return render_head(reply.status, reply, len(reply.body), keep_alive=True) + reply.body[:sent]

    async def _trickle(self, request: Request, reply: Reply) -> None:
        transport = self._transport
        if transport is None:
            return
        keep_alive = request.keep_alive and not reply.close
        transport.write(render_head(reply.status, reply, len(reply.body), keep_alive=keep_alive))
        pause = reply.chunk / reply.bytes_per_second
        for offset in range(0, len(reply.body), reply.chunk):
            if transport.is_closing():
                return
            transport.write(reply.body[offset : offset + reply.chunk])
            if offset + reply.chunk < len(reply.body):
                await asyncio.sleep(pause)
        if not keep_alive:
            transport.close()

    def _send_and_close(self, reply: Reply) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(render_response(reply, keep_alive=False))
            transport.close()
        self._closed = True

    def reset(self) -> None:
        """End the connection with a TCP RST: linger on with a zero timeout, then close."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone: the abort below is all that is left to do
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def abort(self) -> None:
        """Close at once, whatever is in flight (used by ``stop()``)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._transport is not None:
            self._transport.abort()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The reply being delivered slowly, if any."""
        return self._task
