"""Two minimal upstreams for the benchmarks: a constant 200 and the outage timeline, on asyncio + httptools.

Each runs in a child process (``_server.child_process``) and answers from the parser's callback, with no task
per request and no per-request allocation beyond the parser's, so the client under test is what a benchmark
measures, not the server (the simulator was the bottleneck of the transport benchmark).

- :func:`serve_constant`: every request gets the same small 200 JSON response.
- :func:`serve_timeline`: healthy, then 503 (optionally with ``Retry-After``), then healthy again, switching
  phase by the clock from ``POST /__reset``. It counts the attempts it received per phase and per logical
  call (the ``X-Request-Id`` header), returned by ``GET /__stats``.

``POST /__reset?start=T&healthy=3&outage=3&recovered=6&retry_after=1`` clears the counts and starts the
timeline at ``T``, a ``time.monotonic()`` reading of the caller (the same clock in every process on Linux,
so the client's schedule and the server's phases line up exactly); without ``start``, at the reset itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from multiprocessing.connection import Connection
from urllib.parse import parse_qs

import httptools

HOST = "127.0.0.1"
# The same constant as bench/simulator.py's peers, so the two constant servers are compared like for like.
BODY = b'{"ok":true,"method":"GET","path":"/v1/items","query":{}}'


def _response(status: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    ) + extra + b"\r\n" + body  # fmt: skip


_OK = _response(b"200 OK", BODY)
_CLOSE = b"Connection: close\r\n"


class _Constant(asyncio.Protocol):
    """Answers every request with :data:`_OK`. Only ``on_message_complete`` is defined: httptools calls back
    only into the methods a protocol has, so the parser does no other work in Python."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(self.reply())
        if not self.parser.should_keep_alive():
            self.transport.close()

    def reply(self) -> bytes:
        return _OK


class Timeline:
    """The outage timeline's state: phase lengths, the start, and the attempts counted since the reset."""

    PHASES = ("healthy", "outage", "recovered")

    def __init__(self) -> None:
        self.start: float | None = None
        self.lengths = {"healthy": 3.0, "outage": 3.0, "recovered": 6.0}
        self.unavailable = _response(b"503 Service Unavailable", b'{"error":"unavailable"}')
        self.phases: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def phase(self, now: float) -> str:
        if self.start is None or now < self.start:
            return "before"
        elapsed = now - self.start
        for name in self.PHASES:
            elapsed -= self.lengths[name]
            if elapsed < 0:
                return name
        return "after"

    def answer(self, request_id: bytes | None) -> bytes:
        phase = self.phase(time.monotonic())
        self.phases[phase] += 1
        if request_id is not None:
            self.calls[request_id.decode("latin-1")] += 1
        return self.unavailable if phase == "outage" else _OK

    def control(self, method: bytes, target: str) -> bytes:
        path, _, query = target.partition("?")
        if method == b"POST" and path == "/__reset":
            options = {name: values[-1] for name, values in parse_qs(query).items()}
            self.lengths = {name: float(options.get(name, default)) for name, default in self.lengths.items()}
            self.start = float(options["start"]) if "start" in options else time.monotonic()
            retry_after = options.get("retry_after")
            extra = b"Retry-After: %s\r\n" % retry_after.encode() if retry_after else b""
            self.unavailable = _response(b"503 Service Unavailable", b'{"error":"unavailable"}', extra)
            self.phases.clear()
            self.calls.clear()
            return _response(b"200 OK", b'{"ok":true}')
        if path == "/__stats":
            body = json.dumps({"phases": self.phases, "calls": self.calls}).encode()
            return _response(b"200 OK", body)
        return _response(b"404 Not Found", b'{"error":"no such control path"}')


class _TimelineProtocol(_Constant):
    """Reads the target and the X-Request-Id header too, and lets the :class:`Timeline` answer."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline
        self.url = b""
        self.request_id: bytes | None = None

    def on_message_begin(self) -> None:
        self.url = b""
        self.request_id = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 12 and name.lower() == b"x-request-id":
            self.request_id = value

    def reply(self) -> bytes:
        if self.url.startswith(b"/__"):
            return self.timeline.control(self.parser.get_method(), self.url.decode("latin-1"))
        return self.timeline.answer(self.request_id)


async def _serve(pipe: Connection, factory: type[_Constant] | object) -> None:
    loop = asyncio.get_running_loop()
    # A deep backlog: the outage's open loop opens connections in bursts (urllib3 when its pool is full).
    server = await loop.create_server(factory, HOST, 0, backlog=4096)  # type: ignore[arg-type]
    pipe.send(server.sockets[0].getsockname()[1])
    await loop.run_in_executor(None, pipe.recv)  # serve until the parent says stop
    server.close()


def serve_constant(pipe: Connection) -> None:
    """Child-process target: serve the constant 200 on a free port (sent through ``pipe``) until told to stop."""
    asyncio.run(_serve(pipe, _Constant))


def serve_timeline(pipe: Connection) -> None:
    """Child-process target: serve the outage timeline on a free port (sent through ``pipe``) until told to stop."""
    timeline = Timeline()
    asyncio.run(_serve(pipe, lambda: _TimelineProtocol(timeline)))
