"""Status page documents and indicators derived from fault mixes."""

from __future__ import annotations

from upstreamkit.simulator import load_scenario, parse_scenario
from upstreamkit.simulator.statuspage import phase_indicator, status_document, summary_document


def _phase(faults: str) -> object:
    scenario = parse_scenario(f'name = "s"\n[[phases]]\nname = "p"\n[phases.routes."/v1/*"]\nfaults = [{faults}]\n')
    return scenario.phases[0]


def test_indicator_follows_the_failure_probability() -> None:
    assert phase_indicator(None) == "none"
    assert phase_indicator(_phase('{kind = "outage", p = 0.1}')) == "minor"  # type: ignore[arg-type]
    assert phase_indicator(_phase('{kind = "outage", p = 0.5}')) == "major"  # type: ignore[arg-type]
    assert phase_indicator(_phase('{kind = "outage", p = 1.0}')) == "critical"  # type: ignore[arg-type]
    assert phase_indicator(_phase('{kind = "latency", p = 1.0}')) == "minor"  # type: ignore[arg-type]
    assert phase_indicator(load_scenario("expired-token").phases[0]) == "major"  # set in the file


def test_documents_have_the_statuspage_shape() -> None:
    scenario = load_scenario("outage")
    phase = scenario.phases[0]
    status = status_document(scenario, phase, base_url="http://127.0.0.1:1", now=1_700_000_000)
    assert status["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert status["page"]["updated_at"].endswith("Z")
    summary = summary_document(scenario, phase, base_url="http://x", now=1_700_000_000, phase_started=1_699_999_000)
    assert {"page", "status", "components", "incidents", "scheduled_maintenances"} <= set(summary)
    assert summary["components"][0]["status"] == "major_outage"
    assert summary["incidents"][0]["name"] == "API unavailable"
    assert summary["incidents"][0]["incident_updates"][0]["status"] == "investigating"
