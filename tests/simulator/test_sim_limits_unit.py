"""ServerLimits validates its numbers; Deadline fires when due, on an injected loop clock (no sleeping)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, cast

import pytest

from upstreamkit.simulator import ServerLimits
from upstreamkit.simulator.limits import Deadline


class Timer:
    """What Deadline keeps of a scheduled call: something to cancel."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SteppedLoop:
    """The two loop methods Deadline uses, on a clock the test moves: ``time()`` and ``call_at()``."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self.scheduled = 0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(callback)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        self.scheduled += 1
        return timer

    def advance(self, seconds: float) -> None:
        """Move the clock, running every timer that comes due on the way, in order."""
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            when, _, timer = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not timer.cancelled:
                timer.callback()
        self.now = end


def _deadline(shortest: float = 10.0) -> tuple[SteppedLoop, Deadline, list[float]]:
    loop = SteppedLoop()
    fired: list[float] = []
    deadline = Deadline(cast(Any, loop), lambda: fired.append(loop.now), shortest)
    return loop, deadline, fired


def test_fires_once_when_due() -> None:
    loop, deadline, fired = _deadline()
    deadline.set(10)
    loop.advance(9.9)
    assert fired == []
    loop.advance(0.2)
    assert fired == [1010.0]
    assert not deadline.pending
    loop.advance(100)
    assert fired == [1010.0]


def test_moving_later_costs_no_new_timer_and_fires_at_the_new_time() -> None:
    loop, deadline, fired = _deadline()
    deadline.set(10)
    for _ in range(50):  # a busy keep-alive connection: the deadline moves on every request
        loop.advance(0.1)
        deadline.set(10)
        deadline.set(15)
    assert loop.scheduled == 1
    loop.advance(14.9)
    assert fired == []
    loop.advance(0.2)
    assert fired == [pytest.approx(1020.0)]


def test_an_earlier_deadline_is_never_missed() -> None:
    loop, deadline, fired = _deadline(shortest=10)
    deadline.set(15)  # idle
    loop.advance(1)
    deadline.set(10)  # a request starts: its head is due before the idle deadline would have been
    loop.advance(10)
    assert fired == [1011.0]


def test_clear_and_cancel() -> None:
    loop, deadline, fired = _deadline()
    deadline.set(10)
    deadline.clear()
    loop.advance(30)
    assert fired == []
    deadline.set(10)
    deadline.cancel()
    loop.advance(30)
    assert fired == []
    deadline.set(10)
    loop.advance(10)
    assert fired == [1070.0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("header_timeout", 0.0), ("idle_timeout", -1.0), ("linger", float("nan")), ("max_body_bytes", float("inf"))],
)
def test_limits_must_be_positive_and_finite(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field} must be a positive finite number"):
        ServerLimits(**{field: value})


def test_default_limits_are_the_documented_ones() -> None:
    limits = ServerLimits()
    assert (limits.max_request_line, limits.max_header_bytes, limits.max_headers) == (8192, 32768, 100)
    assert limits.max_body_bytes == 16 * 1024 * 1024
    assert (limits.header_timeout, limits.idle_timeout) == (10.0, 15.0)
