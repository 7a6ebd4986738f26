"""The report as JSON, Markdown and rich text; and the secret-planting test over every output, the bundle included."""

from __future__ import annotations

import json
import math
import zipfile
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from upstreamkit.core.redact import fingerprint
from upstreamkit.diagnose.bundle import write_bundle
from upstreamkit.diagnose.model import Cause, Exchange, PhaseResult, Report
from upstreamkit.diagnose.report import (
    BODY_LIMIT,
    render,
    report_to_json,
    report_to_markdown,
)
from upstreamkit.errors import ErrorKind
from upstreamkit.knowledge import kind_info

STARTED = 1718006401.25  # 2024-06-10T08:00:01.250Z
JWT_SIGNATURE = "Pl4nt3dSigK7vQ9xLm2Rt7Yp0aBcDeFgHiJkLmNoPqRsTuVwXyZ_AbCdEfG-hIjK"
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjIwMjQtMDUtazEifQ."
    "eyJzdWIiOiJ1c2VyLTQ4MjEiLCJhdWQiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbSIsImlzcyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlLmNv"
    f"bS8iLCJleHAiOjE3MTgwMDAwMDAsImlhdCI6MTcxNzk5NjQwMCwic2NvcGUiOiJvcmRlcnM6d3JpdGUifQ.{JWT_SIGNATURE}"
)
PLANTED = {
    "aws": "AKIAPL4NT3DEXAMPL777",
    "github": "ghp_Pl4nt3dGitHubT0k3nAbCdEfGh0123456789",
    "stripe": "sk_live_Pl4nt3dStr1peK3y0123456",
    "query": "qk_Pl4nt3dQu3ryK3y",
    "userinfo": "pw-Pl4nt3dUs3rP4ss",
    "password": "hunter2-Pl4nt3dB0dy",
    "card": "tok_Pl4nt3dC4rdT0k3n77",
    "cookie": "ck_Pl4nt3dC00k13v4lue",
    "set_cookie": "sess_Pl4nt3dS3tC00k13",
    "api_key": "xk-Pl4nt3dAp1K3yV4lu3",
    "response_token": "at_Pl4nt3dR3spT0k3n99",
    "fact": "fv_Pl4nt3dF4ctS3cr3t",
}
LEAKS = [*PLANTED.values(), JWT_SIGNATURE]
URL = f"https://bob:{PLANTED['userinfo']}@api.example.com/v1/orders?api_key={PLANTED['query']}&expand=items"


