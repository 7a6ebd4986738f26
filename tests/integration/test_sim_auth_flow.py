"""OAuth2 client credentials, JWT expiry on the injected clock, and API keys, over loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from upstreamkit.core.redact import fingerprint
from upstreamkit.simulator import parse_scenario

pytestmark = pytest.mark.integration

_REQUIRED = parse_scenario(
    """
    name = "auth"
    [auth]
    mode = "required"
    token_lifetime = 60
    [[phases]]
    name = "only"
    """
)


def test_token_then_call_then_expiry_then_refresh(simulator_factory: Any, manual_clock: Any) -> None:
    sim = simulator_factory(_REQUIRED, clock=manual_clock)
    with httpx.Client() as client:
        grant = client.post(
            sim.url("/oauth/token"),
            data={"grant_type": "client_credentials", "client_id": "sim-client", "client_secret": "sim-secret"},
        )
        assert grant.status_code == 200
        token = grant.json()["access_token"]
        assert grant.json()["token_type"] == "Bearer"
        assert grant.json()["expires_in"] == 60
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get(sim.url("/v1/items"), headers=bearer).status_code == 200

        manual_clock.advance(61)  # no sleeping: the server's clock moved
        expired = client.get(sim.url("/v1/items"), headers=bearer)
        assert expired.status_code == 401
        challenge = expired.headers["www-authenticate"]
        assert challenge == 'Bearer error="invalid_token", error_description="The access token expired"'

        refreshed = client.post(
            sim.url("/oauth/token"),
            data={"grant_type": "client_credentials"},
            auth=("sim-client", "sim-secret"),
        ).json()["access_token"]
        again = client.get(sim.url("/v1/items"), headers={"Authorization": f"Bearer {refreshed}"})
        assert again.status_code == 200
    entries = sim.ledger.entries()
    assert entries[2].key_fingerprint == fingerprint(token)
    assert all(token not in repr(entry) for entry in entries)
    assert sim.stats()["tokens_issued"] == 2


def test_missing_invalid_and_valid_credentials(simulator_factory: Any) -> None:
    sim = simulator_factory(_REQUIRED)
    with httpx.Client() as client:
        missing = client.get(sim.url("/v1/items"))
        bad_key = client.get(sim.url("/v1/items"), headers={"X-Api-Key": "sk-wrong"})
        forged = client.get(sim.url("/v1/items"), headers={"Authorization": "Bearer a.b.c"})
        good_key = client.get(sim.url("/v1/items"), headers={"X-Api-Key": "sim-key-valid"})
        wrong_secret = client.post(
            sim.url("/oauth/token"), data={"grant_type": "client_credentials"}, auth=("sim-client", "nope")
        )
        wrong_grant = client.post(sim.url("/oauth/token"), data={"grant_type": "password"})
    assert missing.status_code == 401
    assert bad_key.status_code == 401
    assert 'error="invalid_token"' in bad_key.headers["www-authenticate"]
    assert forged.status_code == 401
    assert good_key.status_code == 200
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    assert sim.ledger.entries()[1].key_fingerprint == fingerprint("sk-wrong")


def test_token_issued_in_process_expires_on_the_clock(simulator_factory: Any, manual_clock: Any) -> None:
    sim = simulator_factory("healthy", clock=manual_clock)  # optional auth: presented tokens are checked
    token = sim.issue_token(lifetime=5)
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get(sim.url("/v1/items")).status_code == 200
        manual_clock.advance(5)
        assert client.get(sim.url("/v1/items")).status_code == 401


def test_builtin_auth_scenarios(simulator_factory: Any) -> None:
    expired = simulator_factory("expired-token")
    invalid = simulator_factory("invalid-key")
    with httpx.Client() as client:
        first = client.get(expired.url("/v1/items"))
        second = client.get(invalid.url("/v1/items"), headers={"X-Api-Key": "sim-key-valid"})
    assert first.status_code == 401
    assert "expired" in first.headers["www-authenticate"]
    assert second.status_code == 401
    assert "is invalid" in second.headers["www-authenticate"]
