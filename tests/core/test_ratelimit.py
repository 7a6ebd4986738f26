"""The rate limiter: exact GCRA spacing, bursts, learning from RateLimit headers, blocks, bad values."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstreamkit.core.ratelimit import LOW_REMAINING, MAX_RESET_AFTER, RateLimiter


def test_without_any_limit_every_request_goes_now() -> None:
    limiter = RateLimiter()
    assert [limiter.reserve(0.0) for _ in range(100)] == [0.0] * 100
    assert limiter.describe(0.0) == "not limited"


def test_gcra_spacing_is_exact() -> None:
    limiter = RateLimiter(rate=10.0)
    waits = [limiter.reserve(0.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_gcra_spacing_for_callers_arriving_over_time() -> None:
    limiter = RateLimiter(rate=10.0)
    assert limiter.reserve(0.0) == 0.0
    assert limiter.reserve(0.05) == pytest.approx(0.05)  # slot at 0.1
    assert limiter.reserve(0.3) == 0.0  # the schedule is behind the clock: go now
    assert limiter.reserve(0.3) == pytest.approx(0.1)


def test_burst_goes_at_once_then_the_rate_applies() -> None:
    limiter = RateLimiter(rate=10.0, burst=3)
    waits = [limiter.reserve(0.0) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


def test_burst_refills_at_the_rate() -> None:
    limiter = RateLimiter(rate=10.0, burst=3)
    for _ in range(3):
        limiter.reserve(0.0)
    assert limiter.reserve(0.2) == 0.0  # two slots came back by t=0.2
    assert limiter.reserve(0.2) == 0.0
    assert limiter.reserve(0.2) == pytest.approx(0.1)


def test_the_long_run_rate_is_the_configured_rate() -> None:
    limiter = RateLimiter(rate=50.0, burst=5)
    sends = [0.0 + limiter.reserve(0.0) for _ in range(1005)]
    assert sends[-1] == pytest.approx(1000 / 50)


def test_zero_remaining_holds_every_request_until_the_reset() -> None:
    limiter = RateLimiter()
    limiter.observe(10.0, remaining=0, reset_after=30.0, limit=100)
    assert limiter.reserve(10.0) == pytest.approx(30.0)
    assert limiter.reserve(25.0) == pytest.approx(15.0)
    assert limiter.describe(25.0) == "held until +15s (upstream remaining 0)"
    assert limiter.reserve(40.0) == 0.0


def test_headroom_holds_before_the_quota_is_gone() -> None:
    limiter = RateLimiter(headroom=2)
    limiter.observe(0.0, remaining=2, reset_after=5.0)
    assert limiter.reserve(0.0) == pytest.approx(5.0)
    limiter.observe(0.0, remaining=4, reset_after=5.0)  # 2 usable: paced 2.5 s apart
    assert [limiter.reserve(0.0) for _ in range(3)] == pytest.approx([0.0, 2.5, 5.0])


def test_low_remaining_is_paced_evenly_over_the_reset() -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=5, reset_after=10.0, limit=100)
    assert [limiter.reserve(0.0) for _ in range(5)] == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0])
    assert limiter.describe(0.0) == "paced to 0.5/s until +10s (upstream remaining 5)"
    assert limiter.reserve(10.0) == 0.0  # the upstream's window has reset: pacing lapses
    assert limiter.reserve(10.0) == 0.0


def test_pacing_follows_each_new_observation() -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=5, reset_after=10.0, limit=100)
    assert limiter.reserve(0.0) == 0.0
    limiter.observe(0.1, remaining=4, reset_after=9.9, limit=100)  # the response to that request
    assert limiter.reserve(0.1) == pytest.approx(9.9 / 4 - 0.1)  # one interval after the last paced send
    limiter.observe(1.0, remaining=80, reset_after=9.0, limit=100)  # plenty left: relax
    assert limiter.reserve(1.0) == 0.0
    assert limiter.describe(1.0) == "not limited"


def test_high_remaining_is_not_paced() -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=26, reset_after=10.0, limit=100)  # above a quarter of the limit
    assert [limiter.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    limiter.observe(0.0, remaining=LOW_REMAINING + 1, reset_after=10.0)  # no limit given: an absolute threshold
    assert limiter.reserve(0.0) == 0.0
    limiter.observe(0.0, remaining=LOW_REMAINING, reset_after=10.0)
    assert [limiter.reserve(0.0) for _ in range(2)] == pytest.approx([0.0, 1.0])


def test_a_later_observation_lifts_a_learned_hold() -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=0, reset_after=60.0)
    limiter.observe(1.0, remaining=50, reset_after=59.0, limit=50)
    assert limiter.reserve(1.0) == 0.0


def test_reset_after_zero_clears_the_learned_state() -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=0, reset_after=60.0)
    limiter.observe(1.0, remaining=0, reset_after=0.0)
    assert limiter.reserve(1.0) == 0.0


def test_learning_can_be_switched_off() -> None:
    limiter = RateLimiter(learn=False)
    limiter.observe(0.0, remaining=0, reset_after=60.0)
    assert limiter.reserve(0.0) == 0.0


@pytest.mark.parametrize(
    ("remaining", "reset_after", "limit"),
    [(None, 10.0, None), (0, None, None), (-1, 10.0, None), (0, -5.0, None), (0, math.nan, None),
     (0, math.inf, None), (0, -math.inf, None)],
)  # fmt: skip
def test_bad_header_values_are_ignored(remaining: int | None, reset_after: float | None, limit: int | None) -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=remaining, reset_after=reset_after, limit=limit)
    assert limiter.reserve(0.0) == 0.0
    assert limiter.describe(0.0) == "not limited"


def test_a_nonsense_limit_falls_back_to_the_absolute_threshold() -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=5, reset_after=10.0, limit=-3)
    assert [limiter.reserve(0.0) for _ in range(2)] == pytest.approx([0.0, 2.0])


def test_a_far_reset_is_clamped() -> None:
    limiter = RateLimiter()
    limiter.observe(0.0, remaining=0, reset_after=1e12)
    assert limiter.reserve(0.0) == pytest.approx(MAX_RESET_AFTER)


def test_block_until_holds_every_request_and_is_never_shortened() -> None:
    limiter = RateLimiter(rate=10.0)
    limiter.block_until(5.0)
    assert limiter.reserve(1.0) == pytest.approx(4.0)
    assert limiter.reserve(1.0) == pytest.approx(4.1)  # the static rate still spaces requests after the block
    limiter.block_until(3.0)
    assert limiter.describe(2.0) == "blocked until +3s (Retry-After); limited to 10/s, burst 1"
    limiter.block_until(math.inf)
    limiter.block_until(math.nan)
    assert limiter.reserve(6.0) == 0.0


def test_a_hold_does_not_erase_an_explicit_block() -> None:
    limiter = RateLimiter()
    limiter.block_until(20.0)
    limiter.observe(1.0, remaining=100, reset_after=5.0, limit=100)
    assert limiter.reserve(1.0) == pytest.approx(19.0)


def test_static_rate_holds_after_a_learned_pause() -> None:
    """Reservations are made at the actual send time, so the static spacing holds on both sides of a wait."""
    limiter = RateLimiter(rate=1.0)
    limiter.observe(0.0, remaining=2, reset_after=1.0)  # paced 0.5 s apart: faster than the static rate
    assert [limiter.reserve(0.0) for _ in range(3)] == pytest.approx([0.0, 1.0, 2.0])


def test_describe_combines_everything() -> None:
    limiter = RateLimiter(rate=2.0, burst=4)
    limiter.observe(0.0, remaining=5, reset_after=2.0, limit=100)
    limiter.block_until(1.0)
    assert limiter.describe(0.0) == (
        "blocked until +1s (Retry-After); paced to 2.5/s until +2s (upstream remaining 5); limited to 2/s, burst 4"
    )
    assert repr(limiter) == "RateLimiter(rate=2.0, burst=4, learn=True, headroom=0)"


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"rate": 0.0}, "rate"), ({"rate": -1.0}, "rate"), ({"rate": math.inf}, "rate"), ({"rate": math.nan}, "rate"),
     ({"burst": 0}, "burst"), ({"headroom": -1}, "headroom")],
)  # fmt: skip
def test_bad_arguments_are_rejected_with_the_value(kwargs: dict[str, float], word: str) -> None:
    with pytest.raises(ValueError, match=word) as info:
        RateLimiter(**kwargs)  # type: ignore[arg-type]
    assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_a_non_finite_now_is_a_no_op() -> None:
    limiter = RateLimiter(rate=1.0)
    assert limiter.reserve(math.nan) == 0.0
    limiter.observe(math.inf, remaining=0, reset_after=10.0)
    assert limiter.reserve(0.0) == 0.0


def test_concurrent_callers_get_distinct_slots() -> None:
    limiter = RateLimiter(rate=100.0)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [limiter.reserve(0.0) for _ in range(50)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([i / 100 for i in range(400)])


_observation = st.fixed_dictionaries({
    "remaining": st.none() | st.integers(min_value=-10, max_value=10**6),
    "reset_after": st.none() | st.floats(allow_nan=True, allow_infinity=True),
    "limit": st.none() | st.integers(min_value=-10, max_value=10**6),
})  # fmt: skip
_step = st.tuples(
    st.floats(min_value=0.0, max_value=1e4),  # time advance
    st.sampled_from(["reserve", "observe", "block"]),
    _observation,
    st.floats(allow_nan=True, allow_infinity=True),  # block_until offset
)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.none() | st.floats(min_value=1e-3, max_value=1e6),
    burst=st.integers(min_value=1, max_value=100),
    headroom=st.integers(min_value=0, max_value=10),
    steps=st.lists(_step, max_size=40),
)
def test_reserve_is_never_negative_or_nan(
    rate: float | None, burst: int, headroom: int, steps: list[tuple[float, str, dict[str, float | None], float]]
) -> None:
    limiter = RateLimiter(rate, burst, headroom=headroom)
    now = 0.0
    for advance, action, observation, offset in steps:
        now += advance
        if action == "reserve":
            wait = limiter.reserve(now)
            assert math.isfinite(wait)
            assert wait >= 0.0
        elif action == "observe":
            limiter.observe(now, **observation)  # type: ignore[arg-type]
        else:
            limiter.block_until(now + offset)
        assert isinstance(limiter.describe(now), str)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([None, 0.5, 10.0, 1000.0]),
    burst=st.integers(min_value=1, max_value=5),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=0.7, allow_nan=False),  # time passing before the request
            st.sampled_from(["request", "block", "quota"]),
        ),
        max_size=40,
    ),
)
def test_admit_is_reserve_when_there_is_nothing_to_wait_for(
    rate: float | None, burst: int, steps: list[tuple[float, str]]
) -> None:
    # The fast paths call admit(); when it says no, reserve(). A twin calling only reserve() must agree on
    # every request's wait and end in the same state.
    fast, slow = RateLimiter(rate, burst), RateLimiter(rate, burst)
    now = 100.0
    for gap, what in steps:
        now += gap
        if what == "block":
            for limiter in (fast, slow):
                limiter.block_until(now + 0.3)
        elif what == "quota":
            for limiter in (fast, slow):
                limiter.observe(now, remaining=2, reset_after=1.0, limit=100)
        else:
            expected = slow.reserve(now)
            waited = 0.0 if fast.admit(now) else fast.reserve(now)
            assert waited == pytest.approx(expected)
    assert fast.describe(now) == slow.describe(now)
