"""The circuit breaker as scripted scenarios: every transition and its reason, with explicit times."""

from __future__ import annotations

import itertools
import math
import random
import threading

import pytest

from upstreamkit.core.breaker import HISTORY, BreakerConfig, BreakerState, BreakerTransition, CircuitBreaker

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def _path(breaker: CircuitBreaker) -> list[tuple[BreakerState, BreakerState, str, float]]:
    return [(t.old, t.new, t.reason, t.at) for t in breaker.transitions]


def _fail(breaker: CircuitBreaker, times: int, now: float, duration: float = 0.0) -> None:
    for _ in range(times):
        assert breaker.allow(now) is None
        breaker.record_failure(now, duration)


def _succeed(breaker: CircuitBreaker, times: int, now: float, duration: float = 0.0) -> None:
    for _ in range(times):
        assert breaker.allow(now) is None
        breaker.record_success(now, duration)


def test_a_new_breaker_is_closed_and_lets_calls_through() -> None:
    breaker = CircuitBreaker()
    assert breaker.state(0.0) is CLOSED
    assert breaker.allow(0.0) is None
    assert breaker.transitions == ()
    assert repr(breaker) == "CircuitBreaker(name='', state='closed')"


def test_full_cycle_closed_open_half_open_closed() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=5, failure_rate=None, open_for=5.0), name="api")
    _fail(breaker, 4, 10.0)
    assert breaker.state(10.0) is CLOSED
    _fail(breaker, 1, 11.0)
    assert breaker.state(11.0) is OPEN
    assert breaker.allow(12.0) == pytest.approx(4.0)
    assert breaker.allow(15.9) == pytest.approx(0.1)
    assert breaker.state(15.9) is OPEN
    assert breaker.state(16.0) is HALF_OPEN
    assert breaker.allow(16.0) is None  # the probe
    breaker.record_success(16.5, 0.5)
    assert breaker.state(16.5) is CLOSED
    assert _path(breaker) == [
        (CLOSED, OPEN, "5 consecutive failures", 11.0),
        (OPEN, HALF_OPEN, "open for 5s", 16.0),
        (HALF_OPEN, CLOSED, "probe succeeded", 16.5),
    ]
    assert all(t.name == "api" for t in breaker.transitions)


def test_a_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=3, failure_rate=None))
    for i in range(10):
        _fail(breaker, 2, float(i))
        _succeed(breaker, 1, float(i))
    assert breaker.state(10.0) is CLOSED
    _fail(breaker, 3, 10.0)
    assert breaker.state(10.0) is OPEN


def test_allow_moves_open_to_half_open_by_itself() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=2.0))
    _fail(breaker, 1, 0.0)
    assert breaker.allow(3.0) is None
    assert _path(breaker)[-1] == (OPEN, HALF_OPEN, "open for 2s", 3.0)


def test_failure_rate_trips_only_after_min_calls() -> None:
    config = BreakerConfig(consecutive_failures=None, failure_rate=0.5, min_calls=10, window=30.0)
    breaker = CircuitBreaker(config)
    for i in range(9):  # 9 failures: 100% but too few calls to judge
        _fail(breaker, 1, float(i))
    assert breaker.state(9.0) is CLOSED
    _fail(breaker, 1, 9.0)
    assert breaker.state(9.0) is OPEN
    assert _path(breaker) == [(CLOSED, OPEN, "failure rate 100% over 10 calls in 30s", 9.0)]


def test_failure_rate_reason_counts_the_window() -> None:
    config = BreakerConfig(consecutive_failures=None, failure_rate=0.6, min_calls=10, window=30.0)
    breaker = CircuitBreaker(config)
    _succeed(breaker, 5, 0.0)
    _fail(breaker, 6, 1.0)  # 6 of 11: 55%
    assert breaker.state(1.0) is CLOSED
    _fail(breaker, 1, 2.0)  # 7 of 12: 58%
    assert breaker.state(2.0) is CLOSED
    _succeed(breaker, 1, 3.0)
    _fail(breaker, 2, 3.0)  # 9 of 15: 60%
    assert _path(breaker) == [(CLOSED, OPEN, "failure rate 60% over 15 calls in 30s", 3.0)]


def test_successes_never_trip_the_failure_rate() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=None, failure_rate=0.5, min_calls=2))
    _fail(breaker, 1, 0.0)
    _succeed(breaker, 1, 0.0)  # 1 of 2 is 50%, but a success is what brought the rate to judgement
    assert breaker.state(0.0) is CLOSED
    _fail(breaker, 1, 0.0)
    assert breaker.state(0.0) is OPEN


