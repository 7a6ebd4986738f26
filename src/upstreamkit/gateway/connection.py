"""One upstream HTTP/1.1 connection (:mod:`.upstream` pools them): a request head and body written, the
response parsed by httptools (llhttp, the C parser behind uvicorn) through its callbacks.

Failures are raised as exceptions named the way HTTP stacks name them (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``) and chained to the socket or TLS error under
them, so the core's :func:`~upstreamkit.core.classify.classify_exception` maps them like any other stack's:
one taxonomy. A response body larger than the limit raises the taxonomy's error directly.

Bodies are read whole (up to ``max_body``): the gateway must see a body to find a 600 envelope in it, and
the bodies it fronts are API payloads. With a ``stream_threshold``, a body past it, of a status the gateway
passes through, is handed on as it arrives instead (:mod:`.stream`); the connection is reused once the
message is complete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httptools

from upstreamkit.errors import ErrorKind, make_error
from upstreamkit.gateway.stream import BodyStream

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "RemoteProtocolError",
    "UpstreamConnection",
    "UpstreamResponse",
]


class ConnectError(OSError):
    """No connection could be opened (the cause is chained: refused, DNS, TLS ...)."""


class ConnectTimeout(TimeoutError):  # noqa: N818 - the name HTTP stacks use; classify_exception reads it
    """The connection (TCP and TLS handshake) was not open in time."""


class ReadTimeout(TimeoutError):  # noqa: N818 - the name HTTP stacks use; classify_exception reads it
    """The request left and no complete response came back in time."""


class RemoteProtocolError(Exception):
    """The upstream closed the connection early or broke HTTP/1.1."""

    def __init__(self, message: str, *, before_response: bool = False) -> None:
        """``before_response``: not one byte of a response had arrived."""
        super().__init__(message)
        self.before_response = before_response


@dataclass(slots=True)
class UpstreamResponse:
    """A complete upstream response; header names and values as raw bytes, in order."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool
    connect_ms: float | None
    """Time to open the connection; None when a pooled one was reused."""
    ttfb_ms: float
    """From the request's first byte written to the response's first byte."""
    stream: BodyStream | None = None
    """The body still arriving, for a large passed-through response (``body`` is then empty); the connection
    is not the caller's to return: the stream releases it (:meth:`BodyStream.on_release`)."""


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to an upstream, answering one request at a time."""

    def __init__(self, max_body: int, stream_threshold: int | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._max_body = max_body
        self._stream_threshold = stream_threshold
        self._stream: BodyStream | None = None
        self._timeout = 0.0
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._status = 0
        self._started = 0.0
        self._first_byte = 0.0
        self._connect_ms: float | None = None
        self._headers_done = False
        self._framed = True
        self._head_only = False
        self.closed = False
        self.requests = 0
        self.origin: tuple[str, str, int] | None = None
        """Set by a pool that caps connections per origin: whose slot this connection holds."""

    # --- asyncio callbacks -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        stream = self._stream
        if stream is not None:
            self._stream = None
            if not self._framed and exc is None:
                stream.finish(keep_alive=False)
            else:
                error = RemoteProtocolError("peer closed connection without sending complete message body")
                stream.fail(error if exc is None else _chain(error, exc))
            return
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed and exc is None:
            self._finish(keep_alive=False)  # a body delimited by the connection's end (no length, not chunked)
            return
        if self._first_byte:
            error = RemoteProtocolError("peer closed connection without sending complete message body (incomplete)")
        else:
            error = RemoteProtocolError("Server disconnected without sending a response.", before_response=True)
        waiter.set_exception(error if exc is None else _chain(error, exc))

    def data_received(self, data: bytes) -> None:
        if not self._first_byte:
            self._first_byte = time.perf_counter()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(RemoteProtocolError("the upstream switched protocols; upgrades are not forwarded"))
        except httptools.HttpParserError as exc:
            self._fail(_chain(RemoteProtocolError(f"invalid HTTP response: {exc}"), exc))

    # --- httptools callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._stream = None
        self._headers = []
        self._body = []
        self._body_size = 0
        self._headers_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True
        framed = False
        for name, value in self._headers:
            lower = name.lower()
            if lower == b"content-length" or (lower == b"transfer-encoding" and b"chunked" in value.lower()):
                framed = True
        self._framed = framed or self._status in (204, 304) or self._status < 200
        if self._head_only and self._status >= 200:
            # llhttp cannot be told the request was HEAD: finish here and never reuse the connection.
            self._finish(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        stream = self._stream
        if stream is not None:
            stream.feed(body)
            return
        self._body_size += len(body)
        threshold = self._stream_threshold
        if threshold is not None and self._body_size > threshold and self._streamable():
            self._body.append(body)
            self._start_stream()
            return
        if self._body_size > self._max_body:
            self._fail(
                make_error(
                    ErrorKind.HTTP_RESPONSE_BODY_SIZE,
                    f"the upstream's response body exceeds the gateway's limit of {self._max_body} bytes",
                    hop="upstream",
                )
            )
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:  # 1xx informational: the real response follows
            self._headers_done = False
            return
        stream = self._stream
        if stream is not None:
            self._stream = None
            stream.finish(keep_alive=self._parser.should_keep_alive())
            return
        self._finish(keep_alive=self._parser.should_keep_alive())

    # --- requests ----------------------------------------------------------------------------------

    def _streamable(self) -> bool:
        """A status the gateway passes through (a failure's body is read whole, for the envelope)."""
        status = self._status
        return 200 <= status < 500 and status != 429 and self.transport is not None

    def _start_stream(self) -> None:
        """Hand the response on now, its body so far first in a :class:`BodyStream`, the rest as it comes."""
        assert self.transport is not None  # noqa: S101 - _streamable() checked it
        length = None
        for name, value in self._headers:
            if name.lower() == b"content-length" and value.strip().isdigit():
                length = int(value)
        stream = self._stream = BodyStream(self.transport, length=length, read_timeout=self._timeout)
        for part in self._body:
            stream.feed(part)
        self._body = []
        waiter = self._waiter
        if waiter is None or waiter.done():
            stream.abort()
            return
        ttfb = (self._first_byte - self._started) * 1000.0 if self._first_byte else 0.0
        response = UpstreamResponse(
            self._status, self._headers, b"", keep_alive=False, connect_ms=self._connect_ms,
            ttfb_ms=max(ttfb, 0.0), stream=stream,
        )  # fmt: skip
        waiter.set_result(response)

    def _finish(self, *, keep_alive: bool) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        ttfb = (self._first_byte - self._started) * 1000.0 if self._first_byte else 0.0
        waiter.set_result(
            UpstreamResponse(self._status, self._headers, body, keep_alive, self._connect_ms, max(ttfb, 0.0))
        )

    def _fail(self, error: BaseException) -> None:
        if self._stream is not None:
            self._stream.fail(error)
            self._stream = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()

    def abort(self) -> None:
        """Close at once (the connection cannot be reused)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def request(
        self, head: bytes, body: bytes, *, head_only: bool, timeout: float, connect_ms: float | None
    ) -> UpstreamResponse:
        """Send one request (``head`` ends with the blank line) and wait for its complete response."""
        transport = self.transport
        if transport is None or self.closed:
            raise RemoteProtocolError("Server disconnected without sending a response.", before_response=True)
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._head_only = head_only
        self._timeout = timeout
        self._first_byte = 0.0
        self._connect_ms = connect_ms
        self._headers_done = False
        self.requests += 1
        self._started = time.perf_counter()
        transport.write(head + body if body and len(body) < 65_536 else head)
        if body and len(body) >= 65_536:
            transport.write(body)
        handle = loop.call_at(loop.time() + timeout, self._time_out, waiter)
        try:
            response: UpstreamResponse = await waiter
        finally:
            handle.cancel()
            self._waiter = None
        return response

    def _time_out(self, waiter: asyncio.Future[UpstreamResponse]) -> None:
        if not waiter.done():
            waiter.set_exception(ReadTimeout("timed out waiting for the upstream's response"))
            self.abort()


def _chain(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error
