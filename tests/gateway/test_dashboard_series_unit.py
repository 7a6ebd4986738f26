"""The ring behind ``/series`` and the dashboard, on made-up times: buckets, gaps, bounds, percentiles."""

from __future__ import annotations

import pytest

from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.timeseries import LATENCY_BOUNDS_MS, TimeSeries, percentile
from upstreamkit.testing import FakeClock

WALL = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the wall-clock time at monotonic NOW
NOW = 1000.0


def test_requests_fall_in_their_second_and_empty_seconds_are_reported() -> None:
    series = TimeSeries()
    series.request("pay", "2xx", None, 997.1)
    series.request("pay", "2xx", None, 997.9)
    series.request("pay", "5xx", "upstream_outage", 997.95)
    series.request("none", "4xx", "destination_not_found", 999.5)
    document = series.document(NOW + 0.5, WALL + 0.5, {"pay": "closed"})
    buckets = document["buckets"]
    assert [bucket["t"] for bucket in buckets] == [
        "2027-01-15T07:59:57.000Z",
        "2027-01-15T07:59:58.000Z",
        "2027-01-15T07:59:59.000Z",
        "2027-01-15T08:00:00.000Z",
    ]
    first = buckets[0]
    assert (first["requests"], first["failures"], first["rate_600"]) == (3, 1, 0.3333)
    assert first["by_class"] == {"2xx": 2, "5xx": 1}
    assert first["by_kind"] == {"upstream_outage": 1}
    assert first["upstreams"]["pay"] == {"requests": 3, "failures": 1, "rate_600": 0.3333}
    assert buckets[1] == {
        "t": "2027-01-15T07:59:58.000Z",
        "requests": 0,
        "failures": 0,
        "rate_600": None,
        "by_class": {},
        "by_kind": {},
        "upstreams": {},
    }
    assert buckets[2]["upstreams"]["none"]["rate_600"] == 1.0
    assert document["breakers"] == {"pay": "closed"}


def test_the_ring_keeps_only_its_size_and_a_late_sample_joins_the_newest_second() -> None:
    series = TimeSeries(step=1.0, size=5)
    for second in range(20):
        series.request("pay", "2xx", None, float(second))
    series.request("pay", "5xx", "connection_refused", 3.0)  # late: counted in second 19, not lost
    buckets = series.document(19.2, WALL, {})["buckets"]
    assert len(buckets) == 5
    assert [bucket["requests"] for bucket in buckets] == [1, 1, 1, 1, 2]
    assert buckets[-1]["failures"] == 1
    # nothing new for a while: the window slides on, old seconds drop out, empty ones are reported
    later = series.document(22.0, WALL, {})["buckets"]
    assert [bucket["requests"] for bucket in later] == [1, 2, 0, 0, 0]


def test_latency_percentiles_are_read_from_the_bins() -> None:
    series = TimeSeries()
    for ms in range(1, 101):  # 1 ... 100 ms
        series.latency("pay", ms / 1000, NOW)
    row = series.document(NOW, WALL, {})["buckets"][-1]["upstreams"]["pay"]
    assert row["attempts"] == 100
    assert row["requests"] == 0  # attempts are not requests
    assert 40 <= row["p50_ms"] <= 60
    assert 95 <= row["p99_ms"] <= 100


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        ([0] * (len(LATENCY_BOUNDS_MS) + 1), 0.5, None),
        ([4] + [0] * len(LATENCY_BOUNDS_MS), 0.5, 0.25),  # all under 0.5 ms: half-way into [0, 0.5]
        ([0] * len(LATENCY_BOUNDS_MS) + [3], 0.99, LATENCY_BOUNDS_MS[-1]),  # the open bin reads as its floor
    ],
)
def test_percentile(counts: list[int], q: float, expected: float | None) -> None:
    assert percentile(counts, q) == expected


def test_breaker_changes_are_kept_with_wall_times() -> None:
    series = TimeSeries()
    series.breaker("pay", "closed", "open", NOW - 2.0)
    series.breaker("pay", "open", "half_open", NOW - 1.5)
    changes = series.document(NOW, WALL, {"pay": "half_open"})["breaker_changes"]
    assert changes == [
        {"t": "2027-01-15T07:59:58.000Z", "upstream": "pay", "old": "closed", "new": "open"},
        {"t": "2027-01-15T07:59:58.500Z", "upstream": "pay", "old": "open", "new": "half_open"},
    ]


def test_the_gateways_metrics_feed_the_ring() -> None:
    clock = FakeClock()
    metrics = GatewayMetrics(clock)
    metrics.request("/pay", "pay", 200, None)
    metrics.request("/pay", "pay", 503, "upstream_outage")
    metrics.success("pay", "GET", 0.004, clock.monotonic())
    document = metrics.timeseries({"pay": "closed"})
    row = document["buckets"][-1]["upstreams"]["pay"]
    assert (row["requests"], row["failures"], row["attempts"]) == (2, 1, 1)
    assert 3 <= row["p50_ms"] <= 5
