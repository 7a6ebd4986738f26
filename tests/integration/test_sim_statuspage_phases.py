"""The status page and the fault mix follow the scenario timeline; the clock and time scale drive it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def _indicator(client: httpx.Client, sim: Any) -> str:
    document = client.get(sim.url("/api/v2/status.json")).json()
    assert set(document) == {"page", "status"}
    return str(document["status"]["indicator"])


def test_incident_timeline_on_the_injected_clock(simulator_factory: Any, manual_clock: Any) -> None:
    started = manual_clock.now
    sim = simulator_factory("incident", clock=manual_clock, seed=1)
    seen = []
    with httpx.Client() as client:
        for moment in (0.5, 3.5, 6.5, 9.5, 60.0):
            manual_clock.now = started + moment
            summary = client.get(sim.url("/api/v2/summary.json")).json()
            codes = {client.get(sim.url("/v1/items")).status_code for _ in range(20)}
            seen.append((sim.phase.name, _indicator(client, sim), summary, codes))
    phases = [phase for phase, *_ in seen]
    indicators = [indicator for _, indicator, *_ in seen]
    assert phases == ["healthy", "outage", "partial-recovery", "recovered", "recovered"]
    assert indicators == ["none", "critical", "major", "none", "none"]
    healthy_summary, outage_summary = seen[0][2], seen[1][2]
    assert healthy_summary["incidents"] == []
    assert healthy_summary["components"][0]["status"] == "operational"
    assert outage_summary["components"][0]["status"] == "major_outage"
    incident = outage_summary["incidents"][0]
    assert incident["name"] == "Elevated API errors"
    assert incident["status"] == "investigating"
    assert incident["impact"] == "critical"
    assert seen[0][3] == {200}
    assert 503 in seen[1][3]
    assert seen[2][3] <= {200, 503}
    assert seen[3][3] == {200}
    by_phase = sim.stats()["by_phase"]
    assert by_phase["outage"] >= 20


def test_time_scale_shrinks_the_timeline(simulator_factory: Any, manual_clock: Any) -> None:
    sim = simulator_factory("incident", clock=manual_clock, time_scale=0.1)
    manual_clock.advance(0.35)  # 3.5 s of scenario time at a tenth of the scale
    assert sim.phase.name == "outage"


def test_flapping_loops(simulator_factory: Any, manual_clock: Any) -> None:
    sim = simulator_factory("flapping", clock=manual_clock)
    names = []
    for _ in range(5):
        names.append(sim.phase.name)
        manual_clock.advance(2)
    assert names == ["up", "down", "up", "down", "up"]


def test_reset_timeline_restarts_the_phases(simulator_factory: Any, manual_clock: Any) -> None:
    sim = simulator_factory("incident", clock=manual_clock)
    manual_clock.advance(4)
    assert sim.phase.name == "outage"
    sim.reset(timeline=True)
    assert sim.phase.name == "healthy"
