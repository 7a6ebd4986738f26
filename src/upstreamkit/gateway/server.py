"""The public side of the data plane: an HTTP/1.1 server protocol fed by httptools (llhttp) callbacks.

Why by hand: uvicorn's own protocol object (``uvicorn/protocols/http/httptools_impl.py``) is the model, but
behind it an ASGI app costs an event dict per message, a receive/send coroutine pair and a task per
request; the benchmark (bench/RESULTS.md, "Gateway data plane") measured what that costs a forwarder.
This protocol hands a handler one complete :class:`Request` (raw header pairs, the whole body) and writes
one :class:`Response` with a single ``transport.write``. Keep-alive, pipelining (answered in order),
write flow control and limits live here, beside the handler and not inside it.

Limits: the request target plus header fields (``max_header_bytes``), the number of fields
(``max_headers``) and the body (``max_body_bytes``, checked against Content-Length before any byte of the
body is read). A request over a limit is refused (431 or 413) through the ``refuse`` callback, and the
connection is closed after the answer, since the rest of that request is still on the wire.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httptools

from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.stream import BodyStream

__all__ = ["HTTPProtocol", "Handler", "Limits", "Refuse", "Request", "Response", "ServerState"]


@dataclass(slots=True)
class Request:
    """One complete request as the caller sent it: raw target and header pairs, the whole body."""

    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    client: str
    keep_alive: bool


@dataclass(slots=True)
class Response:
    """What to write back. Content-Length and Connection are the server's to add."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    stream: BodyStream | None = None
    """A body still arriving from upstream (:mod:`.stream`), written as it comes after ``body`` (empty)."""


Handler = Callable[[Request], Awaitable[Response]]
Refuse = Callable[[Request, int, ErrorKind, str], Response]
"""``refuse(request, status, kind, detail)``: the answer to a request the server will not take (the request
holds what was read of it: method, target, header fields; no body)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes the server accepts and how long it keeps a silent connection."""

    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int = 10 * 1024 * 1024
    keep_alive_timeout: float = 60.0
    request_read_timeout: float = 30.0
    """From a request's first byte to its last: a caller that stalls mid-request (slowloris) is cut off."""
    max_pipelined: int = 16


class ServerState:
    """The connections of one listener, so a graceful stop can reach them."""

    def __init__(self) -> None:
        self.connections: set[HTTPProtocol] = set()
        self.in_flight = 0


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Upstream Error" if status == 600 else b"Unknown"


_STATUS_LINES: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d %s\r\n" % (status, _reason(status))
        if len(_STATUS_LINES) < 1000:
            _STATUS_LINES[status] = line
    return line


