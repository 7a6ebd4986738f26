"""Fixtures for the simulator's unit tests: a manual clock."""

from __future__ import annotations

import pytest

__all__ = ["ManualClock"]


class ManualClock:
    """Wall-clock seconds that move only when told to: pass it as ``Simulator(clock=...)``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock for the simulator that tests move by hand (no sleeping)."""
    return ManualClock()
