"""Test support for users of upstreamkit: run retry code with zero real sleep and read the schedule.

    from upstreamkit.testing import testing

    def test_my_client_retries():
        with testing() as clock:
            my_client.fetch()              # every wait goes through the fake clock
        assert clock.sleeps == [0.1, 0.2]  # the schedule of waits, in seconds

With pytest, the ``fake_clock`` fixture (registered by upstreamkit's pytest plugin) does the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from upstreamkit.clock import set_clock

__all__ = ["FakeClock", "testing"]


class FakeClock:
    """A clock that only moves when told to. Sleeping advances it instantly and is recorded.

    ``monotonic()`` starts at ``start``; ``time()`` starts at ``wall_start`` (epoch seconds) and moves with it.
    Thread-safe, so concurrent code under test may share one.
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []
        """Every wait requested through this clock, in order, in seconds (zero waits included)."""

    def monotonic(self) -> float:
        """The current fake monotonic time."""
        with self._lock:
            return self._now

    def time(self) -> float:
        """The current fake wall-clock time (epoch seconds)."""
        with self._lock:
            return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backward)."""
        if seconds < 0:
            raise ValueError(f"a clock never goes back; cannot advance by {seconds!r}")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Record the wait and advance by it, without sleeping."""
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(seconds, 0.0)

    async def asleep(self, seconds: float) -> None:
        """Async twin of :meth:`sleep`; returns without yielding real time."""
        self.sleep(seconds)

    @property
    def slept(self) -> float:
        """Total seconds waited through this clock."""
        with self._lock:
            return sum(s for s in self.sleeps if s > 0)


@contextmanager
def testing(clock: FakeClock | None = None) -> Iterator[FakeClock]:
    """Install a :class:`FakeClock` as upstreamkit's clock for the duration of the block."""
    fake = clock if clock is not None else FakeClock()
    previous = set_clock(fake)
    try:
        yield fake
    finally:
        set_clock(previous)
