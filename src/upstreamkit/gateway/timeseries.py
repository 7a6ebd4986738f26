"""A bounded ring of per-second samples of the gateway's traffic, behind the admin listener's ``/series``.

``/metrics`` is for a Prometheus that scrapes and keeps history; ``/status`` is the present. The dashboard
needs the last few minutes without either, so the gateway keeps them: one bucket per ``step`` seconds (1 s),
the newest ``size`` (300: five minutes), each holding

- requests answered, by upstream, status class and the envelope's kind (``None``: passed on): the 600 rate is
  the share with a kind, as in :mod:`.metrics`;
- upstream attempt latency, by upstream, as counts in fixed log-spaced bins (p50 and p99 are read from them,
  interpolated inside a bin: a few percent of error for O(1) work per attempt);

and, beside the ring, the last breaker transitions. Memory is bounded by ``size`` times the label sets seen in
a bucket; the hot path adds one dict increment per request and one bisect per attempt.

Times are the gateway clock's monotonic seconds (the events' ``at``); :meth:`TimeSeries.document` maps them to
wall-clock RFC 3339 times at the moment it is read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from upstreamkit.gateway.accesslog import rfc3339_ms

__all__ = ["LATENCY_BOUNDS_MS", "TimeSeries"]

LATENCY_BOUNDS_MS = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
    1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 30_000, 60_000,
)  # fmt: skip
"""Upper bounds of the latency bins, in ms; one more bin holds everything slower."""
_TRANSITIONS = 256


@dataclass(slots=True)
class _Bucket:
    index: int
    requests: dict[tuple[str, str, str | None], int] = field(default_factory=dict)
    latency: dict[str, list[int]] = field(default_factory=dict)


class TimeSeries:
    """The ring: feed it with :meth:`request`, :meth:`latency` and :meth:`breaker`; read :meth:`document`."""

    def __init__(self, *, step: float = 1.0, size: int = 300) -> None:
        if step <= 0 or size < 1:
            raise ValueError(f"step must be > 0 and size >= 1, got step={step}, size={size}")
        self.step = step
        self.size = size
        self._ring: deque[_Bucket] = deque(maxlen=size)
        self._current = _Bucket(-1)
        self._transitions: deque[tuple[float, str, str, str]] = deque(maxlen=_TRANSITIONS)

    def _bucket(self, now: float) -> _Bucket:
        index = int(now // self.step)
        current = self._current
        if index <= current.index:  # the same second, or a late sample from a thread: counted in the newest
            return current
        current = self._current = _Bucket(index)
        self._ring.append(current)
        return current

    def request(self, upstream: str, status_class: str, kind: str | None, now: float) -> None:
        """One request answered at ``now`` (``kind``: the envelope's, None when the upstream's answer passed)."""
        counts = self._bucket(now).requests
        key = (upstream, status_class, kind)
        counts[key] = counts.get(key, 0) + 1

    def latency(self, upstream: str, seconds: float, now: float) -> None:
        """One upstream attempt of ``seconds``, ended at ``now`` (failed attempts too: a timeout is latency)."""
        bins = self._bucket(now).latency
        counts = bins.get(upstream)
        if counts is None:
            counts = bins[upstream] = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        counts[bisect_left(LATENCY_BOUNDS_MS, seconds * 1000.0)] += 1

    def breaker(self, upstream: str, old: str, new: str, now: float) -> None:
        """A breaker's transition (the newest few hundred are kept)."""
        self._transitions.append((now, upstream, old, new))

    def document(self, now: float, wall: float, breakers: dict[str, str | None]) -> dict[str, Any]:
        """``/series``: the ring's buckets from the oldest kept to the current second (empty seconds included),
        the kept breaker transitions, and each upstream's breaker state now."""

        def when(at: float) -> str:
            return rfc3339_ms(wall - (now - at))

        last = int(now // self.step)
        by_index = {bucket.index: bucket for bucket in self._ring}
        first = max(min(by_index, default=last), last - self.size + 1)
        buckets = [_bucket_document(by_index.get(index), when(index * self.step)) for index in range(first, last + 1)]
        return {
            "time": rfc3339_ms(wall),
            "step_s": self.step,
            "size": self.size,
            "latency_bounds_ms": list(LATENCY_BOUNDS_MS),
            "buckets": buckets,
            "breaker_changes": [
                {"t": when(at), "upstream": upstream, "old": old, "new": new}
                for at, upstream, old, new in self._transitions
            ],
            "breakers": dict(sorted(breakers.items())),
        }


def _bucket_document(bucket: _Bucket | None, t: str) -> dict[str, Any]:
    upstreams: dict[str, dict[str, Any]] = {}
    by_class: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    requests = failures = 0
    if bucket is not None:
        for (upstream, status_class, kind), count in bucket.requests.items():
            row = upstreams.setdefault(upstream, {"requests": 0, "failures": 0})
            row["requests"] += count
            requests += count
            by_class[status_class] = by_class.get(status_class, 0) + count
            if kind is not None:
                row["failures"] += count
                failures += count
                by_kind[kind] = by_kind.get(kind, 0) + count
        for upstream, counts in bucket.latency.items():
            row = upstreams.setdefault(upstream, {"requests": 0, "failures": 0})
            row["attempts"] = sum(counts)
            row["p50_ms"] = percentile(counts, 0.50)
            row["p99_ms"] = percentile(counts, 0.99)
    for row in upstreams.values():
        row["rate_600"] = round(row["failures"] / row["requests"], 4) if row["requests"] else None
    return {
        "t": t,
        "requests": requests,
        "failures": failures,
        "rate_600": round(failures / requests, 4) if requests else None,
        "by_class": dict(sorted(by_class.items())),
        "by_kind": dict(sorted(by_kind.items(), key=lambda item: (-item[1], item[0]))),
        "upstreams": dict(sorted(upstreams.items())),
    }


def percentile(counts: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of the samples binned in ``counts`` (bins of :data:`LATENCY_BOUNDS_MS`), in ms,
    interpolated linearly inside its bin; the open last bin reads as its lower bound. None without samples."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low = LATENCY_BOUNDS_MS[index - 1] if index else 0.0
            if index == len(LATENCY_BOUNDS_MS):
                return float(low)
            high = LATENCY_BOUNDS_MS[index]
            return round(low + (high - low) * max(rank - seen, 0.0) / count, 3)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])  # not reached: the loop always finds the bin of rank <= total