def test_window_expiry_forgets_old_failures() -> None:
    config = BreakerConfig(consecutive_failures=None, failure_rate=0.5, min_calls=10, window=30.0)
    breaker = CircuitBreaker(config)
    _fail(breaker, 9, 0.0)
    _fail(breaker, 1, 30.0)  # the nine at t=0 have left the window
    assert breaker.state(30.0) is CLOSED
    _fail(breaker, 8, 31.0)
    assert breaker.state(31.0) is CLOSED
    _fail(breaker, 1, 32.0)
    assert breaker.state(32.0) is OPEN
    assert _path(breaker) == [(CLOSED, OPEN, "failure rate 100% over 10 calls in 30s", 32.0)]


def test_slow_calls_trip_the_slow_call_rate() -> None:
    config = BreakerConfig(
        consecutive_failures=None, failure_rate=None, slow_call_duration=2.0, slow_call_rate=0.5, min_calls=4
    )
    breaker = CircuitBreaker(config)
    _succeed(breaker, 2, 0.0, duration=0.1)
    _succeed(breaker, 1, 0.0, duration=2.0)  # exactly the threshold is not slower than it
    _succeed(breaker, 1, 0.0, duration=2.5)  # 1 slow of 4
    assert breaker.state(0.0) is CLOSED
    _succeed(breaker, 1, 1.0, duration=3.0)  # 2 of 5
    assert breaker.state(1.0) is CLOSED
    _fail(breaker, 1, 2.0, duration=9.0)  # 3 of 6: a slow failure is slow too
    assert _path(breaker) == [(CLOSED, OPEN, "slow-call rate 50% over 6 calls in 30s (slower than 2s)", 2.0)]


def test_slow_successes_alone_trip_it() -> None:
    config = BreakerConfig(slow_call_duration=1.0, min_calls=3)
    breaker = CircuitBreaker(config)
    _succeed(breaker, 3, 0.0, duration=1.5)
    assert breaker.state(0.0) is OPEN
    assert _path(breaker)[0][2] == "slow-call rate 100% over 3 calls in 30s (slower than 1s)"


def test_a_failed_probe_reopens_for_open_for_again_when_the_break_does_not_grow() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=5.0, open_for_growth=1.0))
    _fail(breaker, 1, 0.0)
    assert breaker.allow(5.0) is None
    breaker.record_failure(5.2, 0.2)
    assert breaker.state(5.2) is OPEN
    assert breaker.allow(6.0) == pytest.approx(4.2)
    assert breaker.state(10.1) is OPEN
    assert breaker.state(10.2) is HALF_OPEN
    assert [reason for _, _, reason, _ in _path(breaker)] == [
        "1 consecutive failure",
        "open for 5s",
        "probe failed",
        "open for 5s",
    ]


def test_each_failed_probe_lengthens_the_break_up_to_the_cap_and_closing_starts_over() -> None:
    config = BreakerConfig(consecutive_failures=1, open_for=0.5, open_for_growth=2.0, max_open_for=3.0)
    breaker = CircuitBreaker(config)
    _fail(breaker, 1, 0.0)
    now, breaks = 0.0, []
    for _ in range(5):  # five failed probes: 0.5, 1, 2, 3 (capped), 3
        wait = breaker.allow(now)
        assert wait is not None
        breaks.append(round(wait, 6))
        now += wait
        assert breaker.allow(now) is None  # the probe
        breaker.record_failure(now, 0.0)
    assert breaks == [0.5, 1.0, 2.0, 3.0, 3.0]
    now += 3.0
    assert breaker.allow(now) is None
    breaker.record_success(now, 0.0)  # recovered: the next outage starts with a short break again
    _fail(breaker, 1, now)
    assert breaker.allow(now) == pytest.approx(0.5)


@pytest.mark.parametrize("probes", [0, 1, 7, 60, 2000, 10**9])
def test_the_break_is_total_for_any_number_of_failed_probes(probes: int) -> None:
    config = BreakerConfig(open_for=0.5, open_for_growth=1.5, max_open_for=30.0)
    length = config.break_after(probes)
    assert 0.5 <= length <= 30.0
    assert length == (30.0 if probes >= 11 else 0.5 * 1.5**probes)


def test_the_default_break_starts_short_and_a_waiting_caller_is_told_when_the_probe_goes() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1))
    _fail(breaker, 1, 100.0)
    assert breaker.allow(100.0) == pytest.approx(BreakerConfig().open_for)
    assert breaker.allow(100.0 + BreakerConfig().open_for) is None
    assert breaker.probing(100.0 + BreakerConfig().open_for)  # the call let through is the probe
    assert breaker.allow(100.0 + BreakerConfig().open_for) == pytest.approx(BreakerConfig().poll)
    breaker.record_success(100.6, 0.1)
    assert not breaker.probing(100.6)


