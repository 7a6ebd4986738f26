"""A large upstream response body, passed to the caller as it arrives instead of being buffered whole.

The upstream connection (:mod:`.upstream`) buffers a body up to ``stream_threshold`` bytes: a small body is
judged whole (a 600 envelope in a 200 is found there). Past the threshold, and only for a status the gateway
passes through (2xx, 3xx, a 4xx other than 429; a failure is always read whole for the envelope), the
response is handed on at once with a :class:`BodyStream`: the parser keeps feeding it, the server
(:mod:`.server`) reads it and writes each piece to the caller (``Content-Length`` when the upstream sent one,
else chunked), and the connection goes back to the pool once the upstream's message is complete.

Flow control both ways: past ``high_water`` buffered bytes the upstream socket stops being read until the
caller has taken the buffer below ``low_water``; the server waits for its own transport to drain.
A body that stops (no byte within the read timeout) or breaks (the upstream closed early) ends the caller's
connection without the final chunk: after the status line has gone, that is the only way HTTP/1.1 has to
say the body is incomplete.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["BodyStream"]

_HIGH_WATER = 1024 * 1024
_LOW_WATER = 256 * 1024
_READ_AT_MOST = 256 * 1024
"""Bytes handed to the caller per read: few writes, bounded memory per write."""


class BodyStream:
    """Body bytes from one upstream response, read in order by one reader."""

    def __init__(
        self,
        transport: asyncio.Transport,
        *,
        length: int | None,
        read_timeout: float,
        high_water: int = _HIGH_WATER,
        low_water: int = _LOW_WATER,
    ) -> None:
        """``transport``: the upstream connection's (paused and resumed for flow control); ``length``: the
        upstream's ``Content-Length`` (None: chunked or delimited by the connection's end)."""
        self.length = length
        self.read_timeout = read_timeout
        self.received = 0
        self._transport = transport
        self._high, self._low = high_water, low_water
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._release: Callable[[bool], None] | None = None
        self._released: bool | None = None
        """None: the connection is not released yet; else whether it was reusable."""

    # --- the upstream connection's side --------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Body bytes from the parser."""
        if self._error is not None:
            return
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self.received += len(chunk)
        if self._buffered > self._high and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def finish(self, *, keep_alive: bool) -> None:
        """The upstream's message is complete: the connection may serve another request now."""
        self._done = True
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        self._settle(reusable=keep_alive)
        self._wake()

    def fail(self, error: BaseException) -> None:
        """The body broke (the upstream closed early, a parse error): the reader gets ``error``."""
        if self._done or self._error is not None:
            return
        self._error = error
        self._settle(reusable=False)
        self._wake()

    def on_release(self, release: Callable[[bool], None]) -> None:
        """Call ``release(reusable)`` once the connection is free (at once when it already is)."""
        self._release = release
        if self._released is not None:
            release(self._released)

    def _settle(self, *, reusable: bool) -> None:
        if self._released is not None:
            return
        self._released = reusable
        if self._release is not None:
            self._release(reusable)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- the caller's side ---------------------------------------------------------------------------

    async def read(self) -> bytes:
        """The next bytes (b'' at the end); raises the body's error, or TimeoutError when no byte came in
        ``read_timeout`` seconds (the upstream connection is then closed)."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self.read_timeout):
                    await self._waiter
            except TimeoutError as exc:
                self.abort()
                raise TimeoutError(f"the upstream sent no body byte for {self.read_timeout:g} s") from exc
            finally:
                self._waiter = None
        chunks = self._chunks
        if len(chunks) == 1 or len(chunks[0]) >= _READ_AT_MOST:
            data = chunks.popleft()
        else:
            parts = []
            size = 0
            while chunks and size + len(chunks[0]) <= _READ_AT_MOST:
                part = chunks.popleft()
                parts.append(part)
                size += len(part)
            data = b"".join(parts)
        self._buffered -= len(data)
        if self._paused and self._buffered < self._low:
            self._paused = False
            self._transport.resume_reading()
        return data

    def abort(self) -> None:
        """The caller is gone or the body stalled: close the upstream connection unless it is already free."""
        if self._released is None:
            self._error = self._error or ConnectionAbortedError("the body was abandoned")
            self._settle(reusable=False)
        self._chunks.clear()
        self._buffered = 0
