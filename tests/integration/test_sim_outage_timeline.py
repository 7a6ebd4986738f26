"""The outage benchmark's timelines on the wire: healthy, every /v1 call a 503 (with or without Retry-After),
recovered; moved by the injected clock, scaled by time_scale, and written to the ledger by phase."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("name", "retry_after"), [("outage-3s", None), ("outage-3s-retry-after", "1")])
@pytest.mark.parametrize("time_scale", [1.0, 0.1])
def test_healthy_then_every_call_503_then_recovered(
    simulator_factory: Any, manual_clock: Any, name: str, retry_after: str | None, time_scale: float
) -> None:
    started = manual_clock.now
    sim = simulator_factory(name, clock=manual_clock, time_scale=time_scale, seed=3)
    seen: dict[str, list[httpx.Response]] = {}
    with httpx.Client() as client:
        for phase, moment in (("healthy", 0.1), ("outage", 3.1), ("outage", 5.9), ("recovered", 6.1)):
            manual_clock.now = started + moment * time_scale
            assert sim.phase.name == phase
            responses = [client.get(sim.url("/v1/items")) for _ in range(10)]
            responses.append(client.post(sim.url("/v1/payments"), json={"amount": 1}))
            seen.setdefault(phase, []).extend(responses)
        manual_clock.now = started + 12.5 * time_scale
        assert sim.phase.name == "recovered"
        assert client.get(sim.url("/v1/items")).status_code == 200
        assert client.get(sim.url("/health")).status_code == 200
    assert {response.status_code for response in seen["healthy"] + seen["recovered"]} <= {200, 201}
    outage = seen["outage"]
    assert {response.status_code for response in outage} == {503}
    assert {response.headers.get("retry-after") for response in outage} == {retry_after}
    entries = sim.ledger.entries()
    by_phase: dict[str | None, set[int | None]] = {}
    for entry in entries:
        by_phase.setdefault(entry.phase, set()).add(entry.status)
    assert by_phase["outage"] == {503}
    assert 503 not in by_phase["healthy"] | by_phase["recovered"]
    assert sim.stats()["by_phase"] == {"healthy": 11, "outage": 22, "recovered": 13}  # and /health
    # An outage's 503 never reached the handler: no payment was applied during it.
    assert not any(entry.side_effect_applied for entry in entries if entry.phase == "outage")
