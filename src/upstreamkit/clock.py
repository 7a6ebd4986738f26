"""Where upstreamkit reads the time and waits: one replaceable clock.

The core never reads the clock; the adapters, the gateway and the simulator ask :func:`get_clock` and wait
through it. :func:`upstreamkit.testing.testing` swaps in a :class:`~upstreamkit.testing.FakeClock`, so a
user's retry code runs with zero real sleep and the schedule of waits can be read back.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "get_clock", "set_clock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time and a way to wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; for durations and deadlines."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch; for HTTP dates and token expiry."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Wait for ``seconds`` without blocking the event loop."""
        ...


class SystemClock:
    """The real clock. A zero or negative wait returns at once: ``time.sleep(0)`` alone costs ~74 µs.

    ``monotonic()`` is ``time.monotonic()`` and ``time()`` is ``time.time()``, the functions themselves: the
    transport reads the clock two or three times a request, and a Python method around each cost ~1k
    instructions apiece (bench/RESULTS.md, transport overhead).
    """

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` for positive waits only."""
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """``asyncio.sleep`` for positive waits only."""
        if seconds > 0:
            import asyncio  # noqa: PLC0415 - asyncio costs ~35 ms to import; sync users never need it

            await asyncio.sleep(seconds)


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    """The clock upstreamkit uses now."""
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Replace the process-wide clock; returns the previous one so it can be put back."""
    global _clock
    previous, _clock = _clock, clock
    return previous
