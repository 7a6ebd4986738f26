"""PrometheusHook: samples read back from a private registry after hand-built events."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from upstreamkit.core.events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    BreakerStateChanged,
    GaveUp,
    RetryScheduled,
    Throttled,
    TokenRefreshed,
)
from upstreamkit.errors import ErrorKind
from upstreamkit.telemetry import PrometheusHook, RecoveryTracker

API = "https://api.example.com:443"
NS = "upstreamkit_upstream_"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def hook(registry: CollectorRegistry) -> PrometheusHook:
    return PrometheusHook(registry)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(NS + name, labels)


def _fail(kind: ErrorKind, at: float, *, is_600: bool = False, status: int | None = 502) -> AttemptFailed:
    return AttemptFailed(API, "r", "GET", 1, kind, status, is_600, 0.2, "", at)


def _ok(at: float, duration: float = 0.05) -> AttemptSucceeded:
    return AttemptSucceeded(API, "r", "GET", 1, 200, duration, at)


def test_attempts_errors_and_600s(hook: PrometheusHook, registry: CollectorRegistry) -> None:
    hook(AttemptStarted(API, "r", "GET", 1, 5.0, 0.0))
    hook(_ok(1.0))
    hook(_ok(2.0))
    hook(_fail(ErrorKind.UPSTREAM_600, 3.0, is_600=True, status=200))
    hook(_fail(ErrorKind.UPSTREAM_600, 4.0, is_600=True, status=600))
    hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 5.0, is_600=True))
    hook(_fail(ErrorKind.RATE_LIMITED, 6.0, status=429))
    attempts = {"upstream": API, "method": "GET"}
    assert _value(registry, "attempts_total", **attempts, outcome="ok") == 2
    assert _value(registry, "attempts_total", **attempts, outcome="upstream_600") == 2
    assert _value(registry, "attempts_total", **attempts, outcome="upstream_outage") == 1
    assert _value(registry, "attempts_total", **attempts, outcome="rate_limited") == 1
    assert _value(registry, "errors_total", upstream=API, kind="upstream_600", is_600="true") == 2
    assert _value(registry, "errors_total", upstream=API, kind="upstream_outage", is_600="true") == 1
    assert _value(registry, "errors_total", upstream=API, kind="rate_limited", is_600="false") == 1
    assert _value(registry, "errors_total", upstream=API, kind="rate_limited", is_600="true") is None
    # Three attempts in six reached the client as error 600.
    assert _value(registry, "600_ratio", upstream=API) == pytest.approx(3 / 6)


def test_latency_histogram_per_attempt(hook: PrometheusHook, registry: CollectorRegistry) -> None:
    hook(_ok(1.0, duration=0.004))
    hook(_ok(2.0, duration=0.3))
    hook(_fail(ErrorKind.HTTP_RESPONSE_TIMEOUT, 3.0, status=None))  # 0.2 s
    labels = {"upstream": API, "method": "GET"}
    assert _value(registry, "request_duration_seconds_count", **labels) == 3
    assert _value(registry, "request_duration_seconds_sum", **labels) == pytest.approx(0.504)
    assert _value(registry, "request_duration_seconds_bucket", **labels, le="0.005") == 1
    assert _value(registry, "request_duration_seconds_bucket", **labels, le="0.25") == 2
    assert _value(registry, "request_duration_seconds_bucket", **labels, le="30.0") == 3


def test_retries_giveups_throttling_and_refreshes(hook: PrometheusHook, registry: CollectorRegistry) -> None:
    hook(RetryScheduled(API, "r", 1, 2.0, "rate_limited: Retry-After 2s", 1.0))
    hook(RetryScheduled(API, "r", 2, 4.0, "rate_limited: Retry-After 4s", 3.0))
    hook(RetryScheduled(API, "r", 1, 0.1, "upstream_outage: backoff", 5.0))
    hook(GaveUp(API, "r", 2, ErrorKind.BUDGET_EXHAUSTED, None, "retry budget spent", 6.0))
    hook(Throttled(API, "r", 0.25, "client limit", 7.0))
    hook(Throttled(API, "r", 0.5, "RateLimit-Reset", 8.0))
    hook(TokenRefreshed(API, "auth_expired", "sha256:0123abcd", None, 9.0))
    assert _value(registry, "retries_total", upstream=API, reason="rate_limited") == 2
    assert _value(registry, "retries_total", upstream=API, reason="upstream_outage") == 1
    assert _value(registry, "giveups_total", upstream=API, kind="budget_exhausted") == 1
    assert _value(registry, "throttled_seconds_total", upstream=API) == pytest.approx(0.75)
    assert _value(registry, "token_refreshes_total", upstream=API) == 1


def test_breaker_gauge_and_transitions(hook: PrometheusHook, registry: CollectorRegistry) -> None:
    hook(BreakerStateChanged(API, "closed", "open", "5 consecutive failures", 1.0))
    assert _value(registry, "breaker_state", upstream=API) == 2
    hook(BreakerStateChanged(API, "open", "half_open", "probe", 31.0))
    assert _value(registry, "breaker_state", upstream=API) == 1
    hook(BreakerStateChanged(API, "half_open", "closed", "probe succeeded", 31.2))
    assert _value(registry, "breaker_state", upstream=API) == 0
    hook(BreakerStateChanged(API, "closed", "open", "failure rate 60%", 50.0))
    assert _value(registry, "breaker_transitions_total", upstream=API, to="open") == 2
    assert _value(registry, "breaker_transitions_total", upstream=API, to="half_open") == 1
    assert _value(registry, "breaker_transitions_total", upstream=API, to="closed") == 1


def test_time_to_recover_histogram(hook: PrometheusHook, registry: CollectorRegistry) -> None:
    hook(_ok(0.0))
    hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 10.0))
    hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 12.0))
    assert _value(registry, "time_to_recover_seconds_count", upstream=API) is None  # no incident ended yet
    hook(_ok(14.0))  # 4 s incident
    hook(_ok(15.0))
    hook(_fail(ErrorKind.CONNECTION_REFUSED, 100.0))
    hook(_ok(190.0))  # 90 s incident
    assert _value(registry, "time_to_recover_seconds_count", upstream=API) == 2
    assert _value(registry, "time_to_recover_seconds_sum", upstream=API) == pytest.approx(94.0)
    assert _value(registry, "time_to_recover_seconds_bucket", upstream=API, le="5.0") == 1
    assert _value(registry, "time_to_recover_seconds_bucket", upstream=API, le="120.0") == 2
    assert hook.tracker.recoveries(API) == 2


def test_a_given_tracker_is_fed(registry: CollectorRegistry) -> None:
    tracker = RecoveryTracker()
    hook = PrometheusHook(registry, tracker=tracker)
    hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 1.0))
    hook(_ok(3.0))
    last = tracker.last_recovery(API)
    assert last is not None
    assert last.seconds == pytest.approx(2.0)


def test_hooks_on_one_registry_share_series_and_tracker(registry: CollectorRegistry) -> None:
    first = PrometheusHook(registry)
    second = PrometheusHook(registry)  # prometheus_client would refuse to register the names twice
    first(_fail(ErrorKind.UPSTREAM_OUTAGE, 1.0))
    second(_ok(2.0))
    assert _value(registry, "attempts_total", upstream=API, method="GET", outcome="ok") == 1
    assert first.tracker is second.tracker
    assert _value(registry, "time_to_recover_seconds_count", upstream=API) == 1


def test_default_registry_and_namespace(registry: CollectorRegistry) -> None:
    hook = PrometheusHook(registry, namespace="myapp")
    hook(_ok(1.0))
    labels = {"upstream": API, "method": "GET", "outcome": "ok"}
    assert registry.get_sample_value("myapp_upstream_attempts_total", labels) == 1
    default = PrometheusHook()
    assert default.registry is PrometheusHook().registry
    assert "myapp" in repr(hook)


def test_labels_are_reduced_to_low_cardinality(hook: PrometheusHook, registry: CollectorRegistry) -> None:
    hook(AttemptSucceeded("https://api.example.com/v1/items/123?page=2", "r", "propfind", 1, 207, 0.01, 1.0))
    assert _value(registry, "attempts_total", upstream=API, method="OTHER", outcome="ok") == 1
    text = generate_latest(registry).decode()
    assert "/v1/items" not in text
    assert "page=2" not in text
