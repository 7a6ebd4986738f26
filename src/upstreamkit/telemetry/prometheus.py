"""PrometheusHook: upstream attempts, errors (600s included), latency, retries, breakers and time-to-recover.

``prometheus_client`` is an optional extra (``pip install 'upstreamkit[prometheus]'``), imported when a hook
is built, never when this module is. Metric names, with the default namespace ``upstreamkit``:

- ``upstreamkit_upstream_attempts_total{upstream, method, outcome}``: counter, outcome ``ok`` or the kind
- ``upstreamkit_upstream_errors_total{upstream, kind, is_600}``: counter, is_600 ``true`` or ``false``
- ``upstreamkit_upstream_request_duration_seconds{upstream, method}``: histogram, one sample per attempt
- ``upstreamkit_upstream_retries_total{upstream, reason}``: counter, reason = the failed attempt's kind
- ``upstreamkit_upstream_giveups_total{upstream, kind}``: counter
- ``upstreamkit_upstream_breaker_state{upstream}``: gauge, 0 closed, 1 half_open, 2 open
- ``upstreamkit_upstream_breaker_transitions_total{upstream, to}``: counter
- ``upstreamkit_upstream_throttled_seconds_total{upstream}``: counter of seconds held back
- ``upstreamkit_upstream_token_refreshes_total{upstream}``: counter
- ``upstreamkit_upstream_time_to_recover_seconds{upstream}``: histogram, first failure to next success
- ``upstreamkit_upstream_600_ratio{upstream}``: gauge, share of this process's last 100 attempts

The 600 rate over any range is ``sum(rate(..._errors_total{is_600="true"}[5m])) by (upstream) /
sum(rate(..._attempts_total[5m])) by (upstream)``; the ratio gauge is this process's view of its last
attempts, handy on a dashboard without PromQL.

Labels are low-cardinality and redacted (:mod:`upstreamkit.telemetry._shared`): ``upstream`` is
``scheme://host:port`` only, so a path, a query string or userinfo holding a token never becomes a label.

Metrics are registered once per registry and namespace and shared by every hook built on them, so two
transports (or a test building hooks repeatedly) do not collide on prometheus_client's duplicate check.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

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
from upstreamkit.telemetry._shared import (
    BREAKER_STATE_VALUES,
    DURATION_BUCKETS,
    RECOVERY_BUCKETS,
    kind_label,
    method_label,
    reason_label,
    state_label,
    upstream_label,
)
from upstreamkit.telemetry.recovery import RecoveryTracker

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["DURATION_BUCKETS", "RECOVERY_BUCKETS", "PrometheusHook"]

_INSTALL_HINT = "PrometheusHook needs prometheus-client: pip install 'upstreamkit[prometheus]'"


@dataclass(frozen=True, slots=True)
class _Metrics:
    attempts: Counter
    errors: Counter
    duration: Histogram
    retries: Counter
    giveups: Counter
    breaker_state: Gauge
    breaker_transitions: Counter
    throttled_seconds: Counter
    token_refreshes: Counter
    time_to_recover: Histogram
    ratio_600: Gauge
    tracker: RecoveryTracker
    """The tracker shared by hooks that were not given one, as they share the series it feeds."""


class _Common(TypedDict):
    namespace: str
    registry: CollectorRegistry


_registered: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, _Metrics]] = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()


def _metrics(
    registry: CollectorRegistry, namespace: str, duration_buckets: Sequence[float], recovery_buckets: Sequence[float]
) -> _Metrics:
    from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415 - the extra is optional

    with _registered_lock:
        known = _registered.setdefault(registry, {})
        if namespace in known:
            return known[namespace]
        common = _Common(namespace=namespace, registry=registry)
        metrics = _Metrics(
            attempts=Counter(
                "upstream_attempts_total",
                "Attempts sent to an upstream, by outcome: ok or the kind of failure.",
                ("upstream", "method", "outcome"),
                **common,
            ),
            errors=Counter(
                "upstream_errors_total",
                'Failed attempts by kind; is_600="true" when the failure reached the client as error 600.',
                ("upstream", "kind", "is_600"),
                **common,
            ),
            duration=Histogram(
                "upstream_request_duration_seconds",
                "Latency of one attempt, success or failure.",
                ("upstream", "method"),
                buckets=duration_buckets,
                **common,
            ),
            retries=Counter(
                "upstream_retries_total",
                "Retries scheduled, by the kind of the failure that caused them.",
                ("upstream", "reason"),
                **common,
            ),
            giveups=Counter(
                "upstream_giveups_total",
                "Logical calls that failed for good, by the kind of error the caller got.",
                ("upstream", "kind"),
                **common,
            ),
            breaker_state=Gauge(
                "upstream_breaker_state",
                "Circuit breaker state: 0 closed, 1 half_open, 2 open.",
                ("upstream",),
                **common,
            ),
            breaker_transitions=Counter(
                "upstream_breaker_transitions_total",
                "Circuit breaker transitions, by the state entered.",
                ("upstream", "to"),
                **common,
            ),
            throttled_seconds=Counter(
                "upstream_throttled_seconds_total",
                "Time requests were held back by a rate limit (the client's own or the upstream's).",
                ("upstream",),
                **common,
            ),
            token_refreshes=Counter(
                "upstream_token_refreshes_total",
                "Credential refreshes.",
                ("upstream",),
                **common,
            ),
            time_to_recover=Histogram(
                "upstream_time_to_recover_seconds",
                "Incidents: time from the first failed attempt to the next successful one.",
                ("upstream",),
                buckets=recovery_buckets,
                **common,
            ),
            ratio_600=Gauge(
                "upstream_600_ratio",
                "Share of this process's recent attempts that failed as error 600.",
                ("upstream",),
                **common,
            ),
            tracker=RecoveryTracker(),
        )
        known[namespace] = metrics
        return metrics


class PrometheusHook:
    """Count every event into Prometheus metrics (see the module docstring for names and labels).

    Args:
        registry: where the metrics live; ``prometheus_client.REGISTRY`` by default.
        namespace: the prefix of every metric name.
        duration_buckets, recovery_buckets: histogram buckets, used when the metrics are first registered
            in this registry and namespace.
        tracker: the :class:`RecoveryTracker` behind the time-to-recover histogram and the 600 ratio. By
            default, one shared by every hook on the same registry and namespace (they feed the same series).
            Pass one to read the incidents elsewhere too (the outage benchmark does).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        namespace: str = "upstreamkit",
        *,
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        recovery_buckets: Sequence[float] = RECOVERY_BUCKETS,
        tracker: RecoveryTracker | None = None,
    ) -> None:
        try:
            import prometheus_client  # noqa: PLC0415 - the extra is optional
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        self.namespace = namespace
        self._m = _metrics(self.registry, namespace, duration_buckets, recovery_buckets)
        self.tracker = tracker if tracker is not None else self._m.tracker

    def __repr__(self) -> str:
        return f"PrometheusHook(namespace={self.namespace!r})"

    def __call__(self, event: Event) -> None:
        """Count one event."""
        m = self._m
        upstream = upstream_label(event.upstream)
        match event:
            case AttemptSucceeded():
                method = method_label(event.method)
                m.attempts.labels(upstream, method, "ok").inc()
                m.duration.labels(upstream, method).observe(event.duration)
                self._track(upstream, event)
            case AttemptFailed():
                method = method_label(event.method)
                kind = kind_label(event.kind)
                m.attempts.labels(upstream, method, kind).inc()
                m.errors.labels(upstream, kind, "true" if event.is_600 else "false").inc()
                m.duration.labels(upstream, method).observe(event.duration)
                self._track(upstream, event)
            case RetryScheduled():
                m.retries.labels(upstream, reason_label(event.reason)).inc()
            case GaveUp():
                m.giveups.labels(upstream, kind_label(event.kind)).inc()
            case BreakerStateChanged():
                to = state_label(event.new)
                m.breaker_transitions.labels(upstream, to).inc()
                if to in BREAKER_STATE_VALUES:
                    m.breaker_state.labels(upstream).set(BREAKER_STATE_VALUES[to])
            case Throttled():
                m.throttled_seconds.labels(upstream).inc(max(event.wait, 0.0))
            case TokenRefreshed():
                m.token_refreshes.labels(upstream).inc()
            case AttemptStarted():
                pass  # counted when it ends, with its outcome

    def _track(self, upstream: str, event: AttemptSucceeded | AttemptFailed) -> None:
        # The tracker is keyed by the label, so incidents and the 600 ratio agree with the other series.
        if isinstance(event, AttemptSucceeded):
            recovery = self.tracker.success(upstream, event.at)
            if recovery is not None:
                self._m.time_to_recover.labels(upstream).observe(recovery.seconds)
        else:
            self.tracker.failure(upstream, event.at, is_600=event.is_600, kind=event.kind)
        ratio = self.tracker.rate_600(upstream)
        if ratio is not None:
            self._m.ratio_600.labels(upstream).set(ratio)
