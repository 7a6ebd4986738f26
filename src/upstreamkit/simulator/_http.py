"""A small HTTP/1.1 server on asyncio, written by hand because its faults live below HTTP.

Why by hand: an ordinary server (uvicorn, aiohttp, http.server) writes well-formed responses; the simulator
must also write a raw ``HTTP/1.1 600`` status line, send a Content-Length it never honours, stop mid-body,
reset the connection with an RST (``SO_LINGER`` 0, then close), close it without a response, trickle a
body at a set bandwidth, or say nothing at all. Those need the transport itself. Requests are parsed by
``httptools`` (the llhttp parser uvicorn uses), so the only hand-written part is the writing (``_wire.py``).

One :class:`Connection` per TCP connection. Keep-alive and pipelining work: requests are answered in order;
a plain response is written straight from the parser callback (no task per request, which is what makes
the healthy route fast), and a reply that needs time (latency, slow body, hang) runs as one task while
reading pauses. :meth:`Connection.abort` ends a connection at once, which is how ``stop()`` closes hung ones.

Each connection is bounded in bytes and seconds by :class:`~.limits.ServerLimits`: too long a request target
is a 414, too many or too large header fields a 431, too large a body a 413, a request that stops half-way a
408, an idle connection is closed. Those refusals happen here, below the scenario: they never reach the
handler, so they are not in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Literal, cast

import httptools

from upstreamkit.simulator._wire import Reply, Request, render_head, render_response
from upstreamkit.simulator.limits import Deadline, ServerLimits

__all__ = ["Connection", "Handler"]

_MID_RESPONSE_PAUSE = 0.05
_CONTENT_LENGTH_SIZE = len(b"content-length")


Handler = Callable[[Request, "Connection"], Reply]


class _Refusal(Exception):  # noqa: N818 - a signal from a parser callback, not an error
    """Raised inside a parser callback to stop parsing and answer ``reply`` (then close)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _error(status: int, error: str) -> Reply:
    """A refusal's reply: the status and a one-field JSON body."""
    return Reply(status, b'{"error": "%s"}' % error.encode())


Stage = Literal["idle", "head", "body"]