class _OversizeError(Exception):
    def __init__(self, status: int, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail


class HTTPProtocol(asyncio.Protocol):
    """One caller connection: parse, hand complete requests to the handler in order, write the answers."""

    def __init__(self, handler: Handler, refuse: Refuse, limits: Limits, state: ServerState) -> None:
        self._handler = handler
        self._refuse = refuse
        self._limits = limits
        self._state = state
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = ""
        # Requests to answer, in order; a refusal (a ready Response) is last, and the connection ends after it.
        self._queue: deque[Request | Response] = deque()
        self._task: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._closing = False
        self._refused = False
        self._draining = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._reset_message()

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._body_size = 0
        self._in_message = False

    # --- asyncio callbacks -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._state.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        self._closing = True
        self._writable.set()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        if self._closing or self._refused:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            last = self._queue[-1] if self._queue else None
            if isinstance(last, Request) and not self._in_message:
                # The request was complete (llhttp ends CONNECT and Upgrade requests before stopping): it is
                # answered like any other (CONNECT has no route; an upgrade is not performed), then the
                # connection ends, since what follows on it is not HTTP.
                last.keep_alive = False
                self._refused = True
                if self._transport is not None:
                    self._transport.pause_reading()
            elif self._parser.get_method() == b"CONNECT":  # a tunnel to anywhere: never (the gateway is not open)
                self._refuse_and_close(404, ErrorKind.DESTINATION_NOT_FOUND, "CONNECT is not served by this gateway")
            else:
                self._refuse_and_close(400, ErrorKind.HTTP_REQUEST_ERROR, "protocol upgrades are not forwarded")
        except httptools.HttpParserError as exc:
            # httptools wraps an exception raised in a callback in HttpParserCallbackError: look under it.
            over = exc.__context__ or exc.__cause__
            if isinstance(over, _OversizeError):
                self._refuse_and_close(over.status, over.kind, over.detail)
            else:
                self._refuse_and_close(400, ErrorKind.HTTP_REQUEST_ERROR, f"malformed HTTP request: {exc}")

    # --- httptools callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset_message()
        self._in_message = True
        self._arm(self._limits.request_read_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._size += len(url)
        if self._size > self._limits.max_header_bytes:
            raise _OversizeError(414, ErrorKind.HTTP_REQUEST_DENIED, "the request target is too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._size += len(name) + len(value) + 4
        if self._size > self._limits.max_header_bytes or len(self._headers) > self._limits.max_headers:
            raise _OversizeError(431, ErrorKind.HTTP_REQUEST_DENIED, "the request's header section is too large")

    def on_headers_complete(self) -> None:
        expect_continue = False
        for name, value in self._headers:
            lower = name.lower()
            if lower == b"content-length" and value.strip().isdigit() and int(value) > self._limits.max_body_bytes:
                raise _OversizeError(413, ErrorKind.PAYLOAD_REJECTED, self._body_detail())
            if lower == b"expect" and value.strip().lower() == b"100-continue":
                expect_continue = True
        if expect_continue and self._transport is not None:
            # The body is read whole before forwarding, so the caller may send it now.
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _body_detail(self) -> str:
        return f"the request body exceeds the gateway's limit of {self._limits.max_body_bytes} bytes"

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._limits.max_body_bytes:
            raise _OversizeError(413, ErrorKind.PAYLOAD_REJECTED, self._body_detail())
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        parser = self._parser
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(
            parser.get_method().decode("ascii", "replace"),
            self._url,
            self._headers,
            body,
            self._client,
            parser.should_keep_alive(),
        )
        self._reset_message()
        self._queue.append(request)
        if len(self._queue) >= self._limits.max_pipelined and self._transport is not None:
            self._transport.pause_reading()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve())

    # --- answering ---------------------------------------------------------------------------------

    async def _serve(self) -> None:
        state = self._state
        try:
            while self._queue and not self._closing:
                item = self._queue.popleft()
                if isinstance(item, Response):  # a refusal: the rest of that request is still on the wire
                    self._write("GET", item, keep_alive=False)
                    self._close()
                    return
                state.in_flight += 1
                try:
                    response = await self._handler(item)
                finally:
                    state.in_flight -= 1
                keep_alive = item.keep_alive and not self._closing and not self._draining
                self._write(item.method, response, keep_alive=keep_alive)
                if response.stream is not None and not await self._write_stream(response.stream, keep_alive=keep_alive):
                    self._abort_after_broken_body()
                    return
                if not keep_alive:
                    self._close()
                    return
                if not self._writable.is_set():
                    await self._writable.wait()
                if self._transport is not None and len(self._queue) < self._limits.max_pipelined:
                    self._transport.resume_reading()
        finally:
            self._task = None
        if not self._queue and not self._in_message:
            self._arm_idle()

    def _write(self, method: str, response: Response, *, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        status = response.status
        parts = [_status_line(status)]
        for name, value in response.headers:
            parts += (name, b": ", value, b"\r\n")
        bodiless = status < 200 or status in (204, 304)
        stream = response.stream
        if stream is not None:
            length = stream.length
            if length is not None:
                parts.append(b"content-length: %d\r\n" % length)
            elif keep_alive:  # else the body ends with the connection, which HTTP/1.0 callers read too
                parts.append(b"transfer-encoding: chunked\r\n")
        elif not bodiless and method != "HEAD":
            parts.append(b"content-length: %d\r\n" % len(response.body))
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if not bodiless and method != "HEAD":
            parts.append(response.body)
        transport.write(b"".join(parts))

    async def _write_stream(self, stream: BodyStream, *, keep_alive: bool) -> bool:
        """Write a streamed body as it arrives, waiting for the caller's transport to drain; False when it
        broke (the upstream failed or stalled) or the caller went away."""
        chunked = stream.length is None and keep_alive
        try:
            while True:
                data = await stream.read()
                transport = self._transport
                if self._closing or transport is None or transport.is_closing():
                    stream.abort()
                    return False
                if not data:
                    break
                transport.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
                if not self._writable.is_set():
                    await self._writable.wait()
        except asyncio.CancelledError:
            stream.abort()
            raise
        except Exception:  # noqa: BLE001 - any broken body ends the same way
            stream.abort()
            return False
        if chunked and self._transport is not None:
            self._transport.write(b"0\r\n\r\n")
        return True

    def _abort_after_broken_body(self) -> None:
        """The status line went out, the body broke: drop the connection (no final chunk, no full length)."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def _refuse_and_close(self, status: int, kind: ErrorKind, detail: str) -> None:
        """Answer a request the parser refused, after the requests already queued, then close."""
        self._refused = True
        if self._transport is not None:
            self._transport.pause_reading()
        method = self._parser.get_method().decode("ascii", "replace") if self._url else "-"
        partial = Request(method, self._url, self._headers, b"", self._client, keep_alive=False)
        self._queue.append(self._refuse(partial, status, kind, detail))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve())

    def _arm_idle(self) -> None:
        self._arm(self._limits.keep_alive_timeout)

    def _arm(self, seconds: float) -> None:
        """Close the connection unless something cancels this within ``seconds`` (idle, or a request read)."""
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        loop = asyncio.get_running_loop()
        self._idle_handle = loop.call_at(loop.time() + seconds, self._close)

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    # --- graceful stop -----------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """True between requests: nothing queued, nothing being answered, no request half read."""
        return self._task is None and not self._queue and not self._in_message

    def shutdown(self) -> None:
        """Close now when idle; otherwise after the answer in progress, which goes out with ``Connection: close``."""
        self._draining = True
        if self.idle:
            self._close()

    def abort(self) -> None:
        """Drop the connection at once (end of a bounded drain)."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()
