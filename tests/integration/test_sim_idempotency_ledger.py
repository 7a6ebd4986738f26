"""Side effects, Idempotency-Key and the ledger: what tests and benchmarks count retries with."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from upstreamkit.simulator import Simulator, parse_scenario

pytestmark = pytest.mark.integration


def test_repeat_with_the_same_key_replays_without_a_new_side_effect(simulator: Simulator) -> None:
    payment = {"amount": 1250, "currency": "EUR"}
    with httpx.Client() as client:
        first = client.post(simulator.url("/v1/payments"), json=payment, headers={"Idempotency-Key": "op-1"})
        again = client.post(simulator.url("/v1/payments"), json=payment, headers={"Idempotency-Key": "op-1"})
        reused = client.post(simulator.url("/v1/payments"), json={"amount": 1}, headers={"Idempotency-Key": "op-1"})
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert reused.status_code == 422
    entries = simulator.ledger.entries()
    assert [entry.side_effect_applied for entry in entries] == [True, False, False]
    assert [entry.idempotent_replay for entry in entries] == [False, True, False]
    stats = simulator.stats()
    assert stats["side_effects_applied"] == 1
    assert stats["idempotent_replays"] == 1
    assert stats["duplicate_side_effects"] == 0
    assert stats["payments"] == 1


def test_retry_without_a_key_duplicates_the_side_effect(simulator: Simulator) -> None:
    headers = {"X-Request-Id": "req-42"}
    with httpx.Client() as client:
        for attempt in (1, 2):
            response = client.post(
                simulator.url("/v1/payments"),
                json={"amount": 5},
                headers={**headers, "X-Upstreamkit-Attempt": str(attempt)},
            )
            assert response.status_code == 201
    entries = simulator.ledger.entries()
    assert [entry.attempt for entry in entries] == [1, 2]
    assert [entry.duplicate_side_effect for entry in entries] == [False, True]
    assert simulator.ledger.attempts_by_request_id() == {"req-42": 2}
    assert simulator.stats()["duplicate_side_effects"] == 1


def test_reset_after_processing_then_a_keyed_retry_is_replayed(simulator_factory: Any) -> None:
    scenario = parse_scenario(
        """
        name = "lost-answer"
        [[phases]]
        name = "only"
        [phases.routes."/v1/payments"]
        faults = [{kind = "reset", at = "body", p = 1.0}]
        """
    )
    sim = simulator_factory(scenario)
    key = {"Idempotency-Key": "op-7", "X-Request-Id": "req-7"}
    with httpx.Client() as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.post(sim.url("/v1/payments"), json={"amount": 9}, headers=key)
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.post(sim.url("/v1/payments"), json={"amount": 9}, headers=key)
    first, second = sim.ledger.entries()
    assert first.side_effect_applied is True  # the upstream did the work; only the answer was lost
    assert second.side_effect_applied is False
    assert second.idempotent_replay is True
    assert sim.stats()["duplicate_side_effects"] == 0
    assert sim.stats()["payments"] == 1


def test_an_outage_before_processing_applies_nothing(simulator_factory: Any) -> None:
    sim = simulator_factory("outage")
    with httpx.Client() as client:
        assert client.post(sim.url("/v1/payments"), json={"amount": 1}).status_code in (502, 503)
    assert sim.stats()["side_effects_applied"] == 0


def test_ledger_json_and_no_secrets(simulator: Simulator) -> None:
    secret = "sim-key-valid"
    with httpx.Client() as client:
        client.get(simulator.url("/v1/items?x=1"), headers={"X-Api-Key": secret, "X-Request-Id": "r-1"})
        client.get(simulator.url("/v1/items"), headers={"X-Attempt": "3"})
        ledger = client.get(simulator.url("/__sim/ledger")).text
        limited = client.get(simulator.url("/__sim/ledger?limit=1")).json()
        since = client.get(simulator.url("/__sim/ledger?since=1")).json()
    assert secret not in ledger
    assert '"key_fingerprint":"sha256:' in ledger
    assert limited["count"] == 1
    assert limited["entries"][0]["attempt"] == 3
    assert [entry["seq"] for entry in since["entries"]] == [2]
    first = simulator.ledger.entries()[0]
    assert (first.method, first.path, first.request_id, first.status) == ("GET", "/v1/items", "r-1", 200)


def test_reset_clears_everything(simulator: Simulator) -> None:
    with httpx.Client() as client:
        client.post(simulator.url("/v1/payments"), json={}, headers={"Idempotency-Key": "k"})
        simulator.reset()
        again = client.post(simulator.url("/v1/payments"), json={}, headers={"Idempotency-Key": "k"})
    assert "idempotent-replayed" not in again.headers
    assert simulator.stats()["requests"] == 1