class Connection(asyncio.Protocol):
    """One client connection: parses requests, asks the handler, writes (or withholds) responses.

    Memory stays bounded whatever the client sends (see :mod:`.limits`): the request target, the header
    fields and the body are counted as they arrive and refused past their limits, including a header line
    that never ends (it grows inside the parser, where no callback sees it, so every read that brings no
    callback counts whole: the refusal comes at most one read, 256 KiB, late); writing pauses reading when
    the client does not read its responses. What one read can hold (a few thousand tiny pipelined requests
    and their responses) is the remaining slack.
    """

    def __init__(
        self,
        handler: Handler,
        registry: set[Connection],
        limits: ServerLimits | None = None,
        on_refused: Callable[[int], None] | None = None,
    ) -> None:
        self._handler = handler
        self._on_refused = on_refused
        self._registry = registry
        self._limits = limits if limits is not None else ServerLimits()
        self._transport: asyncio.Transport | None = None
        self._deadline: Deadline | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._peer = ""
        self._stage: Stage = "idle"
        self._url: list[bytes] = []
        self._url_size = 0
        self._header_list: list[tuple[bytes, bytes]] = []
        self._header_size = 0
        self._unparsed = 0  # bytes of a header line still growing inside the parser
        self._callbacks = 0  # parser callbacks seen, to tell a read that completed nothing
        self._body = bytearray()  # not a list of parts: a chunked body of 1-byte chunks would cost ~40x in objects
        self._body_size = 0
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._refused: Reply | None = None  # waiting for the replies ahead of it
        self._write_paused = False
        self._hung = False
        self._closed = False

    # --- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection so ``stop()`` can end it, and start its idle clock."""
        self._transport = cast(asyncio.Transport, transport)
        self._registry.add(self)
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        shortest = min(self._limits.header_timeout, self._limits.idle_timeout)
        self._deadline = Deadline(asyncio.get_running_loop(), self._expired, shortest)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and stop whatever it was doing."""
        self._closed = True
        self._registry.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a malformed request gets a 400, one over a limit its 4xx, and the connection closes."""
        if self._hung or self._closed or self._refused is not None:
            return  # a hung or refused connection discards what still comes (memory stays flat)
        reading_head, callbacks = self._stage == "head", self._callbacks
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refusal):
                self._refuse(cause.reply)
                return
            # A bug in the simulator's own handler: say so (500, and a logged traceback), not "bad request".
            loop = asyncio.get_running_loop()
            loop.call_exception_handler({"message": "simulator handler failed", "exception": cause})
            self._refuse(_error(500, "simulator error"))
            return
        except httptools.HttpParserUpgrade:
            self._refuse(_error(400, "upgrades are not supported"))
            return
        except httptools.HttpParserError:
            self._refuse(_error(400, "malformed request"))
            return
        if self._stage == "head" and reading_head and callbacks == self._callbacks:
            self._unparsed += len(data)
            if self._header_size + self._unparsed > self._limits.max_header_bytes:
                self._refuse(_error(431, "request header fields too large"))

    def pause_writing(self) -> None:
        """The client is not reading its responses: stop reading its requests, and hold the ones already
        read unanswered, until it does (it has ``idle_timeout`` to read something)."""
        self._write_paused = True
        if self._transport is not None:
            self._transport.pause_reading()
        self._watch()

    def resume_writing(self) -> None:
        """The client caught up: answer what is held, then read again."""
        self._write_paused = False
        self._next()

    # --- httptools callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A new request starts: its header clock runs from here."""
        self._stage = "head"
        self._url = []
        self._url_size = 0
        self._header_list = []
        self._header_size = 0
        self._unparsed = 0
        self._body = bytearray()
        self._body_size = 0
        if self._deadline is not None:  # the hot path: set, not _watch() (_expired checks for a reply in progress)
            self._deadline.set(self._limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        """Part of the request target."""
        self._callbacks += 1
        self._url_size += len(url)
        if self._url_size > self._limits.max_request_line:
            raise _Refusal(_error(414, "request target too long"))
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header line."""
        self._callbacks += 1
        self._unparsed = 0
        self._header_size += len(name) + len(value)
        self._header_list.append((name, value))
        limits = self._limits
        if len(self._header_list) > limits.max_headers or self._header_size > limits.max_header_bytes:
            raise _Refusal(_error(431, "request header fields too large"))
        if len(name) == _CONTENT_LENGTH_SIZE and name.lower() == b"content-length":
            declared = value.strip()
            if declared.isdigit() and int(declared) > limits.max_body_bytes:
                raise _Refusal(_error(413, "request body too large"))

    def on_headers_complete(self) -> None:
        """The headers are in (the header clock runs on until the first part of the body)."""
        self._stage = "body"

    def on_body(self, body: bytes) -> None:
        """Part of the body, refused as soon as it passes the limit (a chunked body announces no size); the
        next part is due within ``header_timeout``."""
        self._body_size += len(body)
        if self._body_size > self._limits.max_body_bytes:
            raise _Refusal(_error(413, "request body too large"))
        self._body += body
        if self._deadline is not None:
            self._deadline.set(self._limits.header_timeout)

    def on_message_complete(self) -> None:
        """A whole request: answer it now, or queue it behind the one being answered."""
        self._stage = "idle"
        target = b"".join(self._url).decode("latin-1")
        path, _, query = target.partition("?")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self._header_list}
        request = Request(
            method=self._parser.get_method().decode("ascii", "replace"),
            target=target,
            path=path,
            query=query,
            headers=headers,
            body=bytes(self._body),
            keep_alive=self._parser.should_keep_alive(),
            peer=self._peer,
        )
        if self._task is not None or self._pending or self._write_paused:
            self._pending.append(request)
            return
        self._dispatch(request)
        if self._task is None and self._deadline is not None:
            self._deadline.set(self._limits.idle_timeout)

    # --- time limits --------------------------------------------------------------------------------

    def _watch(self) -> None:
        """Set the deadline the connection's stage calls for; none while a reply is in progress."""
        deadline = self._deadline
        if deadline is None:
            return
        if self._closed or self._hung or self._task is not None:
            deadline.clear()
        elif self._write_paused or self._stage == "idle":
            deadline.set(self._limits.idle_timeout)
        else:
            deadline.set(self._limits.header_timeout)

    def _expired(self) -> None:
        """Idle too long: close quietly. Part of a request and then nothing: 408, then close."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._closed:
            return
        if self._hung or self._task is not None:
            return  # a reply in progress is never cut short; _next() sets the deadline again after it
        if self._write_paused:
            self._closed = True
            transport.abort()  # it read nothing of its responses for idle_timeout: no graceful close to wait for
        elif self._stage != "idle":
            self._refuse(_error(408, "request timeout"))
        else:
            self._closed = True
            self._linger_end()

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
        self._watch()

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
        while self._pending and self._task is None and not self._write_paused and not transport.is_closing():
            self._dispatch(self._pending.popleft())
        if self._task is not None or self._pending or transport.is_closing():
            return
        if self._refused is not None:
            self._refuse(self._refused)
            return
        if not self._write_paused:
            transport.resume_reading()
        self._watch()

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

    def _refuse(self, reply: Reply) -> None:
        """Answer ``reply`` with ``Connection: close`` once the replies ahead of it are out, then close.

        The close lingers: the server stops sending (FIN) but reads and discards for ``linger`` seconds, so a
        client still sending gets to read the answer rather than a reset for the bytes nobody read.
        """
        if self._closed:
            return
        if self._task is not None or self._pending:
            self._refused = reply
            if self._transport is not None:
                self._transport.pause_reading()
            return
        self._closed = True
        if self._deadline is not None:
            self._deadline.cancel()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._on_refused is not None:
            self._on_refused(reply.status)
        transport.write(render_response(reply, keep_alive=False))
        if transport.can_write_eof():
            transport.write_eof()
        transport.resume_reading()
        asyncio.get_running_loop().call_later(self._limits.linger, self._linger_end)

    def _linger_end(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            transport.abort()  # the client reads nothing: a graceful close would wait for it forever
        else:
            transport.close()

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
