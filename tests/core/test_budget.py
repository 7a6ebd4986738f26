"""The retry budget: the floor at low traffic, the percentage, the sliding window, the outage ratio."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstreamkit.core.budget import BudgetConfig, RetryBudget


def _drain(budget: RetryBudget, now: float) -> int:
    """Withdraw until the budget says no; return how many retries it allowed."""
    count = 0
    while budget.try_withdraw(now):
        count += 1
    return count


def test_a_fresh_budget_holds_only_the_floor() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=0.2, min_per_second=1.0))
    assert budget.balance(0.0) == pytest.approx(10.0)
    assert _drain(budget, 0.0) == 10
    assert budget.balance(0.0) == pytest.approx(0.0)
    assert not budget.try_withdraw(0.0)


def test_floor_at_low_traffic_renews_every_ttl() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=0.2, min_per_second=0.5))
    assert _drain(budget, 0.0) == 5
    assert _drain(budget, 9.0) == 0  # the withdrawals at t=0 are still in the window
    assert _drain(budget, 10.0) == 5  # ... and have expired now


def test_deposits_add_percent_of_first_attempts() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=0.2, min_per_second=0.0))
    assert not budget.try_withdraw(0.0)
    for _ in range(4):
        budget.record_request(0.0)
    assert budget.balance(0.0) == pytest.approx(0.8)
    assert not budget.try_withdraw(0.0)  # a retry needs a whole token
    budget.record_request(0.5)
    assert budget.balance(0.5) == pytest.approx(1.0)
    assert budget.try_withdraw(0.5)
    assert budget.balance(0.5) == pytest.approx(0.0)
    for _ in range(100):
        budget.record_request(1.0)
    assert _drain(budget, 1.0) == 20


def test_window_slides_bucket_by_bucket() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=1.0, min_per_second=0.0))
    for t in (0.0, 2.5, 5.0, 7.5):
        budget.record_request(t)
    assert budget.balance(9.9) == pytest.approx(4.0)
    assert budget.balance(10.0) == pytest.approx(3.0)  # the bucket [0, 1) expired at 10
    assert budget.balance(11.9) == pytest.approx(3.0)
    assert budget.balance(12.0) == pytest.approx(2.0)  # the bucket [2, 3), holding t=2.5, expired at 12
    assert budget.balance(16.9) == pytest.approx(1.0)
    assert budget.balance(17.0) == pytest.approx(0.0)
    assert budget.balance(1000.0) == pytest.approx(0.0)


def test_withdrawals_expire_with_their_bucket() -> None:
    budget = RetryBudget(BudgetConfig(ttl=1.0, percent=0.0, min_per_second=2.0))
    assert _drain(budget, 0.05) == 2
    assert _drain(budget, 0.95) == 0
    assert _drain(budget, 1.05) == 2


def test_a_late_clock_reading_counts_in_the_newest_bucket() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=1.0, min_per_second=0.0))
    budget.record_request(20.0)
    budget.record_request(3.0)  # a thread that read the clock long ago: not dropped, not resurrected as old
    assert budget.balance(20.0) == pytest.approx(2.0)
    assert budget.balance(29.9) == pytest.approx(2.0)
    assert budget.balance(30.0) == pytest.approx(0.0)


def test_balance_survives_non_finite_now() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=1.0, min_per_second=0.0))
    budget.record_request(math.nan)
    budget.record_request(math.inf)
    assert math.isfinite(budget.balance(math.nan))


def test_negative_time_is_just_time() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=1.0, min_per_second=0.0))
    budget.record_request(-5.0)
    assert budget.balance(-1.0) == pytest.approx(1.0)
    assert budget.balance(5.0) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("ttl", 0.0), ("ttl", -1.0), ("ttl", math.inf), ("ttl", math.nan), ("percent", -0.1), ("percent", math.nan),
     ("min_per_second", -1.0), ("min_per_second", math.inf)],
)  # fmt: skip
def test_bad_config_is_rejected_with_the_value(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field) as info:
        BudgetConfig(**{field: value})
    assert repr(value) in str(info.value)


def test_repr_names_the_config() -> None:
    assert repr(RetryBudget()) == ("RetryBudget(ttl=10, percent=0.2, min_per_second=1, max_tokens=10.0, token_ratio=1)")
    assert RetryBudget().config == BudgetConfig()


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=2000),
    duration=st.floats(min_value=0.0, max_value=120.0),
    percent=st.floats(min_value=0.0, max_value=1.0),
    min_per_second=st.floats(min_value=0.0, max_value=5.0),
    ttl=st.floats(min_value=0.5, max_value=30.0),
    max_retries=st.integers(min_value=1, max_value=50),
    retry_delay=st.floats(min_value=0.0, max_value=2.0),
)
def test_outage_attempts_per_request_are_bounded(
    n: int, duration: float, percent: float, min_per_second: float, ttl: float, max_retries: int, retry_delay: float
) -> None:
    """Every attempt fails; each request retries as much as allowed; the upstream sees ~(1 + percent) x N."""
    config = BudgetConfig(ttl=ttl, percent=percent, min_per_second=min_per_second)
    budget = RetryBudget(config)
    attempts = 0
    for i in range(n):
        start = duration * i / n
        budget.record_request(start)
        attempts += 1
        for retry in range(1, max_retries + 1):
            if not budget.try_withdraw(start + retry * retry_delay):
                break
            attempts += 1
    span = duration + max_retries * retry_delay  # the time over which attempts were spread
    bound = 1 + percent + min_per_second * (span + ttl) / n
    assert attempts / n <= bound + 1e-9


def test_outage_with_defaults_is_about_1_2_attempts_per_request() -> None:
    budget = RetryBudget()
    n, attempts = 10_000, 0
    for i in range(n):  # 100 requests per second for 100 s, three retries each if allowed
        now = i / 100
        budget.record_request(now)
        attempts += 1
        attempts += sum(1 for _ in range(3) if budget.try_withdraw(now))
    assert 1.2 <= attempts / n <= 1.2 + (100 + 10) / n


def test_concurrent_withdrawals_never_overspend() -> None:
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=0.5, min_per_second=1.0))
    for _ in range(100):
        budget.record_request(0.0)
    granted: list[int] = []

    def worker() -> None:
        granted.append(sum(1 for _ in range(200) if budget.try_withdraw(1.0)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 60  # 0.5 * 100 + 1 * 10
    assert budget.balance(1.0) == pytest.approx(0.0)


def test_the_throttle_bites_at_the_start_of_an_outage_whatever_healthy_traffic_came_before() -> None:
    """Issue 10: 160 healthy calls a second for 3 s put 96 retries in the ratio's window; the throttle stops
    retries after a handful of failures anyway, and the upstream's successes earn them back."""
    budget = RetryBudget(BudgetConfig(ttl=10.0, percent=0.2, min_per_second=1.0, max_tokens=10.0))
    now = 0.0
    for _ in range(480):
        budget.record_request(now)
        budget.record_success()
        now += 1 / 160
    assert budget.balance(now) > 90  # the ratio alone would let ~96 retries into the outage
    granted = 0
    for _ in range(480):  # the outage: every first attempt fails, every retry it is granted fails too
        budget.record_request(now)
        budget.record_failure()
        if budget.try_withdraw(now):
            granted += 1
            budget.record_failure()
        now += 1 / 160
    assert budget.throttled
    assert granted <= 5  # half the bucket, drained by the first failures
    for _ in range(5):  # recovery: successes refill the bucket
        budget.record_success()
    assert budget.throttled
    budget.record_success()
    assert not budget.throttled
    assert budget.try_withdraw(now)


def test_sporadic_failures_keep_the_throttle_open() -> None:
    budget = RetryBudget(BudgetConfig(max_tokens=10.0, token_ratio=1.0))
    for n in range(1000):
        budget.record_request(n * 0.01)
        if n % 10 == 0:  # 10% of attempts fail, each retried
            budget.record_failure()
            assert budget.try_withdraw(n * 0.01)
        else:
            budget.record_success()
    assert not budget.throttled


def test_without_a_throttle_only_the_ratio_counts() -> None:
    budget = RetryBudget(BudgetConfig(max_tokens=None, min_per_second=1.0, ttl=10.0))
    for _ in range(100):
        budget.record_failure()
    assert not budget.throttled
    assert budget.try_withdraw(0.0)


@pytest.mark.parametrize(("field", "value"), [("max_tokens", 0.0), ("max_tokens", math.inf), ("token_ratio", 0.0),
                                              ("token_ratio", math.nan)])  # fmt: skip
def test_bad_throttle_config_is_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BudgetConfig(**{field: value})  # type: ignore[arg-type]
