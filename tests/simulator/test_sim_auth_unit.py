"""Tokens and keys on a manual clock, without sockets."""

from __future__ import annotations

import base64
import json
from typing import Any

from upstreamkit.simulator import AuthConfig
from upstreamkit.simulator.auth import AuthOutcome, TokenIssuer


def test_jwt_lifecycle(manual_clock: Any) -> None:
    issuer = TokenIssuer(AuthConfig(mode="required", token_lifetime=10), manual_clock)
    token = issuer.issue("sim-client")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == "sim-client"
    assert claims["exp"] == manual_clock.now + 10
    assert issuer.check({"authorization": f"Bearer {token}"}).outcome is AuthOutcome.OK
    manual_clock.advance(10)
    expired = issuer.check({"authorization": f"Bearer {token}"})
    assert expired.outcome is AuthOutcome.EXPIRED
    assert expired.status == 401
    assert expired.challenge is not None
    assert "expired" in expired.challenge
    assert expired.key_fingerprint is not None
    assert expired.key_fingerprint.startswith("sha256:")


def test_other_issuers_tokens_and_keys(manual_clock: Any) -> None:
    issuer = TokenIssuer(AuthConfig(mode="optional"), manual_clock)
    stranger = TokenIssuer(AuthConfig(), manual_clock).issue("x")
    assert issuer.check({"authorization": f"Bearer {stranger}"}).outcome is AuthOutcome.INVALID
    assert issuer.check({"x-api-key": "sim-key-valid"}).allowed
    assert issuer.check({"authorization": "Bearer sim-key-valid"}).allowed
    assert issuer.check({"authorization": "Basic Zm9vOmJhcg=="}).outcome is AuthOutcome.INVALID
    assert issuer.check({}).outcome is AuthOutcome.ANONYMOUS
    assert TokenIssuer(AuthConfig(mode="required"), manual_clock).check({}).outcome is AuthOutcome.MISSING
    assert TokenIssuer(AuthConfig(mode="none"), manual_clock).check({"x-api-key": "bad"}).allowed


def test_token_endpoint(manual_clock: Any) -> None:
    issuer = TokenIssuer(AuthConfig(token_lifetime=30), manual_clock)
    good = issuer.token_endpoint({}, b"grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret")
    assert good.status == 200
    assert json.loads(good.body)["expires_in"] == 30
    basic = "Basic " + base64.b64encode(b"sim-client:sim-secret").decode()
    assert issuer.token_endpoint({"authorization": basic}, b"grant_type=client_credentials").status == 200
    assert issuer.token_endpoint({"authorization": "Basic !!"}, b"grant_type=client_credentials").status == 400
    assert issuer.token_endpoint({}, b"grant_type=client_credentials&client_id=x&client_secret=y").status == 401
    assert issuer.issued == 2
