"""The telemetry package: its public names, and optional backends imported only when a hook is built."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry

import upstreamkit.telemetry
from upstreamkit.core.events import Hook, TokenRefreshed
from upstreamkit.telemetry import LoggingHook, OpenTelemetryHook, PrometheusHook, RecoveryTracker


def test_exported_members() -> None:
    assert set(upstreamkit.telemetry.__all__) == {
        "LoggingHook", "OpenTelemetryHook", "PrometheusHook", "Recovery", "RecoveryTracker",
    }  # fmt: skip
    for name in upstreamkit.telemetry.__all__:
        assert getattr(upstreamkit.telemetry, name).__doc__, name


def test_importing_telemetry_loads_no_backend() -> None:
    code = (
        "import sys, upstreamkit.telemetry\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {'prometheus_client', 'opentelemetry'})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_missing_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'upstreamkit\[prometheus\]'"):
        PrometheusHook()


def test_missing_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'upstreamkit\[otel\]'"):
        OpenTelemetryHook()


def test_every_backend_is_a_hook() -> None:
    # Checked by mypy (tests are type-checked), exercised here: each backend takes any event.
    hooks: list[Hook] = [
        LoggingHook(),
        PrometheusHook(CollectorRegistry()),
        OpenTelemetryHook(),
        RecoveryTracker(),
    ]
    for hook in hooks:
        hook(TokenRefreshed("https://api.example.com:443", "refreshed", "sha256:0123abcd", None, 0.0))