def test_half_open_allows_exactly_the_probes_then_a_positive_wait() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=4.0, half_open_probes=3))
    _fail(breaker, 1, 0.0)
    assert [breaker.allow(4.0) for _ in range(3)] == [None, None, None]
    wait = breaker.allow(4.0)
    assert wait == pytest.approx(0.4)
    assert breaker.allow(4.5) == pytest.approx(0.4)
    assert breaker.state(4.5) is HALF_OPEN


def test_release_frees_a_probe_slot() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=1.0))
    _fail(breaker, 1, 0.0)
    assert breaker.allow(1.0) is None
    assert breaker.allow(1.0) is not None
    breaker.release(1.1)  # the probe got a 404: nothing learned
    assert breaker.state(1.1) is HALF_OPEN
    assert breaker.allow(1.2) is None
    assert breaker.allow(1.2) is not None
    breaker.release(1.3)
    breaker.release(1.3)  # an extra release never makes room for two
    assert breaker.allow(1.4) is None
    assert breaker.allow(1.4) is not None


def test_release_is_harmless_when_closed_or_open() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=1.0))
    breaker.release(0.0)
    _fail(breaker, 1, 0.0)
    breaker.release(0.5)
    assert breaker.state(0.5) is OPEN
    assert breaker.allow(1.0) is None
    assert breaker.allow(1.0) is not None


def test_several_successful_probes_close_and_clear_the_window() -> None:
    config = BreakerConfig(consecutive_failures=3, failure_rate=0.5, min_calls=4, open_for=1.0,
                           half_open_probes=2, successes_to_close=3)  # fmt: skip
    breaker = CircuitBreaker(config)
    _fail(breaker, 3, 0.0)
    assert breaker.allow(1.0) is None
    assert breaker.allow(1.0) is None
    breaker.record_success(1.1, 0.1)
    breaker.record_success(1.2, 0.2)
    assert breaker.state(1.2) is HALF_OPEN
    assert breaker.allow(1.3) is None
    breaker.record_success(1.4, 0.1)
    assert breaker.state(1.4) is CLOSED
    assert _path(breaker)[-1] == (HALF_OPEN, CLOSED, "3 probes succeeded", 1.4)
    _fail(breaker, 2, 1.5)  # the three failures before the trip are forgotten
    _succeed(breaker, 2, 1.5)
    assert breaker.state(1.5) is CLOSED


def test_outcomes_of_calls_let_through_before_the_trip_are_ignored() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=2, open_for=1.0))
    for _ in range(4):
        assert breaker.allow(0.0) is None
    breaker.record_failure(0.1, 0.1)
    breaker.record_failure(0.1, 0.1)
    assert breaker.state(0.1) is OPEN
    breaker.record_success(0.2, 0.2)  # stragglers while OPEN
    breaker.record_failure(0.2, 0.2)
    assert breaker.state(0.2) is OPEN
    assert breaker.allow(0.5) == pytest.approx(0.6)  # the failure did not restart open_for
    assert breaker.state(1.1) is HALF_OPEN
    breaker.record_success(1.2, 1.2)  # a straggler while HALF_OPEN with no probe in flight
    assert breaker.state(1.2) is HALF_OPEN


def test_callbacks_receive_every_transition_after_the_fact() -> None:
    seen: list[BreakerTransition] = []
    states: list[BreakerState] = []
    breaker: CircuitBreaker

    def on_transition(transition: BreakerTransition) -> None:
        seen.append(transition)
        states.append(breaker.state(transition.at))  # the lock is not held: re-entering is fine

    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=1.0), name="x", on_transition=on_transition)
    _fail(breaker, 1, 0.0)
    assert breaker.allow(1.0) is None
    breaker.record_success(1.0, 0.0)
    assert seen == list(breaker.transitions)
    assert [t.new for t in seen] == [OPEN, HALF_OPEN, CLOSED]
    assert states == [OPEN, HALF_OPEN, CLOSED]


def test_a_raising_callback_is_harmless() -> None:
    calls: list[BreakerTransition] = []

    def broken(transition: BreakerTransition) -> None:
        calls.append(transition)
        raise RuntimeError("metrics backend down")

    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=1.0), on_transition=broken)
    _fail(breaker, 1, 0.0)
    assert breaker.state(0.0) is OPEN
    assert breaker.allow(1.0) is None
    breaker.record_success(1.0, 0.0)
    assert breaker.state(1.0) is CLOSED
    assert len(calls) == 3


def test_history_is_bounded() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=1.0, open_for_growth=1.0))
    now = 0.0
    for _ in range(HISTORY):
        _fail(breaker, 1, now)  # closed -> open, or a failed probe: half_open -> open
        now += 1.0
        breaker.state(now)
    assert len(breaker.transitions) == HISTORY
    assert breaker.transitions[-1].new is HALF_OPEN