def planted_report() -> Report:
    """A failing diagnosis with planted secrets in every place a secret can hide."""
    request_headers = [
        ("Authorization", f"Bearer {JWT}"),
        ("Cookie", f"session={PLANTED['cookie']}; theme=dark"),
        ("X-Api-Key", PLANTED["api_key"]),
        ("Content-Type", "application/json"),
        ("X-Debug", f"aws={PLANTED['aws']}"),
    ]
    body = json.dumps({"user": "ada", "password": PLANTED["password"], "card": {"token": PLANTED["card"]}}).encode()
    first = Exchange(
        method="POST",
        url=URL,
        request_headers=request_headers,
        request_body=body,
        status=401,
        http_version="HTTP/1.1",
        response_headers=[
            ("Content-Type", "application/json"),
            ("Set-Cookie", f"sid={PLANTED['set_cookie']}; Path=/; HttpOnly"),
            ("WWW-Authenticate", 'Bearer error="invalid_token", error_description="The access token expired"'),
            ("X-Request-Id", "req_01HZX5J9QW"),
            ("Date", "Mon, 10 Jun 2024 08:00:01 GMT"),
        ],
        response_body=json.dumps(
            {"error": "invalid_token", "debug": {"access_token": PLANTED["response_token"], "echo": PLANTED["github"]}}
        ).encode(),
        started=STARTED,
        ttfb_ms=41.26,
        total_ms=43.9,
    )
    second = Exchange(
        method="POST",
        url=URL,
        request_headers=request_headers,
        request_body=body,
        started=STARTED + 0.5,
        total_ms=5.0,
        error=(
            f"ConnectError: proxy said 403 for https://u:{PLANTED['userinfo']}@api.example.com"
            f" token={PLANTED['stripe']}"
        ),
        error_kind=ErrorKind.CONNECTION_REFUSED,
    )
    phases = [
        PhaseResult("dns", "ok", 1.234, "api.example.com → 203.0.113.10", {"dns.addresses": ["203.0.113.10"]}),
        PhaseResult("tls", "warning", 12.0, "certificate expires in 5 days", {"tls.days_left": 5}),
        PhaseResult(
            "http",
            "failed",
            43.9,
            f"401 Unauthorized | sent Authorization: Bearer {PLANTED['github']}",
            {
                "http.status": 401,
                "http.evidence": [f"api_key={PLANTED['query']}", f"leaked {PLANTED['aws']}"],
                "http.request_id": "req_01HZX5J9QW",
            },
            [f"request header X-Api-Key: {PLANTED['api_key']}", f"URL {URL}"],
        ),
        PhaseResult(
            "credentials",
            "failed",
            0.4,
            "bearer JWT expired 1 h ago",
            {
                "credentials.present": True,
                "credentials.scheme": "Bearer",
                "credentials.fingerprint": fingerprint(JWT),
                "credentials.token": PLANTED["fact"],
                "credentials.token_expires_in": -3600,
                "jwt.exp": 1718000000,
                "jwt.claims": {"sub": "user-4821", "client_secret": PLANTED["stripe"]},
            },
            [f"token {JWT}"],
        ),
        PhaseResult("status_page", "skipped", None, "no --status-page given"),
    ]
    causes = [
        Cause(
            ErrorKind.RATE_LIMITED,
            0.1,
            ("no Retry-After",),
            "slow down",
            "medium",
        ),
        Cause(
            ErrorKind.AUTH_EXPIRED,
            0.82,
            (f"JWT exp 2024-06-10T06:13:20Z with key {PLANTED['stripe']}", f"Bearer {JWT}"),
            f"refresh the token (not {PLANTED['github']})",
            "easy",
            more_fixes=((f"rotate {PLANTED['aws']}", "medium"),),
        ),
    ]
    return Report(
        url=URL,
        method="POST",
        started=STARTED,
        phases=phases,
        causes=causes,
        exchanges=[first, second],
        checklist=[f"POST {URL}: 401", f"sent Cookie session={PLANTED['cookie']}"],
        request_id="req_01HZX5J9QW",
        total_ms=123.456,
    )


def terminal_text(report: Report, width: int, **kwargs: Any) -> str:
    console = Console(record=True, width=width, color_system=None)
    render(report, console, **kwargs)
    return console.export_text()


def bundle_texts(report: Report, tmp_path: Path) -> dict[str, str]:
    written = write_bundle(tmp_path / "ticket.zip", report, environment={"note": f"x {PLANTED['github']}"})
    with zipfile.ZipFile(written) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def outputs(tmp_path: Path) -> dict[str, str]:
    report = planted_report()
    texts = {
        "json": json.dumps(report_to_json(report)),
        "markdown": report_to_markdown(report),
        # width 200 as a terminal shows it; a very wide one too, so a secret cannot hide across a line break
        "terminal": terminal_text(report, 200, limit=5),
        "terminal-wide": terminal_text(report, 2000, limit=5),
    }
    texts.update({f"bundle:{name}": text for name, text in bundle_texts(report, tmp_path).items()})
    return texts


def test_no_planted_secret_in_any_output(tmp_path: Path) -> None:
    texts = outputs(tmp_path)
    assert len(texts) == 12
    for where, text in texts.items():
        for secret in LEAKS:
            assert secret not in text, f"{secret[:10]}... leaked in {where}"


def test_fingerprints_appear_for_correlation(tmp_path: Path) -> None:
    texts = outputs(tmp_path)
    everything = "\n".join(texts.values())
    for secret in (JWT, PLANTED["query"], PLANTED["stripe"], PLANTED["cookie"], PLANTED["set_cookie"]):
        assert fingerprint(secret) in everything, secret[:10]
    document = texts["json"]
    assert fingerprint(JWT) in document  # JWT keeps header and claims, loses its signature
    assert JWT.rsplit(".", 1)[0] in document
    assert fingerprint(PLANTED["password"]) in texts["bundle:request.txt"]
    assert fingerprint(PLANTED["card"]) in texts["bundle:request.txt"]
    assert fingerprint(PLANTED["response_token"]) in texts["bundle:response.txt"]
    assert fingerprint(PLANTED["query"]) in texts["terminal"]  # the URL in the phase table title


