"""RecoveryTracker: scripted incidents with explicit times, the 600 window, and out-of-order arrival."""

from __future__ import annotations

import pytest

from upstreamkit.core.events import AttemptFailed, AttemptStarted, AttemptSucceeded
from upstreamkit.errors import ErrorKind
from upstreamkit.telemetry import Recovery, RecoveryTracker

API = "https://api.example.com:443"
OTHER = "https://other.example.com:443"


def test_incident_runs_from_first_failure_to_next_success() -> None:
    tracker = RecoveryTracker()
    assert tracker.success(API, 1.0) is None  # no incident yet
    tracker.failure(API, 10.0)
    tracker.failure(API, 11.5)
    tracker.failure(API, 13.0)
    assert tracker.in_incident(API)
    assert tracker.incident_started(API) == 10.0
    recovery = tracker.success(API, 42.5)
    assert recovery == Recovery(API, started=10.0, recovered=42.5, failures=3)
    assert recovery.seconds == pytest.approx(32.5)
    assert not tracker.in_incident(API)
    assert tracker.last_recovery(API) == recovery
    assert tracker.recoveries(API) == 1
    assert tracker.success(API, 43.0) is None  # a second success ends nothing


def test_first_failure_ever_starts_an_incident() -> None:
    tracker = RecoveryTracker()
    tracker.failure(API, 5.0)
    recovery = tracker.success(API, 7.0)
    assert recovery is not None
    assert recovery.seconds == pytest.approx(2.0)


def test_count_sum_and_last_value_over_several_incidents() -> None:
    tracker = RecoveryTracker()
    script = [("fail", 0.0), ("ok", 3.0), ("ok", 4.0), ("fail", 10.0), ("fail", 11.0), ("ok", 20.0)]
    ended = []
    for what, at in script:
        if what == "fail":
            tracker.failure(API, at)
        elif (recovery := tracker.success(API, at)) is not None:
            ended.append(recovery.seconds)
    assert ended == [3.0, 10.0]
    assert tracker.recoveries(API) == 2
    assert tracker.total_recovery_seconds(API) == pytest.approx(13.0)
    last = tracker.last_recovery(API)
    assert last is not None
    assert last.seconds == pytest.approx(10.0)
    assert last.failures == 2


def test_upstreams_are_independent() -> None:
    tracker = RecoveryTracker()
    tracker.failure(API, 1.0)
    tracker.success(OTHER, 2.0)
    assert tracker.in_incident(API)
    assert not tracker.in_incident(OTHER)
    assert tracker.success(API, 6.0) == Recovery(API, 1.0, 6.0, 1)
    assert tracker.upstreams() == [API, OTHER]
    assert tracker.last_recovery(OTHER) is None
    assert tracker.recoveries("https://never.example:443") == 0


def test_late_failure_older_than_a_success_opens_no_incident() -> None:
    # Two threads: an attempt that failed at t=5 is reported after one that succeeded at t=6.
    tracker = RecoveryTracker()
    tracker.success(API, 6.0)
    tracker.failure(API, 5.0)
    assert not tracker.in_incident(API)


def test_late_success_older_than_the_first_failure_closes_nothing() -> None:
    tracker = RecoveryTracker()
    tracker.failure(API, 5.0)
    assert tracker.success(API, 4.9) is None
    assert tracker.in_incident(API)
    recovery = tracker.success(API, 8.0)
    assert recovery is not None
    assert recovery.started == 5.0


def test_failure_reported_late_moves_the_incident_start_back() -> None:
    tracker = RecoveryTracker()
    tracker.failure(API, 5.0)
    tracker.failure(API, 4.0)  # happened first, arrived second
    assert tracker.incident_started(API) == 4.0


def test_ignored_kinds_neither_start_nor_count() -> None:
    tracker = RecoveryTracker(ignore_kinds=[ErrorKind.AUTH_EXPIRED])
    tracker.failure(API, 1.0, kind=ErrorKind.AUTH_EXPIRED)
    assert not tracker.in_incident(API)
    assert tracker.success(API, 1.2) is None
    assert tracker.rate_600(API) == 0.0  # both were attempts


def test_600_rate_over_the_last_window_attempts() -> None:
    tracker = RecoveryTracker(window=4)
    assert tracker.rate_600(API) is None
    tracker.failure(API, 1.0, is_600=True)
    assert tracker.rate_600(API) == 1.0
    tracker.failure(API, 2.0, is_600=False)
    tracker.success(API, 3.0)
    tracker.failure(API, 4.0, is_600=True)
    assert tracker.rate_600(API) == pytest.approx(0.5)
    tracker.success(API, 5.0)  # pushes the first 600 out of the window
    assert tracker.rate_600(API) == pytest.approx(0.25)
    for at in (6.0, 7.0, 8.0):
        tracker.success(API, at)
    assert tracker.rate_600(API) == 0.0


def test_fed_with_events_and_usable_as_a_hook() -> None:
    tracker = RecoveryTracker()
    tracker(AttemptStarted(API, "r1", "GET", 1, 5.0, 0.0))
    tracker(
        AttemptFailed(
            API, "r1", "GET", 1, ErrorKind.UPSTREAM_600, 200, is_600=True, duration=0.1, explanation="code 600", at=0.1
        )
    )
    assert tracker.in_incident(API)
    recovery = tracker.observe(AttemptSucceeded(API, "r2", "GET", 1, 200, 0.05, 2.6))
    assert recovery is not None
    assert recovery.seconds == pytest.approx(2.5)
    assert tracker.rate_600(API) == pytest.approx(0.5)


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        RecoveryTracker(window=0)


def test_many_upstreams_stay_bounded_and_an_open_incident_is_kept() -> None:
    tracker = RecoveryTracker(max_upstreams=10)
    tracker.failure("https://down.example:443", 0.0)
    for n in range(1000):
        tracker.success(f"https://host{n}.example:443", float(n))
    assert len(tracker.upstreams()) <= 10
    assert tracker.in_incident("https://down.example:443")
    assert tracker.success("https://down.example:443", 2000.0) is not None
