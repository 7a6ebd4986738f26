"""Prometheus rules and a Grafana dashboard over the gateway's ``/metrics``, shipped as package data.

Print them to install them (``upstreamkit gateway`` is one command; these are files, not a mode of it)::

    python -m upstreamkit.gateway.observability rules   > /etc/prometheus/rules/upstreamkit.yml
    python -m upstreamkit.gateway.observability grafana > upstreamkit-dashboard.json   # Grafana: Import
    python -m upstreamkit.gateway.observability path    # the directory that holds both

- ``prometheus-rules.yml``: recording rules (the 600 rate per route and upstream over 1m and 5m, the attempts'
  600 rate, upstream latency p50/p99) and alerts (600 rate high, p99 latency high, breaker open for 5 minutes,
  incident ongoing, slow time-to-recover, gateway down or absent). They assume the scrape job
  ``upstreamkit-gateway`` for the two "gateway" alerts and the default namespace ``upstreamkit``.
- ``grafana-dashboard.json``: a datasource variable, then job, route and upstream; panels for the 600 rate,
  requests by status class and kind, latency, breaker state, time-to-recover and refusals.

Both name only series a real gateway exposes (the test suite checks it against a running one), and the
alerts are unit-tested with ``promtool test rules``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

__all__ = ["DASHBOARD_FILE", "RULES_FILE", "dashboard", "dashboard_text", "directory", "rules_text"]

RULES_FILE = "prometheus-rules.yml"
DASHBOARD_FILE = "grafana-dashboard.json"


def directory() -> Path:
    """Where the files are installed (a real directory: the package is not zipped)."""
    return Path(str(files(__name__)))


def rules_text() -> str:
    """The Prometheus rule file, as shipped (YAML)."""
    return files(__name__).joinpath(RULES_FILE).read_text(encoding="utf-8")


def dashboard_text() -> str:
    """The Grafana dashboard, as shipped (JSON)."""
    return files(__name__).joinpath(DASHBOARD_FILE).read_text(encoding="utf-8")


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard as a document."""
    document: dict[str, Any] = json.loads(dashboard_text())
    return document
