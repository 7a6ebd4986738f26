"""OpenTelemetryHook: the Prometheus hook's metrics through the OpenTelemetry metrics API, plus span events.

``opentelemetry-api`` is an optional extra (``pip install 'upstreamkit[otel]'``), imported when a hook is
built, never when this module is. Instruments (meter ``upstreamkit``), with the same attributes and the same
low-cardinality, redacted values as the Prometheus labels:

- ``upstreamkit.upstream.attempts``: counter; upstream, method, outcome
- ``upstreamkit.upstream.errors``: counter; upstream, kind, is_600 (a bool)
- ``upstreamkit.upstream.request.duration``: histogram, seconds; upstream, method
- ``upstreamkit.upstream.retries``: counter; upstream, reason
- ``upstreamkit.upstream.giveups``: counter; upstream, kind
- ``upstreamkit.upstream.breaker.state``: observable gauge; upstream (0 closed, 1 half_open, 2 open)
- ``upstreamkit.upstream.breaker.transitions``: counter; upstream, to
- ``upstreamkit.upstream.throttled``: counter, seconds; upstream
- ``upstreamkit.upstream.token_refreshes``: counter; upstream
- ``upstreamkit.upstream.time_to_recover``: histogram, seconds; upstream

When the current span is recording, failed attempts, scheduled retries, give-ups and breaker transitions
are added to it as span events (``upstreamkit.attempt_failed`` ...), with the explanation redacted. The
hook adds events to whatever span the caller's context holds; it creates no spans and needs no tracer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from upstreamkit._version import __version__
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
from upstreamkit.core.redact import redact_text
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
    from opentelemetry.metrics import CallbackOptions, Histogram, Meter, MeterProvider, Observation
    from opentelemetry.util.types import AttributeValue

__all__ = ["OpenTelemetryHook"]

_INSTALL_HINT = "OpenTelemetryHook needs opentelemetry-api: pip install 'upstreamkit[otel]'"


def _histogram(meter: Meter, name: str, unit: str, description: str, buckets: Sequence[float]) -> Histogram:
    try:
        return meter.create_histogram(name, unit, description, explicit_bucket_boundaries_advisory=buckets)
    except TypeError:  # opentelemetry-api before 1.30 has no bucket advisory: the SDK's views decide
        return meter.create_histogram(name, unit, description)


class OpenTelemetryHook:
    """Record every event through the OpenTelemetry metrics API (see the module docstring for instruments).

    Args:
        meter_provider: where the instruments come from; the global one by default.
        span_events: add failures, retries, give-ups and breaker transitions to the current span.
        tracker: the :class:`RecoveryTracker` behind the time-to-recover histogram; a new one by default.
    """

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        *,
        span_events: bool = True,
        tracker: RecoveryTracker | None = None,
    ) -> None:
        try:
            from opentelemetry import metrics, trace  # noqa: PLC0415 - the extra is optional
            from opentelemetry.metrics import Observation  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        self._observation = Observation
        self._get_current_span = trace.get_current_span
        self.span_events = span_events
        self.tracker = tracker if tracker is not None else RecoveryTracker()
        self._breaker_states: dict[str, int] = {}
        self._lock = threading.Lock()
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("upstreamkit", __version__)
        prefix = "upstreamkit.upstream."
        self._attempts = meter.create_counter(
            prefix + "attempts", "{attempt}", "Attempts sent to an upstream, by outcome: ok or the kind of failure."
        )
        self._errors = meter.create_counter(
            prefix + "errors", "{attempt}", "Failed attempts by kind; is_600 when the client saw error 600."
        )
        self._duration = _histogram(
            meter, prefix + "request.duration", "s", "Latency of one attempt, success or failure.", DURATION_BUCKETS
        )
        self._retries = meter.create_counter(prefix + "retries", "{retry}", "Retries scheduled, by cause.")
        self._giveups = meter.create_counter(prefix + "giveups", "{call}", "Logical calls that failed for good.")
        self._transitions = meter.create_counter(
            prefix + "breaker.transitions", "{transition}", "Circuit breaker transitions, by the state entered."
        )
        self._throttled = meter.create_counter(
            prefix + "throttled", "s", "Time requests were held back by a rate limit."
        )
        self._refreshes = meter.create_counter(prefix + "token_refreshes", "{refresh}", "Credential refreshes.")
        self._time_to_recover = _histogram(
            meter,
            prefix + "time_to_recover",
            "s",
            "Incidents: time from the first failed attempt to the next successful one.",
            RECOVERY_BUCKETS,
        )
        meter.create_observable_gauge(
            prefix + "breaker.state",
            [self._observe_breakers],
            "1",
            "Circuit breaker state: 0 closed, 1 half_open, 2 open.",
        )

    def __repr__(self) -> str:
        return f"OpenTelemetryHook(span_events={self.span_events!r})"

    def __call__(self, event: Event) -> None:
        """Record one event."""
        upstream = upstream_label(event.upstream)
        match event:
            case AttemptSucceeded():
                method = method_label(event.method)
                self._attempts.add(1, {"upstream": upstream, "method": method, "outcome": "ok"})
                self._duration.record(event.duration, {"upstream": upstream, "method": method})
                recovery = self.tracker.success(upstream, event.at)
                if recovery is not None:
                    self._time_to_recover.record(recovery.seconds, {"upstream": upstream})
            case AttemptFailed():
                method = method_label(event.method)
                kind = kind_label(event.kind)
                self._attempts.add(1, {"upstream": upstream, "method": method, "outcome": kind})
                self._errors.add(1, {"upstream": upstream, "kind": kind, "is_600": event.is_600})
                self._duration.record(event.duration, {"upstream": upstream, "method": method})
                self.tracker.failure(upstream, event.at, is_600=event.is_600, kind=event.kind)
                self._span_event(
                    "upstreamkit.attempt_failed",
                    upstream=upstream,
                    attempt=event.attempt,
                    kind=kind,
                    status=event.status,
                    is_600=event.is_600,
                    explanation=redact_text(event.explanation),
                )
            case RetryScheduled():
                self._retries.add(1, {"upstream": upstream, "reason": reason_label(event.reason)})
                self._span_event(
                    "upstreamkit.retry_scheduled",
                    upstream=upstream,
                    attempt=event.attempt,
                    delay=event.delay,
                    reason=redact_text(event.reason),
                )
            case GaveUp():
                kind = kind_label(event.kind)
                self._giveups.add(1, {"upstream": upstream, "kind": kind})
                self._span_event(
                    "upstreamkit.gave_up",
                    upstream=upstream,
                    attempts=event.attempts,
                    kind=kind,
                    retry_after=event.retry_after,
                    reason=redact_text(event.reason),
                )
            case BreakerStateChanged():
                to = state_label(event.new)
                self._transitions.add(1, {"upstream": upstream, "to": to})
                if to in BREAKER_STATE_VALUES:
                    with self._lock:
                        self._breaker_states[upstream] = BREAKER_STATE_VALUES[to]
                self._span_event(
                    "upstreamkit.breaker_state_changed",
                    upstream=upstream,
                    old=state_label(event.old),
                    new=to,
                    reason=redact_text(event.reason),
                )
            case Throttled():
                self._throttled.add(max(event.wait, 0.0), {"upstream": upstream})
            case TokenRefreshed():
                self._refreshes.add(1, {"upstream": upstream})
            case AttemptStarted():
                pass  # counted when it ends, with its outcome

    def _span_event(self, name: str, **attributes: AttributeValue | None) -> None:
        if not self.span_events:
            return
        span = self._get_current_span()
        if span.is_recording():
            span.add_event(name, {key: value for key, value in attributes.items() if value is not None})

    def _observe_breakers(self, options: CallbackOptions) -> Iterable[Observation]:
        del options  # no timeout to honour: reading a dict is instant
        with self._lock:
            states = list(self._breaker_states.items())
        return [self._observation(value, {"upstream": upstream}) for upstream, value in states]
