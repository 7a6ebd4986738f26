"""What one client connection may cost the simulator: sizes and times, and the timer that enforces the times.

A fault-injecting server for tests still faces hostile clients (a fuzzer, a slowloris, a runaway loop), so
every connection is bounded in memory and in time. The sizes follow the servers people run; the times are
shorter than theirs, because a test tool should not hold a dead connection for a minute:

=====================  ==============  =======================================================================
limit                  default         reply, and the model
=====================  ==============  =======================================================================
``max_request_line``   8 KiB           414 URI Too Long: a request target longer than this (nginx
                                       ``large_client_header_buffers 4 8k``, Apache ``LimitRequestLine 8190``)
``max_header_bytes``   32 KiB          431 Request Header Fields Too Large: header names and values together
                                       (nginx's four 8k buffers)
``max_headers``        100             431: more header fields than this (Apache ``LimitRequestFields 100``)
``max_body_bytes``     16 MiB          413 Content Too Large: as soon as Content-Length says so, or as soon as
                                       a chunked body passes it (the route's own ``max_body_bytes`` in a
                                       scenario is a separate, lower limit answered by the upstream)
``header_timeout``     10 s            408 Request Timeout: from the first byte of a request until its headers
                                       (and its body's first bytes, when it has a body); the same time again
                                       between two reads of a body; bytes trickling in do not extend it (nginx
                                       ``client_header_timeout`` / ``client_body_timeout``, 60 s there)
``idle_timeout``       15 s            closed without a reply: a connection with no request in progress,
                                       fresh or kept alive after a response (nginx ``keepalive_timeout`` 75 s);
                                       also how long a client that reads none of its responses is waited for
                                       (nginx ``send_timeout``), then the connection is dropped
``linger``             2 s             after a refusal, how long the server keeps reading and discarding what
                                       the client still sends before it closes (nginx ``lingering_time``), so
                                       the client reads the 4xx instead of a reset
=====================  ==============  =======================================================================

Time spent answering (a latency fault, a slow body, a hang) is never cut short by these timers: a ``hang``
fault hangs until the client gives up, as it is meant to. A refusal closes the connection (the reply says
``Connection: close``); it happens below the scenario, so it is not in the ledger, and
``Simulator.stats()["refused"]`` counts it by status.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

__all__ = ["Deadline", "ServerLimits"]

# A timer may run a little before its time (asyncio's clock resolution); closer than this counts as due.
_TIMER_SLACK = 0.001


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Per-connection limits of the simulator's HTTP server; the module docstring gives the table."""

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int = 16 * 1024 * 1024
    header_timeout: float = 10.0
    idle_timeout: float = 15.0
    linger: float = 2.0

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{spec.name} must be a number, not {type(value).__name__}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{spec.name} must be a positive finite number, not {value!r}")


class Deadline:
    """One timer whose deadline moves on every request, at the cost of an assignment.

    A connection moves its deadline two or three times a request (reading the head, the body, idle);
    rescheduling an asyncio timer each time would be a heap operation per step, and moving it earlier (idle
    15 s → head 10 s) would leave a cancelled timer behind per request. Instead the timer never waits longer
    than ``shortest`` (the shortest time any :meth:`set` asks for), so no new deadline can fall before it:
    when it runs it calls back if the deadline is due, else sleeps again toward it. A busy connection costs
    one wake-up per ``shortest`` seconds.
    """

    __slots__ = ("_at", "_callback", "_handle", "_loop", "_shortest")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None], shortest: float) -> None:
        self._loop = loop
        self._callback = callback
        self._shortest = shortest
        self._at: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    def set(self, seconds: float) -> None:
        """Call back ``seconds`` from now (never less than ``shortest``), replacing any earlier or later deadline."""
        now = self._loop.time()
        self._at = now + seconds
        if self._handle is None:
            self._handle = self._loop.call_at(now + min(seconds, self._shortest), self._due)

    def clear(self) -> None:
        """No deadline (a pending timer stays, and does nothing when it runs)."""
        self._at = None

    def cancel(self) -> None:
        """No deadline and no pending timer: for a connection that is gone."""
        self._at = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    @property
    def pending(self) -> bool:
        """True while a deadline is set."""
        return self._at is not None

    def _due(self) -> None:
        self._handle = None
        at = self._at
        if at is None:
            return
        now = self._loop.time()
        if at - now > _TIMER_SLACK:
            self._handle = self._loop.call_at(min(at, now + self._shortest), self._due)
            return
        self._at = None
        self._callback()