def test_json_document_shape() -> None:
    document = report_to_json(planted_report())
    json.dumps(document)
    assert {
        "url", "method", "healthy", "phases", "causes", "request_id", "started", "total_ms", "exchanges",
        "checklist", "version",
    } <= set(document)  # fmt: skip
    assert document["url"] == (
        f"https://bob:{fingerprint(PLANTED['userinfo'])}@api.example.com/v1/orders"
        f"?api_key={fingerprint(PLANTED['query'])}&expand=items"
    )
    assert document["healthy"] is False
    assert document["started"] == "2024-06-10T08:00:01.250Z"
    assert document["total_ms"] == 123.5
    assert document["request_id"] == "req_01HZX5J9QW"
    phases = {phase["name"]: phase for phase in document["phases"]}
    assert [phase["ok"] for phase in document["phases"]] == [True, True, False, False, None]
    assert set(phases["dns"]) >= {"name", "ok", "status", "ms", "detail", "facts"}
    assert phases["dns"]["ms"] == 1.2
    assert phases["status_page"]["ms"] is None
    facts = phases["credentials"]["facts"]
    assert facts["credentials.present"] is True
    assert facts["credentials.scheme"] == "Bearer"  # the namespace is not mistaken for a secret name
    assert facts["credentials.fingerprint"] == fingerprint(JWT)  # already a fingerprint: kept, not re-hashed
    assert facts["credentials.token"] == fingerprint(PLANTED["fact"])
    assert facts["credentials.token_expires_in"] == -3600
    assert facts["jwt.claims"] == {"sub": "user-4821", "client_secret": fingerprint(PLANTED["stripe"])}
    assert [cause["kind"] for cause in document["causes"]] == ["auth_expired", "rate_limited"]
    top = document["causes"][0]
    assert top["title"] == kind_info("auth_expired").title
    assert top["likelihood"] == 0.82
    assert top["effort"] == "easy"
    assert isinstance(top["evidence"], list)
    assert top["more_fixes"] == [{"fix": f"rotate {fingerprint(PLANTED['aws'])}", "effort": "medium"}]
    first, second = document["exchanges"]
    assert first["status"] == 401
    assert first["reason"] == "Unauthorized"
    assert first["request_id"] == "req_01HZX5J9QW"
    assert first["ttfb_ms"] == 41.3
    assert ["X-Api-Key", fingerprint(PLANTED["api_key"])] in first["request_headers"]
    assert json.loads(first["request_body"])["card"] == {"token": fingerprint(PLANTED["card"])}
    assert second["status"] is None
    assert second["error_kind"] == "connection_refused"
    assert document["verdict"] == f"{kind_info('auth_expired').title} (auth_expired), likelihood 82%"


class Colour(Enum):
    RED = "red"


def test_facts_that_are_not_json_are_converted() -> None:
    report = Report(
        "https://e.test/",
        "GET",
        STARTED,
        [
            PhaseResult(
                "odd",
                "ok",
                math.nan,
                "x",
                {
                    "odd.bytes": b"\xffab",
                    "odd.tuple": (1, 2),
                    "odd.set": frozenset({3}),
                    "odd.nan": math.inf,
                    "odd.enum": Colour.RED,
                    "odd.object": object,
                    "odd.nested": {1: (b"x",)},
                },
            )
        ],
        [],
        [],
        [],
    )
    document = report_to_json(report)
    text = json.dumps(document, allow_nan=False)
    facts = json.loads(text)["phases"][0]["facts"]
    assert facts["odd.bytes"] == "\ufffdab"
    assert facts["odd.tuple"] == [1, 2]
    assert facts["odd.set"] == [3]
    assert facts["odd.nan"] is None
    assert facts["odd.enum"] == "red"
    assert facts["odd.object"] == "<class 'object'>"
    assert facts["odd.nested"] == {"1": ["x"]}
    assert document["phases"][0]["ms"] is None
    assert document["healthy"] is True
    assert document["causes"] == []
    assert document["request_id"] is None


