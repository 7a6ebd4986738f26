"""OpenTelemetryHook: metrics read back through the SDK's in-memory reader, span events from an in-memory exporter."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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
from upstreamkit.telemetry import OpenTelemetryHook

API = "https://api.example.com:443"
P = "upstreamkit.upstream."


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def hook(reader: InMemoryMetricReader) -> OpenTelemetryHook:
    return OpenTelemetryHook(MeterProvider(metric_readers=[reader]))


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "upstreamkit"
            for metric in scope.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


def _number(points: list[Any], **attributes: object) -> float | None:
    for point in points:
        assert isinstance(point, NumberDataPoint)
        if dict(point.attributes or {}) == attributes:
            return point.value
    return None


def _fail(kind: ErrorKind, at: float, *, is_600: bool = False) -> AttemptFailed:
    return AttemptFailed(API, "r", "GET", 1, kind, 502, is_600, 0.2, "Bad Gateway", at)


def _ok(at: float) -> AttemptSucceeded:
    return AttemptSucceeded(API, "r", "GET", 1, 200, 0.05, at)


def test_counters_match_the_prometheus_ones(hook: OpenTelemetryHook, reader: InMemoryMetricReader) -> None:
    hook(AttemptStarted(API, "r", "GET", 1, 5.0, 0.0))
    hook(_ok(1.0))
    hook(_fail(ErrorKind.UPSTREAM_600, 2.0, is_600=True))
    hook(_fail(ErrorKind.UPSTREAM_600, 3.0, is_600=True))
    hook(_fail(ErrorKind.RATE_LIMITED, 4.0))
    hook(RetryScheduled(API, "r", 1, 2.0, "rate_limited: Retry-After 2s", 4.0))
    hook(GaveUp(API, "r", 3, ErrorKind.UPSTREAM_600, None, "attempts exhausted", 5.0))
    hook(Throttled(API, "r", 0.25, "client limit", 6.0))
    hook(TokenRefreshed(API, "auth_expired", "sha256:0123abcd", None, 7.0))
    points = _points(reader)
    attempts = points[P + "attempts"]
    assert _number(attempts, upstream=API, method="GET", outcome="ok") == 1
    assert _number(attempts, upstream=API, method="GET", outcome="upstream_600") == 2
    errors = points[P + "errors"]
    assert _number(errors, upstream=API, kind="upstream_600", is_600=True) == 2
    assert _number(errors, upstream=API, kind="rate_limited", is_600=False) == 1
    assert _number(points[P + "retries"], upstream=API, reason="rate_limited") == 1
    assert _number(points[P + "giveups"], upstream=API, kind="upstream_600") == 1
    assert _number(points[P + "throttled"], upstream=API) == pytest.approx(0.25)
    assert _number(points[P + "token_refreshes"], upstream=API) == 1


def test_histograms_duration_and_time_to_recover(hook: OpenTelemetryHook, reader: InMemoryMetricReader) -> None:
    hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 10.0))
    hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 11.0))
    hook(_ok(17.5))
    points = _points(reader)
    (duration,) = points[P + "request.duration"]
    assert isinstance(duration, HistogramDataPoint)
    assert duration.count == 3
    assert duration.sum == pytest.approx(0.45)
    assert 0.005 in duration.explicit_bounds  # the advisory buckets, 5 ms to 30 s
    (recovery,) = points[P + "time_to_recover"]
    assert isinstance(recovery, HistogramDataPoint)
    assert recovery.count == 1
    assert recovery.sum == pytest.approx(7.5)
    assert dict(recovery.attributes or {}) == {"upstream": API}


def test_breaker_state_gauge(hook: OpenTelemetryHook, reader: InMemoryMetricReader) -> None:
    other = "https://other.example.com:443"
    hook(BreakerStateChanged(API, "closed", "open", "5 consecutive failures", 1.0))
    hook(BreakerStateChanged(other, "closed", "open", "failure rate", 1.0))
    hook(BreakerStateChanged(other, "open", "half_open", "probe", 31.0))
    points = _points(reader)
    state = points[P + "breaker.state"]
    assert _number(state, upstream=API) == 2
    assert _number(state, upstream=other) == 1
    assert _number(points[P + "breaker.transitions"], upstream=other, to="half_open") == 1
    hook(BreakerStateChanged(API, "half_open", "closed", "probe succeeded", 40.0))
    assert _number(_points(reader)[P + "breaker.state"], upstream=API) == 0


def test_span_events_on_the_recording_span(hook: OpenTelemetryHook) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("checkout"):
        hook(AttemptStarted(API, "r", "GET", 1, 5.0, 0.0))
        hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 1.0))
        hook(RetryScheduled(API, "r", 1, 0.35, "upstream_outage: backoff", 1.0))
        hook(GaveUp(API, "r", 2, ErrorKind.UPSTREAM_OUTAGE, 30.0, "attempts exhausted", 2.0))
        hook(BreakerStateChanged(API, "closed", "open", "5 consecutive failures", 2.0))
        hook(_ok(3.0))
    (span,) = exporter.get_finished_spans()
    assert [e.name for e in span.events] == [
        "upstreamkit.attempt_failed",
        "upstreamkit.retry_scheduled",
        "upstreamkit.gave_up",
        "upstreamkit.breaker_state_changed",
    ]
    failed = dict(span.events[0].attributes or {})
    assert failed == {
        "upstream": API, "attempt": 1, "kind": "upstream_outage", "status": 502, "is_600": False,
        "explanation": "Bad Gateway",
    }  # fmt: skip
    assert dict(span.events[2].attributes or {})["retry_after"] == 30.0


def test_no_span_events_when_disabled_or_not_recording(reader: InMemoryMetricReader) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    quiet = OpenTelemetryHook(MeterProvider(metric_readers=[reader]), span_events=False)
    with provider.get_tracer("tests").start_as_current_span("call"):
        quiet(_fail(ErrorKind.UPSTREAM_OUTAGE, 1.0))
    (span,) = exporter.get_finished_spans()
    assert span.events == ()
    quiet.span_events = True
    quiet(_fail(ErrorKind.UPSTREAM_OUTAGE, 2.0))  # no current span: nothing to add to, nothing raised
    assert "span_events=True" in repr(quiet)


def test_global_meter_provider_by_default() -> None:
    hook = OpenTelemetryHook()  # the API's no-op provider unless the application set one
    hook(_ok(1.0))
    hook(_fail(ErrorKind.UPSTREAM_OUTAGE, 2.0))
