"""Redaction: planted secrets never survive, in any place or any output."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from upstreamkit import fingerprint, make_error, redact_body, redact_headers, redact_json, redact_text, redact_url
from upstreamkit.cli.app import app
from upstreamkit.core.classify import classify

# Real-looking secrets of the formats people leak, each unique so a leak is unambiguous.
JWT_SIG = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
JWT = f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiZXhwIjoxNzAwMDAwMDAwfQ.{JWT_SIG}"
SECRETS = {
    "bearer": "opaqueTokenValue9f8e7d6c5b4a",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "slack": "xoxb-2837462-1928374-AbCdEfGhIjKlMnOpQrSt",
    "openai": "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    "google": "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
    "password": "hunter2-correct-horse",
    "cookie": "s%3Aj9Kq2LmN8pQ.rS7tUvWxYz",
    "apikey": "k3y-9a8b7c6d5e4f3a2b1c",
    "signature": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5",
}
ALL = [*SECRETS.values(), JWT_SIG]


def assert_clean(text: str) -> None:
    for secret in ALL:
        assert secret not in text, f"secret {secret[:6]}… leaked in: {text[:300]}"


def planted_headers() -> list[tuple[str, str]]:
    return [
        ("Authorization", f"Bearer {SECRETS['bearer']}"),
        ("Proxy-Authorization", f"Basic {SECRETS['password']}"),
        ("Cookie", f"session={SECRETS['cookie']}; theme=dark"),
        ("Set-Cookie", f"sid={SECRETS['cookie']}; Path=/; HttpOnly"),
        ("X-Api-Key", SECRETS["apikey"]),
        ("X-Auth-Token", SECRETS["github"]),
        ("X-Client-Secret", SECRETS["stripe"]),
        ("X-Amz-Signature", SECRETS["signature"]),
        ("Ocp-Apim-Subscription-Key", SECRETS["apikey"]),
        ("X-Debug", f"aws={SECRETS['aws']} token {SECRETS['openai']}"),
        ("X-Forwarded-Jwt", JWT),
    ]


def planted_url() -> str:
    return (
        f"https://admin:{SECRETS['password']}@api.example.com/v1/items?page=2&access_token={SECRETS['bearer']}"
        f"&X-Amz-Signature={SECRETS['signature']}&api_key={SECRETS['apikey']}#access_token={SECRETS['github']}"
    )


def planted_json() -> dict[str, object]:
    return {
        "user": "ada",
        "password": SECRETS["password"],
        "client_secret": SECRETS["stripe"],
        "credentials": {"user": "ada", "pin": SECRETS["apikey"]},
        "items": [{"api_key": SECRETS["google"]}, {"note": f"Bearer {SECRETS['bearer']}"}],
        "refresh_token": JWT,
        "webhook": planted_url(),
    }


def planted_text() -> str:
    return (
        f"POST {planted_url()} failed; Authorization: Bearer {SECRETS['bearer']}; jwt={JWT}; "
        f"aws_access_key_id={SECRETS['aws']} github {SECRETS['github_pat']} stripe {SECRETS['stripe']} "
        f"slack {SECRETS['slack']} openai {SECRETS['openai']} google {SECRETS['google']} "
        f'password="{SECRETS["password"]}" {{"api_key": "{SECRETS["apikey"]}"}} '
        f'reason: client_secret={SECRETS["stripe"]} error: "signature={SECRETS["signature"]}"'
    )


def test_headers() -> None:
    redacted = redact_headers(planted_headers())
    assert_clean(str(redacted))
    names = [name for name, _ in redacted]
    assert names == [name for name, _ in planted_headers()]
    assert dict(redacted)["Authorization"] == f"Bearer {fingerprint(SECRETS['bearer'])}"
    assert dict(redacted)["Cookie"].startswith("session=sha256:")
    assert "HttpOnly" in dict(redacted)["Set-Cookie"]


def test_harmless_headers_stay_readable() -> None:
    headers = [
        ("Idempotency-Key", "order-42"),
        ("x-ratelimit-remaining-tokens", "149000"),
        ("WWW-Authenticate", 'Bearer error="invalid_token"'),
        ("Content-Type", "application/json"),
        ("X-Request-Id", "req-123"),
    ]
    assert redact_headers(headers) == headers


def test_url() -> None:
    redacted = redact_url(planted_url())
    assert_clean(redacted)
    assert redacted.startswith("https://admin:sha256:")
    assert "api.example.com/v1/items" in redacted
    assert "page=2" in redacted


def test_json_at_any_depth() -> None:
    redacted = redact_json(planted_json())
    assert_clean(json.dumps(redacted))
    assert redacted["user"] == "ada"
    assert redacted["credentials"]["user"] != "ada"  # everything under a secret key is secret


def test_jwt_keeps_header_and_claims_but_loses_its_signature() -> None:
    redacted = redact_text(f"token {JWT} end")
    header, claims, _ = JWT.split(".")
    assert f"{header}.{claims}.sha256:" in redacted
    assert JWT_SIG not in redacted


def test_free_text() -> None:
    assert_clean(redact_text(planted_text()))


@pytest.mark.parametrize("ctype", ["application/json", "application/x-www-form-urlencoded", "text/plain", None])
def test_bodies(ctype: str | None) -> None:
    if ctype == "application/x-www-form-urlencoded":
        body = f"user=ada&password={SECRETS['password']}&client_secret={SECRETS['stripe']}&note=hi"
    elif ctype == "application/json":
        body = json.dumps(planted_json())
    else:
        body = planted_text()
    assert_clean(redact_body(body.encode(), ctype))


def test_fingerprints_correlate_without_revealing() -> None:
    first = redact_text(f"Bearer {SECRETS['bearer']}")
    second = redact_headers([("Authorization", f"Bearer {SECRETS['bearer']}")])[0][1]
    assert first == second
    assert re.fullmatch(r"sha256:[0-9a-f]{8}", fingerprint(SECRETS["bearer"]))
    assert fingerprint("a") != fingerprint("b")


def test_redaction_is_idempotent() -> None:
    once = redact_text(planted_text())
    assert redact_text(once) == once


def test_errors_and_outcomes_are_redacted() -> None:
    error = make_error("auth_invalid", planted_text(), upstream=planted_url())
    assert_clean(str(error))
    assert_clean(repr(error))
    outcome = classify(401, planted_headers(), json.dumps(planted_json()))
    assert_clean(json.dumps(outcome.to_dict()))
    assert_clean(str(outcome))


def test_explain_output_is_redacted() -> None:
    runner = CliRunner()
    args = ["explain", "--status", "401", "--body", json.dumps(planted_json())]
    for name, value in planted_headers():
        args += ["-H", f"{name}: {value}"]
    for extra in ([], ["--json"]):
        result = runner.invoke(app, args + extra)
        assert result.exit_code == 0, result.output
        assert_clean(result.output)


def test_prose_about_tokens_stays_readable_while_token_credentials_go() -> None:
    # WWW-Authenticate descriptions are evidence: "The access token expired" must survive redaction.
    assert redact_text('error_description="The access token expired"') == 'error_description="The access token expired"'
    assert redact_text("the token expired 5 min ago") == "the token expired 5 min ago"
    assert "abcdef123456" not in redact_text("Authorization: Token abcdef123456")
    assert "dXNlcjpwYXNz" not in redact_text("Basic dXNlcjpwYXNz")
