"""``upstreamkit demo`` (the README's main job) end to end: every verdict right, the incident survived, a bundle
written, the gateway's callers given the envelope, and nothing left running."""

from __future__ import annotations

import re
import threading
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from upstreamkit.cli.app import app


def test_the_demo_diagnoses_every_case_survives_the_incident_and_leaves_nothing_running(tmp_path: Path) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    result = CliRunner().invoke(app, ["demo", "--bundle-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    output = result.output
    for kind in ("auth_expired", "auth_invalid", "rate_limited", "upstream_outage", "upstream_600",
                 "http_response_timeout", "tls_certificate_error", "payload_rejected", "dns_error",
                 "connection_refused"):  # fmt: skip
        assert f"{kind} ✓" in output
    assert "healthy ✓" in output
    assert "✗" not in output
    assert "customer.email" in output  # payload isolation found the field
    assert "closed → open" in output
    assert "half_open → closed" in output
    flat = " ".join(output.split())  # rich wraps long lines
    assert re.search(r"duplicated side effects: 0\b", flat)
    (bundle,) = tmp_path.glob("*.zip")
    assert str(bundle) in output.replace("\n", "")
    with zipfile.ZipFile(bundle) as archive:
        assert {"report.md", "report.json"} <= set(archive.namelist())
    # 4. the gateway in front of the incident: callers see the one envelope, /status, the dashboard's address.
    act = flat[flat.index("4. the gateway: one envelope for every upstream failure") :]
    assert "content-type: application/problem+json" in act
    assert re.search(r"proxy-status: upstreamkit;error=[a-z_0-9]+", act)
    assert '"code": 600' in act
    for kind in ("circuit_open", "upstream_600", "destination_not_found"):
        assert re.search(rf"\b(429|502|503|404) │ {kind}\b", act), kind
    assert re.search(r"api: breaker closed, \d+ requests.*last incident recovered in \d+\.\d s", act)
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/dashboard", act)
    assert "python -m upstreamkit.gateway.observability rules|grafana" in act
    left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert left == []


def test_the_gateway_act_takes_a_bounded_time() -> None:
    result = CliRunner().invoke(app, ["demo", "--gateway-seconds", "1"])
    assert result.exit_code == 2
    assert "--gateway-seconds" in result.output
    assert "Traceback" not in result.output