def test_reset_closes_and_forgets() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=2, open_for=1.0))
    _fail(breaker, 2, 0.0)
    breaker.reset()
    assert breaker.state(0.0) is CLOSED
    assert breaker.transitions == ()
    _fail(breaker, 1, 0.0)
    assert breaker.state(0.0) is CLOSED


@pytest.mark.parametrize(
    ("field", "value"),
    [("consecutive_failures", 0), ("failure_rate", 0.0), ("failure_rate", 1.5), ("failure_rate", math.nan),
     ("window", 0.0), ("window", math.inf), ("min_calls", 0), ("slow_call_duration", -1.0),
     ("slow_call_rate", 0.0), ("open_for", 0.0), ("open_for", math.nan), ("half_open_probes", 0),
     ("open_for_growth", 0.5), ("open_for_growth", math.inf), ("max_open_for", 0.1), ("max_open_for", math.nan),
     ("successes_to_close", 0)],
)  # fmt: skip
def test_bad_config_is_rejected_with_the_value(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field) as info:
        BreakerConfig(**{field: value})  # type: ignore[arg-type]
    assert repr(value) in str(info.value)


def test_hammering_from_many_threads_keeps_the_invariants() -> None:
    """Bounded random traffic from 8 threads: probes never exceed the limit, history is a consistent chain."""
    config = BreakerConfig(consecutive_failures=3, failure_rate=0.5, min_calls=5, window=2.0, open_for=0.05,
                           half_open_probes=2)  # fmt: skip
    seen: list[BreakerTransition] = []
    breaker = CircuitBreaker(config, on_transition=seen.append)
    clock = [0.0]
    clock_lock = threading.Lock()
    errors: list[str] = []

    def tick() -> float:
        with clock_lock:
            clock[0] += 0.001
            return clock[0]

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(1500):
            now = tick()
            wait = breaker.allow(now)
            if breaker._probes > config.half_open_probes:
                errors.append(f"{breaker._probes} probes in flight")
            if wait is not None:
                if not wait > 0:
                    errors.append(f"non-positive wait {wait}")
                continue
            roll = rng.random()
            done = tick()
            if roll < 0.5:
                breaker.record_failure(done, 0.001)
            elif roll < 0.9:
                breaker.record_success(done, 0.001)
            else:
                breaker.release(done)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = breaker.transitions
    assert len(history) > 3
    for before, after in itertools.pairwise(history):
        assert before.new is after.old
    assert set(history) <= set(seen)
    assert 0 <= breaker._probes <= config.half_open_probes


def test_a_call_let_through_while_closed_neither_spends_nor_frees_a_probe_slot() -> None:
    """A straggler admitted before the trip that ends while a probe is in flight says nothing about the probe."""
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=1, open_for=1.0, open_for_growth=1.0))
    assert breaker.allow(0.0) is None  # the straggler, let through while CLOSED
    _fail(breaker, 1, 0.1)  # another call trips it
    assert breaker.allow(1.1) is None  # HALF_OPEN: the probe
    breaker.release(1.5, started=0.0)  # the straggler got a 404: it held no slot
    assert breaker.allow(1.5) is not None  # still only one probe
    breaker.record_success(1.6, 1.6)  # the straggler's success does not close it
    assert breaker.state(1.6) is HALF_OPEN
    breaker.record_failure(1.7, 1.7)  # nor does its failure reopen it
    assert breaker.state(1.7) is HALF_OPEN
    breaker.record_success(1.8, 0.7)  # the probe's own answer does
    assert breaker.state(1.8) is CLOSED


def test_a_503s_retry_after_opens_it_at_once_for_that_long_within_the_cap() -> None:
    config = BreakerConfig(consecutive_failures=5, open_for=0.5, open_for_growth=2.0, max_open_for=10.0)
    breaker = CircuitBreaker(config)
    breaker.record_failure(0.0, 0.0, hold=2.0)  # one 503 with Retry-After: 2 is enough
    assert breaker.state(0.0) is OPEN
    assert breaker.allow(0.0) == pytest.approx(2.0)  # never before the upstream's own time
    assert _path(breaker)[-1][2] == "the upstream is unavailable for 2s"
    assert breaker.allow(2.0) is None  # the probe
    breaker.record_failure(2.1, 0.1, hold=0.1)  # a failed probe: the grown break (1 s) beats a shorter hold
    assert breaker.allow(2.1) == pytest.approx(1.0)
    assert breaker.allow(3.1) is None
    breaker.record_failure(3.1, 0.0, hold=3600.0)  # an absurd Retry-After is held to max_open_for
    assert breaker.allow(3.1) == pytest.approx(10.0)


@pytest.mark.parametrize("hold", [0.0, -1.0, math.nan, math.inf])
def test_a_nonsense_hold_is_an_ordinary_failure(hold: float) -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=2))
    breaker.record_failure(0.0, 0.0, hold=hold)
    assert breaker.state(0.0) is CLOSED
