"""The status_page phase against the simulator's Statuspage documents, and on hand-made ones."""

from __future__ import annotations

from typing import Any

import pytest

from upstreamkit.diagnose.model import PhaseResult, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import status_page


def _probe(page: str | None, timeout: float = 5.0) -> PhaseResult:
    ctx = ProbeContext(ProbeRequest("http://127.0.0.1:9/v1/x"), ProbeOptions(status_page=page, timeout=timeout))
    return status_page.probe(ctx)


def test_skipped_without_a_status_page() -> None:
    result = _probe(None)
    assert result.status == "skipped"
    assert result.detail == "skipped: no --status-page given"


def test_candidate_urls() -> None:
    base = "https://status.example.com"
    assert status_page.candidate_urls(base + "/") == [base + "/api/v2/summary.json", base + "/api/v2/status.json"]
    assert status_page.candidate_urls(base + "/api/v2/summary.json") == [
        base + "/api/v2/summary.json",
        base + "/api/v2/status.json",
    ]
    assert status_page.candidate_urls(base + "/api/v2/status.json") == [base + "/api/v2/status.json"]


@pytest.mark.integration
def test_healthy_page_is_ok(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy")
    result = _probe(sim.base_url)
    assert result.status == "ok"
    assert result.facts["status.indicator"] == "none"
    assert result.facts["status.description"] == "All Systems Operational"
    assert result.facts["status.incidents"] == []
    assert result.facts["status.components_down"] == []
    assert result.facts["status.error"] is None
    assert result.facts["status.url"] == sim.url("/api/v2/summary.json")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("scenario", "indicator", "incident"),
    [
        ("outage", "critical", "API unavailable"),
        ("expired-token", "major", "Authentication failures: access tokens rejected as expired"),
    ],
)
def test_incident_pages_fail_naming_the_incident(
    simulator_factory: Any, scenario: str, indicator: str, incident: str
) -> None:
    sim = simulator_factory(scenario)
    result = _probe(sim.url("/api/v2/summary.json"))
    assert result.status == "failed"
    assert result.facts["status.indicator"] == indicator
    assert result.facts["status.incidents"] == [incident]
    assert result.facts["status.components_down"] == ["API /v1/*: major_outage"]
    assert incident in result.detail
    assert any(line.startswith(f"incident: {incident} (http://") for line in result.lines)


@pytest.mark.integration
def test_status_json_alone_gives_the_indicator(simulator_factory: Any) -> None:
    sim = simulator_factory("outage")
    result = _probe(sim.url("/api/v2/status.json"))
    assert result.status == "failed"
    assert result.facts["status.indicator"] == "critical"
    assert result.facts["status.incidents"] == []


@pytest.mark.integration
def test_unreachable_page_is_skipped_with_the_error(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy")
    base = sim.base_url
    sim.stop()
    result = _probe(base, timeout=2.0)
    assert result.status == "skipped"
    assert "ConnectError" in result.facts["status.error"]
    assert len(result.lines) == 2  # summary.json, then the status.json fallback


def test_read_summary_minor_and_resolved_incidents() -> None:
    document = {
        "status": {"indicator": "minor", "description": "Partially Degraded Service"},
        "incidents": [
            {"name": "Old one", "status": "resolved", "shortlink": "https://stspg.io/1"},
            {"name": "Slow API", "status": "monitoring", "shortlink": "https://stspg.io/2"},
        ],
        "components": [
            {"name": "API", "status": "degraded_performance"},
            {"name": "Group", "status": "partial_outage", "group": True},
            {"name": "Web", "status": "operational"},
        ],
    }
    facts = status_page.read_summary(document)
    assert facts["status.incidents"] == ["Slow API"]
    assert facts["status.incident_links"] == ["https://stspg.io/2"]
    assert facts["status.components_down"] == ["API: degraded_performance"]
    assert status_page.read_summary({"page": {}})["status.error"] == "not a Statuspage document (no status object)"
