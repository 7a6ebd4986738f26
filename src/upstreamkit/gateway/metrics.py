"""What the gateway measures, for ``/metrics`` (Prometheus text) and ``/status`` (JSON).

Upstream attempts are the client's events (:mod:`upstreamkit.core.events`), counted by the client's own
:class:`~upstreamkit.telemetry.prometheus.PrometheusHook` into its series, under the same namespace
(``upstreamkit_upstream_attempts_total``, ``..._errors_total``, ``..._request_duration_seconds`` (the upstream
latency histogram), ``..._retries_total``, ``..._giveups_total``, ``..._breaker_state``,
``..._time_to_recover_seconds`` ...), with the upstream's name as the ``upstream`` label. The gateway adds
what only it sees, one sample per request answered:

- ``upstreamkit_gateway_requests_total{route, upstream, status_class, kind}``: counter; ``status_class`` is
  ``2xx`` ... ``5xx`` or ``600``, ``kind`` the envelope's kind or ``none``. The 600 rate of the gateway is
  ``sum(rate(..{kind!="none"}[5m])) / sum(rate(..[5m]))``.
- ``upstreamkit_gateway_config_reloads_total{result}``: counter of SIGHUP reloads, ``ok`` or ``error``.

- ``upstreamkit_gateway_degraded_total{route, upstream, mode, kind}``: counter of failures answered in
  degraded mode (``mode``: ``stale`` or ``fallback``; ``kind``: the failure's); these requests also count in
  ``..._requests_total`` with their kind, so the 600 rate still shows the upstream's trouble.
- ``upstreamkit_gateway_bypassed{route, middleware}``: gauge, 1 while a route's optional middleware is
  bypassed through the admin API, 0 once restored.

Latency is the client's ``..._upstream_request_duration_seconds`` histogram (one sample per attempt); a histogram
of the gateway's own answer time per route was left out: one more observation per request on the hot path.

Incidents and time-to-recover come from the client's :class:`~upstreamkit.telemetry.recovery.RecoveryTracker`
(the hook feeds it, so the histogram and ``/status`` agree). Failures that say nothing of the upstream's health
(a caller's 404, a 401) start no incident.

``/series`` (and the dashboard drawn from it) reads :class:`~upstreamkit.gateway.timeseries.TimeSeries`, the last
minutes per second, fed from the same calls.

``prometheus-client`` is optional (the ``prometheus`` extra): without it ``/metrics`` says so, ``/status`` works.
Each :class:`GatewayMetrics` has its own registry, so two gateways in one process (tests) do not collide.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from upstreamkit.adapters._gate import NOT_HEALTH
from upstreamkit.clock import Clock
from upstreamkit.core.events import AttemptFailed, AttemptSucceeded, BreakerStateChanged, Event
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.accesslog import rfc3339_ms
from upstreamkit.gateway.timeseries import TimeSeries
from upstreamkit.telemetry._shared import (
    BREAKER_STATE_VALUES,
    DURATION_BUCKETS,
    RECOVERY_BUCKETS,
    method_label,
    upstream_label,
)
from upstreamkit.telemetry.recovery import RecoveryTracker

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["GatewayMetrics"]

_WINDOW = 60.0
"""Seconds of requests behind ``/status``'s recent error rates."""
_WINDOW_MAX = 10_000
_CLASSES = {2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx", 6: "600"}


class GatewayMetrics:
    """Counts requests and attempts; renders ``/metrics`` and ``/status``."""

    def __init__(self, clock: Clock, *, namespace: str = "upstreamkit") -> None:
        """Register the series in a registry of this object's own (when prometheus-client is installed)."""
        self._clock = clock
        # A caller's own mistakes (4xx) are not the upstream's incidents; a 429 or a 503 with Retry-After is.
        self.tracker = RecoveryTracker(ignore_kinds=NOT_HEALTH - {ErrorKind.RATE_LIMITED})
        self._recent: dict[str, deque[tuple[float, str | None]]] = {}
        self.series = TimeSeries()
        """The last minutes, per second, for ``/series`` and the dashboard."""
        self.registry: CollectorRegistry | None = None
        self._observe: Callable[[Event], None] = self.tracker
        self._requests: Counter | None = None
        self._reloads: Counter | None = None
        self._degraded: Counter | None = None
        self._bypassed: Gauge | None = None
        # Label children, looked up once per distinct label set: a lookup costs more than the increment.
        self._request_children: dict[tuple[str, str, str, str], Any] = {}
        self._success_children: dict[tuple[str, str], tuple[Any, Any, Any, str]] = {}
        self._client: Any = None
        self._ratio: dict[str, float] = {}
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge  # noqa: PLC0415 - optional extra
        except ImportError:
            return
        from upstreamkit.telemetry.prometheus import PrometheusHook, _metrics  # noqa: PLC0415 - needs the extra

        self.registry = registry = CollectorRegistry()
        hook = PrometheusHook(registry, namespace, tracker=self.tracker)
        self._observe = hook
        # The hook's own series (registered once per registry and namespace), for the success fast path below.
        self._client = _metrics(registry, namespace, DURATION_BUCKETS, RECOVERY_BUCKETS)
        self._requests = Counter(
            "gateway_requests_total",
            "Requests the gateway answered, by route, upstream, status class and the envelope's kind (none: passed).",
            ("route", "upstream", "status_class", "kind"),
            namespace=namespace,
            registry=registry,
        )
        self._reloads = Counter(
            "gateway_config_reloads_total",
            "Config file reloads (SIGHUP), by result: ok, or error (the running config was kept).",
            ("result",),
            namespace=namespace,
            registry=registry,
        )
        for result in ("ok", "error"):
            self._reloads.labels(result)

        self._degraded = Counter(
            "gateway_degraded_total",
            "Upstream failures answered in degraded mode (stale-if-error or a fallback body), by the failure's kind.",
            ("route", "upstream", "mode", "kind"),
            namespace=namespace,
            registry=registry,
        )
        self._bypassed = Gauge(
            "gateway_bypassed",
            "1 while a route's optional middleware is bypassed through the admin API.",
            ("route", "middleware"),
            namespace=namespace,
            registry=registry,
        )

    def reloaded(self, result: str) -> None:
        """One config reload: ``ok``, or ``error`` (the file was refused and the running config kept)."""
        if self._reloads is not None:
            self._reloads.labels(result).inc()

    def observe(self, event: Event) -> None:
        """One event of the policies (attempts, retries, give-ups, breaker transitions).

        A successful attempt, nearly every event, is counted here into the hook's own series with their label
        children cached (the hook looks them up per event: most of its cost); everything else goes to the hook.
        """
        client = self._client
        if client is not None and type(event) is AttemptSucceeded:
            self.success(event.upstream, event.method, event.duration, event.at)
            return
        self._observe(event)
        if type(event) is AttemptFailed or type(event) is AttemptSucceeded:
            self.series.latency(event.upstream, event.duration, event.at)
        elif type(event) is BreakerStateChanged:
            self.series.breaker(event.upstream, event.old, event.new, event.at)
        if client is not None and type(event) is AttemptFailed:
            upstream = upstream_label(event.upstream)
            self._ratio[upstream] = self.tracker.rate_600(upstream) or 0.0

    def success(self, upstream: str, method: str, duration: float, at: float) -> None:
        """A successful attempt (what the hook does with an ``AttemptSucceeded``, without the event)."""
        self.series.latency(upstream, duration, at)
        client = self._client
        if client is None:
            self.tracker.success(upstream, at)
            return
        key = (upstream, method)
        children = self._success_children.get(key)
        if children is None:
            label = upstream_label(upstream)
            children = self._success_children[key] = (
                client.attempts.labels(label, method_label(method), "ok"),
                client.duration.labels(label, method_label(method)),
                client.ratio_600.labels(label),
                label,
            )
        attempts, latency, ratio, label = children
        attempts.inc()
        latency.observe(duration)
        tracker = self.tracker
        recovery = tracker.success(label, at)
        if recovery is not None:
            client.time_to_recover.labels(label).observe(recovery.seconds)
        if self._ratio.get(label, 0.0) > 0.0:  # a success only lowers the ratio: nothing to do at 0
            value = self._ratio[label] = tracker.rate_600(label) or 0.0
            ratio.set(value)

    def breakers(self, states: dict[str, str | None]) -> None:
        """Set the breaker-state gauge of each upstream with a breaker (at start: the hook sets it on changes)."""
        if self._client is None:
            return
        for name, state in states.items():
            if state in BREAKER_STATE_VALUES:
                self._client.breaker_state.labels(upstream_label(name)).set(BREAKER_STATE_VALUES[state])

    def request(self, route: str | None, upstream: str | None, status: int, kind: str | None) -> None:
        """One request answered (``kind``: the envelope's, None when the upstream's answer was passed on; route
        and upstream None when no route took it: labelled ``none``)."""
        now = self._clock.monotonic()
        status_class = _CLASSES.get(status // 100, "other")
        if upstream is not None:
            recent = self._recent.get(upstream)
            if recent is None:
                recent = self._recent[upstream] = deque(maxlen=_WINDOW_MAX)
            recent.append((now, kind))
        route = route or "none"
        upstream = upstream or "none"
        self.series.request(upstream, status_class, kind, now)
        if self._requests is None:
            return
        key = (route, upstream, status_class, kind or "none")
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._requests.labels(*key)
        child.inc()

    def degraded(self, route: str, upstream: str, mode: str, kind: str) -> None:
        """A failure answered with a stale response (``mode`` ``stale``) or the fallback body (``fallback``)."""
        if self._degraded is not None:
            self._degraded.labels(route, upstream_label(upstream), mode, kind).inc()

    def bypassed(self, route: str, middleware: str, on: bool) -> None:
        """A route's middleware bypassed (``on``) or restored."""
        if self._bypassed is not None:
            self._bypassed.labels(route, middleware).set(1 if on else 0)

    def render(self) -> bytes | None:
        """The Prometheus text exposition; None without prometheus-client."""
        if self.registry is None:
            return None
        from prometheus_client import generate_latest  # noqa: PLC0415 - optional extra

        return bytes(generate_latest(self.registry))

    def timeseries(self, breakers: dict[str, str | None]) -> dict[str, Any]:
        """``/series``: the last minutes per second (:class:`~upstreamkit.gateway.timeseries.TimeSeries`)."""
        return self.series.document(self._clock.monotonic(), self._clock.time(), breakers)

    def status(self, breakers: dict[str, str | None]) -> dict[str, Any]:
        """``/status``: per upstream, its breaker, its recent error rate by kind, and its last incident."""
        now, wall = self._clock.monotonic(), self._clock.time()

        def when(at: float) -> str:
            return rfc3339_ms(wall - (now - at))

        upstreams: dict[str, Any] = {}
        for name in sorted(set(breakers) | set(self._recent)):
            recent = [kind for at, kind in self._recent.get(name, ()) if now - at <= _WINDOW]
            by_kind: dict[str, float] = {}
            for kind in recent:
                if kind is not None:
                    by_kind[kind] = by_kind.get(kind, 0) + 1
            total = len(recent)
            errors = sum(by_kind.values())
            tracker = self.tracker
            started = tracker.incident_started(name)
            last = tracker.last_recovery(name)
            upstreams[name] = {
                "breaker": breakers.get(name),
                "recent": {
                    "window_s": _WINDOW,
                    "requests": total,
                    "error_rate": round(errors / total, 4) if total else None,
                    "error_rate_by_kind": {kind: round(n / total, 4) for kind, n in sorted(by_kind.items())},
                },
                "incident": None
                if started is None
                else {"started": when(started), "ongoing_s": round(now - started, 3)},
                "last_incident": None
                if last is None
                else {
                    "started": when(last.started),
                    "recovered": when(last.recovered),
                    "time_to_recover_s": round(last.seconds, 3),
                    "failed_attempts": last.failures,
                },
                "incidents_recovered": tracker.recoveries(name),
            }
        return {"time": rfc3339_ms(wall), "upstreams": upstreams}
