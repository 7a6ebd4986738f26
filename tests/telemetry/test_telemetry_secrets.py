"""Planted secrets never leave through a telemetry backend: not in log text, log fields, labels or span events."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from upstreamkit.core.events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    BreakerStateChanged,
    Event,
    GaveUp,
    RetryScheduled,
    Throttled,
    TokenRefreshed,
)
from upstreamkit.errors import ErrorKind
from upstreamkit.telemetry import LoggingHook, OpenTelemetryHook, PrometheusHook
from upstreamkit.telemetry.logging import EXTRA_KEY

STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
ACCESS = "q8Zt2LmN4vR7xK1pW9sD"
PASSWORD = "hunter2-correct-horse"
SECRETS = (STRIPE, ACCESS, PASSWORD)
# An upstream as a careless caller might name it, and explanations as an upstream might echo them.
LEAKY_URL = f"https://svc:{PASSWORD}@api.example.com/v1/charges?access_token={ACCESS}&page=2"
LEAKY_TEXT = f"401 from https://api.example.com/v1?access_token={ACCESS}: Authorization: Bearer {STRIPE} rejected"


def _events() -> list[Event]:
    rid = f"req-{STRIPE}"  # a request id can be anything a caller set
    return [
        AttemptStarted(LEAKY_URL, rid, "GET", 1, 5.0, 0.0),
        AttemptFailed(
            LEAKY_URL,
            rid,
            "GET",
            1,
            ErrorKind.AUTH_EXPIRED,
            401,
            is_600=False,
            duration=0.1,
            explanation=LEAKY_TEXT,
            at=0.1,
        ),
        RetryScheduled(LEAKY_URL, rid, 1, 0.5, f"auth_expired: Retry-After 0.5s; token {ACCESS}", 0.1),
        AttemptFailed(
            LEAKY_URL,
            rid,
            "GET",
            2,
            ErrorKind.UPSTREAM_600,
            200,
            is_600=True,
            duration=0.1,
            explanation=f"Bearer {STRIPE}",
            at=0.7,
        ),
        GaveUp(LEAKY_URL, rid, 2, ErrorKind.UPSTREAM_600, None, LEAKY_TEXT, 0.8),
        BreakerStateChanged(LEAKY_URL, "closed", "open", LEAKY_TEXT, 0.8),
        Throttled(LEAKY_URL, rid, 0.1, f"limit hit with api_key={STRIPE}", 0.9),
        TokenRefreshed(LEAKY_URL, f"refreshed Bearer {STRIPE}", "sha256:0123abcd", None, 1.0),
        AttemptSucceeded(LEAKY_URL, rid, "GET", 3, 200, 0.05, 1.1),
    ]


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_log_output_carries_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.telemetry.secrets")
    hook = LoggingHook(logging.getLogger("tests.telemetry.secrets"))
    for event in _events():
        hook(event)
    records = [r for r in caplog.records if r.name == "tests.telemetry.secrets"]
    assert len(records) == len(_events())
    for record in records:
        _assert_clean(record.getMessage())
        _assert_clean(json.dumps(getattr(record, EXTRA_KEY)))
    assert "sha256:" in caplog.text  # redacted into fingerprints, not dropped


def test_prometheus_labels_carry_no_secret() -> None:
    registry = CollectorRegistry()
    hook = PrometheusHook(registry)
    for event in _events():
        hook(event)
    exposition = generate_latest(registry).decode()
    _assert_clean(exposition)
    assert "/v1/charges" not in exposition
    assert 'upstream="https://api.example.com:443"' in exposition


def test_opentelemetry_attributes_and_span_events_carry_no_secret() -> None:
    reader = InMemoryMetricReader()
    hook = OpenTelemetryHook(MeterProvider(metric_readers=[reader]))
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracer_provider.get_tracer("tests").start_as_current_span("call"):
        for event in _events():
            hook(event)
    data = reader.get_metrics_data()
    assert data is not None
    _assert_clean(data.to_json())
    (span,) = exporter.get_finished_spans()
    assert span.events
    _assert_clean(span.to_json())


def test_secret_pair_after_a_plain_label_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.telemetry.secrets")
    hook = LoggingHook(logging.getLogger("tests.telemetry.secrets"))
    hook(RetryScheduled("https://api.example.com:443", "r", 1, 0.5, f"auth_expired: token={ACCESS}", 0.1))
    (record,) = [r for r in caplog.records if r.name == "tests.telemetry.secrets"]
    _assert_clean(json.dumps(getattr(record, EXTRA_KEY)))
