"""upstreamkit.testing: a fake clock that never sleeps and records the schedule."""

from __future__ import annotations

import asyncio
import threading

import pytest

import upstreamkit.testing as uk_testing
from upstreamkit import SystemClock, get_clock
from upstreamkit.testing import FakeClock


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=10.0, wall_start=1_000.0)
    assert clock.monotonic() == 10.0
    assert clock.time() == 1_000.0
    clock.advance(2.5)
    assert clock.monotonic() == 12.5
    assert clock.time() == 1_002.5
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1)


def test_sleep_records_and_advances() -> None:
    clock = FakeClock()
    clock.sleep(0.1)
    clock.sleep(0)
    asyncio.run(clock.asleep(0.4))
    assert clock.sleeps == [0.1, 0, 0.4]
    assert clock.monotonic() == pytest.approx(0.5)
    assert clock.slept == pytest.approx(0.5)


def test_testing_installs_and_restores_the_clock() -> None:
    before = get_clock()
    assert isinstance(before, SystemClock)
    with uk_testing.testing() as clock:
        assert get_clock() is clock
        get_clock().sleep(3.0)
        assert clock.sleeps == [3.0]
    assert get_clock() is before


def test_testing_restores_the_clock_after_an_error() -> None:
    before = get_clock()
    with pytest.raises(RuntimeError), uk_testing.testing():
        raise RuntimeError
    assert get_clock() is before


def test_fake_clock_is_thread_safe() -> None:
    clock = FakeClock()

    def work() -> None:
        for _ in range(1000):
            clock.sleep(0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clock.sleeps) == 4000
    assert clock.monotonic() == pytest.approx(4.0)


def test_the_pytest_fixture(fake_clock: FakeClock) -> None:
    assert get_clock() is fake_clock
    get_clock().sleep(1.5)
    assert fake_clock.sleeps == [1.5]


def test_system_clock_skips_zero_waits() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    clock.sleep(0)
    clock.sleep(-3)
    asyncio.run(clock.asleep(0))
    assert clock.monotonic() >= before
    assert clock.time() > 1_600_000_000
