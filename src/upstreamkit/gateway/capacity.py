"""A cap on the connections open to each upstream origin, with a bounded queue of requests waiting for one.

The upstream pool (:mod:`.upstream`) asks :meth:`OriginCap.acquire` before opening a connection: an idle
connection (handed back meanwhile) or a free slot ends the wait; otherwise the request waits, at most
``queue_timeout`` seconds and behind at most ``max_queued`` others, for a connection to be returned or closed.
When none comes it fails with the taxonomy's ``connection_limit_reached``: the gateway's own overload, raised
before the request left (so a retry policy may try again, and the breaker does not count it against the
upstream). Waiters are woken one per freed connection, first come first served.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from upstreamkit.errors import ErrorKind, Hop, make_error

__all__ = ["Origin", "OriginCap"]

Origin = tuple[str, str, int]
"""``(scheme, host, port)``."""
T = TypeVar("T")


class OriginCap:
    """At most ``cap`` connections per origin (idle and busy); requests beyond it wait, boundedly."""

    def __init__(self, cap: int, *, queue_timeout: float, max_queued: int) -> None:
        """``queue_timeout``: the longest wait for a connection; ``max_queued``: waiters per origin at most."""
        self.cap = cap
        self._queue_timeout = queue_timeout
        self._max_queued = max_queued
        self._open: dict[Origin, int] = {}
        self._waiters: dict[Origin, deque[asyncio.Future[None]]] = {}

    async def acquire(self, origin: Origin, timeout: float, checkout: Callable[[Origin], T | None]) -> T | None:
        """An idle connection (``checkout(origin)``), or None with a slot taken for a new one; waits at most
        ``min(queue_timeout, timeout)``; raises ``connection_limit_reached`` when nothing came or the queue is full."""
        cap = self.cap
        loop = asyncio.get_running_loop()
        wait = min(self._queue_timeout, timeout)
        deadline = loop.time() + wait
        waiters = self._waiters.setdefault(origin, deque())
        while True:  # bounded by the deadline: each turn waits for one change of the origin's connections
            idle = checkout(origin)
            if idle is not None:
                return idle
            if self._open.get(origin, 0) < cap:
                self._open[origin] = self._open.get(origin, 0) + 1
                return None
            left = deadline - loop.time()
            if len(waiters) >= self._max_queued or left <= 0:
                break
            waiter: asyncio.Future[None] = loop.create_future()
            waiters.append(waiter)
            try:
                async with asyncio.timeout(left):
                    await waiter
            except TimeoutError:
                break
            finally:
                if waiter in waiters:
                    waiters.remove(waiter)
        _, host, port = origin
        full = len(waiters) >= self._max_queued
        raise make_error(
            ErrorKind.CONNECTION_LIMIT_REACHED,
            f"{cap} connections to {host}:{port} are busy"
            + (f" and {self._max_queued} requests already wait" if full else f"; none was free within {wait:g} s"),
            request_sent=False,
            hop=Hop.CLIENT,
        )

    def release(self, origin: Origin) -> None:
        """A connection of ``origin`` is gone: its slot is free, and the first waiter is told."""
        self._open[origin] = max(self._open.get(origin, 0) - 1, 0)
        self.wake(origin)

    def wake(self, origin: Origin) -> None:
        """Tell the first waiter of ``origin`` that something changed (a connection returned or closed)."""
        waiters = self._waiters.get(origin)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def clear(self) -> None:
        """Forget every count (the pool closed every connection)."""
        self._open.clear()
