"""Incidents: runs of buckets whose failure rate stands apart from the log's normal rate.

Pure functions over the per-bucket series (no I/O), so the detection is testable with hand-made series.
The normal rate is the median bucket's; a bucket is failing when its rate is at least ``min_jump`` above
that and at least twice it, with ``min_failures`` failures or more (one failed call in a quiet bucket is not an
incident). Failing buckets separated by at most ``max_gap`` buckets without traffic, or with a normal rate,
are one incident (a flapping upstream is one incident, not ten). An incident needs ``min_size`` failures
in all, and takes the bucket on either side when it fails above the normal rate (an outage's first or last
moments), by a count of failures the normal rate makes unlikely (:data:`EDGE_CHANCE`). The precise start and
end, and the time to recover, are read from the events afterwards.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EDGE_CHANCE", "Bucket", "Span", "failing_spans"]

EDGE_CHANCE = 0.001
"""A bucket beside an incident is the incident's when its failures are this unlikely at the normal rate."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket of the series: its start (epoch seconds), requests and failed requests."""

    t: float
    requests: int
    failures: int

    @property
    def rate(self) -> float | None:
        """Failed requests over requests; None without requests."""
        return self.failures / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class Span:
    """A run of failing buckets: indexes into the series, inclusive."""

    first: int
    last: int
    failures: int
    peak_rate: float


def _baseline(series: Sequence[Bucket]) -> float:
    rates = [rate for bucket in series if (rate := bucket.rate) is not None]
    return statistics.median(rates) if rates else 0.0


def failing_spans(
    series: Sequence[Bucket],
    *,
    min_jump: float = 0.1,
    min_failures: int = 2,
    min_size: int = 5,
    max_gap: int = 1,
) -> list[Span]:
    """The incidents of ``series`` (buckets in time order, empty ones included), oldest first."""
    baseline = _baseline(series)
    threshold = max(baseline + min_jump, 2 * baseline)
    failing = [
        bucket.failures >= min_failures and (bucket.rate or 0.0) >= threshold and bucket.rate is not None
        for bucket in series
    ]
    spans: list[Span] = []
    first = last = -1
    for index, bad in enumerate(failing):
        if not bad:
            continue
        if first >= 0 and index - last - 1 <= max_gap:
            last = index
            continue
        if first >= 0:
            spans.append(_span(series, first, last))
        first = last = index
    if first >= 0:
        spans.append(_span(series, first, last))
    return [_edges(series, span, baseline) for span in spans if span.failures >= min_size]


def _edges(series: Sequence[Bucket], span: Span, baseline: float) -> Span:
    """The span with the bucket just before and just after it when they fail above the normal rate: an
    outage that starts or ends a moment before a bucket's end leaves a few failures there, and they are its."""

    def above(index: int) -> bool:
        if not 0 <= index < len(series):
            return False
        bucket = series[index]
        # more failures than the normal rate makes likely: with a normal rate of 0.3% a bucket of 8,000 requests
        # has ~24 failures, a few more half the time; only an unlikely count is the outage's
        expected = baseline * bucket.requests
        return bucket.failures > 0 and _poisson_tail(bucket.failures, expected) < EDGE_CHANCE

    first = span.first - 1 if above(span.first - 1) else span.first
    last = span.last + 1 if above(span.last + 1) else span.last
    return _span(series, first, last) if (first, last) != (span.first, span.last) else span


def _poisson_tail(count: int, expected: float) -> float:
    """P(X >= count) for X Poisson with mean ``expected``: the chance of so many failures at the normal rate."""
    if expected <= 0.0:
        return 0.0 if count > 0 else 1.0
    # 1 - P(X < count), the terms summed in log space (large means underflow exp(-expected) otherwise)
    log_term, below = -expected, 0.0
    for k in range(count):
        if k:
            log_term += math.log(expected) - math.log(k)
        below += math.exp(log_term)
    return max(0.0, 1.0 - below)


def _span(series: Sequence[Bucket], first: int, last: int) -> Span:
    window = series[first : last + 1]
    return Span(
        first=first,
        last=last,
        failures=sum(bucket.failures for bucket in window),
        peak_rate=max((rate for bucket in window if (rate := bucket.rate) is not None), default=0.0),
    )
