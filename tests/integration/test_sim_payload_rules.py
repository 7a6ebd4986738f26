"""Payload rules: 413 past the body limit, 400/422 naming the JSON field that a rule matched."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_body_over_the_limit_is_413(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-too-large")
    with httpx.Client() as client:
        small = client.post(sim.url("/v1/upload"), content=b"x" * 1024)
        large = client.post(sim.url("/v1/upload"), content=b"x" * 1025)
    assert small.status_code == 200
    assert large.status_code == 413
    assert "1024" in large.json()["message"]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"customer": {"email": "a@example.invalid"}, "amount": 1}, 422, "customer.email"),
        ({"metadata": {"debug": False}}, 400, "metadata.debug"),
        ({"currency": "XXX"}, 422, "currency"),
    ],
)
def test_a_field_rule_names_the_field(simulator_factory: Any, payload: dict[str, Any], status: int, field: str) -> None:
    sim = simulator_factory("payload-field")
    with httpx.Client() as client:
        response = client.post(sim.url("/v1/payments"), json=payload)
    assert response.status_code == status
    assert response.json()["field"] == field
    assert response.json()["errors"][0]["field"] == field
    assert sim.stats()["side_effects_applied"] == 0


def test_acceptable_payload_passes(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-field")
    with httpx.Client() as client:
        response = client.post(
            sim.url("/v1/payments"), json={"customer": {"email": "a@example.com"}, "currency": "EUR"}
        )
        not_json = client.post(sim.url("/v1/payments"), content=b"{nope")
    assert response.status_code == 201
    assert not_json.status_code == 400
