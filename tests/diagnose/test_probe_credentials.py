"""The credentials phase: what the request presents, a JWT's claims against the server's clock, the challenge."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import jwt
import pytest

from upstreamkit.core.redact import fingerprint, redact_text
from upstreamkit.diagnose.model import Exchange, PhaseResult, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import credentials, http

KEY = "a-test-signing-key-of-32-bytes-or-more"  # PyJWT warns (an error here) below 32 bytes
NOW = 1_795_514_700.0  # 2026-11-24T10:05:00Z
URL = "https://api.example.com/v1/orders"


def _token(**claims: Any) -> str:
    return jwt.encode(claims, KEY, algorithm="HS256")


def _response(status: int, date: float | None, *headers: tuple[str, str], started: float = NOW) -> Exchange:
    exchange = Exchange("GET", URL, [], None, status=status, started=started, ttfb_ms=10.0, total_ms=12.0)
    exchange.response_headers = [("Date", formatdate(date, usegmt=True))] if date is not None else []
    exchange.response_headers.extend(headers)
    return exchange


def _everything(result: PhaseResult) -> str:
    return f"{result.facts} {result.detail} {result.lines}"


def test_expired_jwt_names_the_expiry_and_never_the_token() -> None:
    token = _token(exp=int(NOW) - 300, iss="https://login.example.com", aud="orders", scope="orders:read")
    request = ProbeRequest(URL, headers=(("Authorization", f"Bearer {token}"),))
    challenge = 'Bearer realm="api", error="invalid_token", error_description="The access token expired"'
    exchange = _response(401, NOW, ("WWW-Authenticate", challenge))
    facts, _ = credentials.inspect(request, [exchange], now=NOW)
    assert facts["jwt.exp_iso"] == "2026-11-24T10:00:00Z"
    assert facts["jwt.expired"] is True
    assert facts["jwt.expires_in_s"] == -300.0

    ctx = ProbeContext(request, ProbeOptions(), exchanges=[exchange])
    result = credentials.probe(ctx)
    print_ = fingerprint(token)
    assert result.status == "failed"
    assert result.detail.startswith(f"Bearer JWT ({print_}) expired 2026-11-24T10:00:00Z, 5 min ago; ")
    assert "server says invalid_token (" in result.detail
    assert result.facts["cred.present"] is True
    assert result.facts["cred.scheme"] == "Bearer"
    assert result.facts["cred.fingerprint"] == print_
    assert result.facts["jwt.present"] is True
    assert result.facts["jwt.alg"] == "HS256"
    assert result.facts["jwt.iss"] == "https://login.example.com"
    assert result.facts["jwt.aud"] == "orders"
    assert result.facts["jwt.scope"] == "orders:read"
    assert result.facts["www_auth.scheme"] == "Bearer"
    assert result.facts["www_auth.error"] == "invalid_token"
    assert result.facts["www_auth.realm"] == "api"
    assert result.facts["clock.reference"] == "server Date"
    assert any("exp_iso=2026-11-24T10:00:00Z" in line for line in result.lines)
    everything = _everything(result) + " ".join(ctx.log)
    assert token not in everything
    assert token.rsplit(".", 1)[1] not in everything  # not even the signature


def test_expiry_is_judged_against_the_server_date_and_skew_is_measured() -> None:
    # The local clock is 10 minutes fast; the token expires 2 minutes after the server's now.
    token = _token(exp=int(NOW) + 120, nbf=int(NOW) - 60, iat=int(NOW) - 60)
    request = ProbeRequest(URL, headers=(("Authorization", f"bearer {token}"),))
    exchange = _response(200, NOW, started=NOW + 600)
    facts, _ = credentials.inspect(request, [exchange], now=NOW + 600)
    assert facts["clock.skew_s"] == pytest.approx(600, abs=1)
    assert facts["clock.skewed"] is True
    assert facts["jwt.expired"] is False
    assert facts["jwt.expiring_soon"] is True
    assert facts["jwt.expires_in_s"] == 120.0
    assert facts["jwt.nbf_iso"] == "2026-11-24T10:04:00Z"
    assert facts["jwt.iat_iso"] == "2026-11-24T10:04:00Z"
    result = credentials.probe(ProbeContext(request, ProbeOptions(), exchanges=[exchange]))
    assert result.status == "warning"
    assert "expires 2026-11-24T10:07:00Z, in 2 min" in result.detail
    assert "+600 s off the server's Date" in result.detail


def test_without_a_response_the_local_clock_decides() -> None:
    token = _token(exp=int(NOW) + 7200, nbf=int(NOW) + 30)
    facts, lines = credentials.inspect(ProbeRequest(URL, headers=(("X-Api-Key", token),)), [], now=NOW)
    assert facts["clock.reference"] == "local clock"
    assert facts["clock.skew_s"] is None
    assert facts["cred.scheme"] == "header:X-Api-Key"
    assert facts["jwt.not_yet_valid"] is True
    status, detail = credentials._verdict(facts, None, None)
    assert status == "failed"
    assert "not valid before" in detail
    assert "in 30 s" in detail
    assert any(line.startswith("credential: JWT in header X-Api-Key (sha256:") for line in lines)


@pytest.mark.parametrize(
    ("request_", "scheme", "secret"),
    [
        (ProbeRequest(URL, headers=(("Authorization", "Basic dXNlcjpwYXNz"),)), "Basic", "dXNlcjpwYXNz"),
        (ProbeRequest(URL, headers=(("Authorization", "Token abc123"),)), "Token", "abc123"),
        (
            ProbeRequest(URL, headers=(("Ocp-Apim-Subscription-Key", "k-123"),)),
            "header:Ocp-Apim-Subscription-Key",
            "k-123",
        ),
        (ProbeRequest(URL, headers=(("X-Goog-Api-Key", "g-1"), ("Accept", "*/*"))), "header:X-Goog-Api-Key", "g-1"),
        (ProbeRequest(URL + "?page=2&api_key=q-secret"), "query:api_key", "q-secret"),
        (ProbeRequest(URL, headers=(("Proxy-Authorization", "Basic eA=="), ("Idempotency-Key", "i-1"))), None, None),
    ],
)
def test_finds_the_credential_wherever_it_is(request_: ProbeRequest, scheme: str | None, secret: str | None) -> None:
    found = credentials.find_credential(request_)
    assert (found is None) == (scheme is None)
    if found is not None:
        assert found == (scheme, secret)
        ctx = ProbeContext(request_, ProbeOptions())
        result = credentials.probe(ctx)
        assert result.facts["cred.fingerprint"] == fingerprint(secret or "")
        assert result.facts["jwt.present"] is False
        assert (secret or "") not in _everything(result)
        assert result.status == "ok"


def test_no_credentials_with_a_401_fails_and_says_none_were_sent() -> None:
    ctx = ProbeContext(ProbeRequest(URL), ProbeOptions(), exchanges=[_response(401, NOW)])
    result = credentials.probe(ctx)
    assert result.facts["cred.present"] is False
    assert result.status == "failed"
    assert result.detail.startswith("no credentials sent; server answered 401")
    healthy = credentials.probe(ProbeContext(ProbeRequest(URL), ProbeOptions()))
    assert healthy.status == "ok"
    assert healthy.detail == "no credentials sent"


def test_a_403_that_throttles_is_not_blamed_on_credentials() -> None:
    ctx = ProbeContext(ProbeRequest(URL), ProbeOptions(), exchanges=[_response(403, NOW)])
    ctx.facts["http.kind"] = "rate_limited"
    assert credentials.probe(ctx).status == "ok"
    ctx.facts["http.kind"] = "auth_forbidden"
    assert credentials.probe(ctx).status == "failed"


def test_a_token_that_is_not_a_jwt_and_a_broken_jwt() -> None:
    opaque = credentials.probe(
        ProbeContext(ProbeRequest(URL, headers=(("Authorization", "Bearer opaque-1"),)), ProbeOptions())
    )
    assert opaque.detail.startswith("Bearer token (sha256:")
    broken = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOi.sig"
    result = credentials.probe(
        ProbeContext(ProbeRequest(URL, headers=(("Authorization", f"Bearer {broken}"),)), ProbeOptions())
    )
    assert result.facts["jwt.present"] is False
    assert result.facts["jwt.error"].startswith("DecodeError")
    assert "does not decode as a JWT" in result.detail
    assert broken not in _everything(result)


@pytest.mark.integration
def test_against_the_simulator_expired_token(simulator_factory: Any) -> None:
    token = _token(exp=int(time.time()) - 3600, iss="sim", aud="api")
    sim = simulator_factory("expired-token")
    ctx = ProbeContext(
        ProbeRequest(sim.url("/v1/items"), headers=(("Authorization", f"Bearer {token}"),)), ProbeOptions()
    )
    ctx.facts.update(http.probe(ctx).facts)
    result = credentials.probe(ctx)
    assert result.status == "failed"
    assert result.facts["jwt.expired"] is True
    assert result.facts["jwt.expires_in_s"] == pytest.approx(-3600, abs=5)
    assert result.facts["www_auth.error"] == "invalid_token"
    assert result.facts["clock.skewed"] is False
    assert f"expired {result.facts['jwt.exp_iso']}, 60 min ago" in result.detail
    assert result.detail.endswith('; server says invalid_token ("The access token expired")')
    assert redact_text(result.detail) == result.detail  # the report redacts details again: it must read the same
    assert token not in _everything(result) + " ".join(ctx.log)
