"""Telemetry hooks: pass them to the resilient client (``hooks=[...]``) to see what it does.

- :class:`LoggingHook`: one structured, redacted log record per event (standard library logging).
- :class:`PrometheusHook`: counters and histograms for attempts, errors (600s included), latency, retries,
  breaker state and time-to-recover. Needs ``pip install 'upstreamkit[prometheus]'``.
- :class:`OpenTelemetryHook`: the same through the OpenTelemetry metrics API, plus span events.
  Needs ``pip install 'upstreamkit[otel]'``.
- :class:`RecoveryTracker`: time-to-recover and the recent 600 rate per upstream, from event times.

Importing this package imports neither prometheus_client nor opentelemetry: each hook imports its library
when it is built, and says which extra to install when the library is missing.
"""

from __future__ import annotations

from upstreamkit.telemetry.logging import LoggingHook
from upstreamkit.telemetry.otel import OpenTelemetryHook
from upstreamkit.telemetry.prometheus import PrometheusHook
from upstreamkit.telemetry.recovery import Recovery, RecoveryTracker

__all__ = ["LoggingHook", "OpenTelemetryHook", "PrometheusHook", "Recovery", "RecoveryTracker"]
