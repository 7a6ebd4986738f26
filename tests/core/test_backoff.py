"""Backoff: exact schedules with a seeded RNG, and properties over every input."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstreamkit import Backoff


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_exponential_without_jitter() -> None:
    backoff = Backoff(base=0.5, multiplier=2, cap=5, jitter="none")
    assert [backoff.delay(n, FixedRandom(0.3)) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_full_jitter_scales_the_exponential() -> None:
    backoff = Backoff(base=1, cap=100, jitter="full")
    assert backoff.delay(3, FixedRandom(0.25)) == pytest.approx(1.0)  # 4 * 0.25


def test_equal_jitter_never_goes_below_half() -> None:
    backoff = Backoff(base=1, cap=100, jitter="equal")
    assert backoff.delay(3, FixedRandom(0.0)) == pytest.approx(2.0)
    assert backoff.delay(3, FixedRandom(0.999999)) == pytest.approx(4.0, rel=1e-5)


def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    backoff = Backoff(base=1, cap=100, jitter="decorrelated")
    assert backoff.delay(1, FixedRandom(1.0)) == pytest.approx(3.0)
    assert backoff.delay(2, FixedRandom(1.0), previous=3.0) == pytest.approx(9.0)
    assert backoff.delay(9, FixedRandom(1.0), previous=90.0) == pytest.approx(100.0)


def test_seeded_rng_repeats() -> None:
    backoff = Backoff()
    first = [backoff.delay(n, random.Random(7)) for n in range(1, 10)]
    second = [backoff.delay(n, random.Random(7)) for n in range(1, 10)]
    assert first == second


def test_attempt_ten_thousand() -> None:
    backoff = Backoff(base=0.1, multiplier=2, cap=30, jitter="none")
    assert backoff.delay(10_000, FixedRandom(0.5)) == 30
    assert backoff.delay(2**63, FixedRandom(0.5)) == 30


def test_a_misbehaving_rng_cannot_escape_the_bounds() -> None:
    backoff = Backoff(base=1, cap=10, jitter="full")
    for value in (math.nan, -5.0, 7.0, math.inf):
        assert 0 <= backoff.delay(5, FixedRandom(value)) <= 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": -1}, "base"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"cap": math.inf}, "cap"),
        ({"jitter": "sometimes"}, "jitter"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    base=finite,
    multiplier=st.floats(min_value=1, max_value=1e3, allow_nan=False),
    cap=finite,
    jitter=st.sampled_from(["none", "full", "equal", "decorrelated"]),
    attempt=st.integers(min_value=-5, max_value=10**6),
    unit=st.floats(allow_nan=True, allow_infinity=True),
    previous=st.none() | st.floats(allow_nan=True, allow_infinity=True),
)
def test_delay_is_total_and_bounded(
    base: float, multiplier: float, cap: float, jitter: str, attempt: int, unit: float, previous: float | None
) -> None:
    backoff = Backoff(base=base, multiplier=multiplier, cap=cap, jitter=jitter)  # type: ignore[arg-type]
    delay = backoff.delay(attempt, FixedRandom(unit), previous)
    assert math.isfinite(delay)
    assert 0 <= delay <= cap


@settings(max_examples=200, deadline=None)
@given(attempt=st.integers(min_value=1, max_value=2000), base=st.floats(min_value=0.001, max_value=10))
def test_unjittered_schedule_never_shrinks(attempt: int, base: float) -> None:
    backoff = Backoff(base=base, multiplier=2, cap=60, jitter="none")
    assert backoff.exponential(attempt) <= backoff.exponential(attempt + 1)