def test_bodies_are_clipped_after_redaction() -> None:
    big = json.dumps({"password": PLANTED["password"], "items": ["x" * 100] * 2000}).encode()
    huge = b'{"a": "' + b"y" * (2 * 1024 * 1024) + f'", "password": "{PLANTED["password"]}"}}'.encode()
    exchange = Exchange("POST", "https://e.test/", [], big, status=200, response_body=huge)
    document = report_to_json(Report("https://e.test/", "POST", STARTED, [], [], [exchange], []))
    only = document["exchanges"][0]
    assert len(only["request_body"]) == BODY_LIMIT
    assert only["request_body_truncated"] is True
    assert fingerprint(PLANTED["password"]) in only["request_body"]
    assert len(only["response_body"]) == BODY_LIMIT
    assert only["response_body_truncated"] is True
    assert only["response_bytes"] == len(huge)
    assert PLANTED["password"][:8] not in json.dumps(document)


def test_markdown_is_a_ticket() -> None:
    text = report_to_markdown(planted_report())
    assert text.startswith("# upstreamkit diagnose: `POST https://bob:")
    assert "**Verdict: FAILING**" in text
    assert "| phase | result | ms | detail |" in text
    assert "| http | ❌ failed | 44 |" in text
    assert "| status_page | ⏭️ skipped | - | no --status-page given |" in text
    assert "401 Unauthorized \\| sent Authorization" in text  # a pipe in a detail does not break the table
    assert f"### 1. {kind_info('auth_expired').title} (`auth_expired`): 82%" in text
    assert text.index("auth_expired") < text.index("rate_limited")
    assert "**Fix** (easy): refresh the token" in text
    assert "POST https://bob:" in text
    assert "HTTP/1.1 401 Unauthorized" in text
    assert "(no response: ConnectError" in text
    assert "## Checklist (steps taken)" in text
    assert "## What to send to the provider" in text
    assert "- Request id(s): `req_01HZX5J9QW`" in text
    assert "2024-06-10T08:00:01.250Z (POST, status 401)" in text
    assert "WWW-Authenticate: Bearer error=" in text


def test_markdown_fences_survive_backticks_in_bodies() -> None:
    exchange = Exchange("GET", "https://e.test/", [], None, status=500, response_body=b"```\nboom\n```")
    text = report_to_markdown(Report("https://e.test/", "GET", STARTED, [], [], [exchange], []))
    assert "````\nHTTP/1.1 500 Internal Server Error" in text


def test_terminal_report() -> None:
    report = planted_report()
    text = terminal_text(report, 200)
    for word in ("ok", "warning", "FAILED", "skipped"):
        assert word in text
    assert "FAILING: most likely " + kind_info("auth_expired").title in text
    assert "82%" in text
    assert "fix [easy] refresh the token" in text
    assert "what to send to support" in text
    assert "req_01HZX5J9QW" in text
    assert "2024-06-10T08:00:01.250Z" in text
    assert "--bundle ticket.zip" in text
    with_bundle = terminal_text(report, 200, bundle="tickets/x.zip")
    assert "tickets/x.zip (attach it" in with_bundle


def test_terminal_limit_and_markup_is_shown_as_written() -> None:
    report = planted_report()
    report.phases[0].detail = "[bold]not markup[/] [/nope]"
    text = terminal_text(report, 200, limit=1)
    assert "[bold]not markup[/] [/nope]" in text
    assert "1. " in text
    assert "2. " not in text
    assert "and 1 less likely cause(s)" in text


def test_healthy_terminal_and_markdown() -> None:
    report = Report("https://e.test/", "GET", STARTED, [PhaseResult("http", "ok", 3.0, "200 OK")], [], [], ["GET: 200"])
    text = terminal_text(report, 120)
    assert "HEALTHY" in text
    assert "none returned by the server" in text
    markdown = report_to_markdown(report)
    assert "**Verdict: HEALTHY**" in markdown
    assert "None: every phase looks healthy." in markdown


@pytest.mark.parametrize("kind", [ErrorKind.AUTH_EXPIRED, ErrorKind.DNS_ERROR])
def test_cause_titles_come_from_the_knowledge_base(kind: ErrorKind) -> None:
    report = Report("https://e.test/", "GET", STARTED, [], [Cause(kind, 0.5, ("e",), "f", "easy")], [], [])
    assert report_to_json(report)["causes"][0]["title"] == kind_info(kind).title
    titled = Report("https://e.test/", "GET", STARTED, [], [Cause(kind, 0.5, ("e",), "f", "easy", "Own")], [], [])
    assert report_to_json(titled)["causes"][0]["title"] == "Own"
