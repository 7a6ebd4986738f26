"""The body phase: 600 envelopes, error names and messages in the common shapes, HTML pages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from upstreamkit.diagnose.model import Exchange, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import body, http


def _ctx(status: int | None, payload: bytes, content_type: str = "application/json") -> ProbeContext:
    ctx = ProbeContext(ProbeRequest("https://api.example.com/v1/x"), ProbeOptions())
    exchange = Exchange("GET", "https://api.example.com/v1/x", [], None, status=status, response_body=payload)
    exchange.response_headers = [("Content-Type", content_type)]
    ctx.exchanges.append(exchange)
    return ctx


@pytest.mark.parametrize(
    ("document", "envelope", "error"),
    [
        ({"code": 600, "error": "upstream_error", "message": "upstream call failed"}, "code", "upstream_error"),
        ({"error": {"code": 600, "message": "upstream_error"}}, "error.code", None),
        ({"status": 600, "message": "upstream call failed"}, "status", None),
        ({"errorCode": "600", "errorMessage": "upstream call failed"}, "errorCode", "600"),
        ({"success": False, "error": "gateway_timeout"}, "error", "gateway_timeout"),
        ({"errors": [{"code": 600, "message": "x"}]}, "errors[0].code", None),
    ],
)
def test_600_envelopes_say_where_the_600_is(document: dict[str, Any], envelope: str, error: str | None) -> None:
    result = body.probe(_ctx(200, json.dumps(document).encode()))
    assert result.status == "failed"
    assert result.facts["body.is_600"] is True
    assert result.facts["body.envelope"] == envelope
    if error is not None:
        assert result.facts["body.error"] == error
    assert result.detail.startswith(f"error 600 in the body ({envelope})")


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        (
            {"error": "invalid_token", "error_description": "The token is invalid"},
            "invalid_token",
            "The token is invalid",
        ),
        (
            {"error": {"code": "RESOURCE_EXHAUSTED", "message": "Quota exceeded"}},
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
        ),
        ({"message": "Not Found"}, None, "Not Found"),
        (
            {"type": "about:blank", "title": "Bad Request", "detail": "amount must be positive"},
            None,
            "amount must be positive",
        ),
        ({"errors": [{"code": "invalid_field", "message": "email is wrong"}]}, "invalid_field", "email is wrong"),
        (
            {"fault": {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "oauth.v2.InvalidApiKey"}}},
            "oauth.v2.InvalidApiKey",
            "Invalid ApiKey",
        ),
        ({"__type": "ThrottlingException", "Message": "Rate exceeded"}, "ThrottlingException", "Rate exceeded"),
    ],
)
def test_error_shapes_give_name_and_message(document: dict[str, Any], error: str | None, message: str) -> None:
    result = body.probe(_ctx(400, json.dumps(document).encode()))
    assert result.status == "failed"
    assert result.facts["body.json"] is True
    assert result.facts["body.is_600"] is False
    assert result.facts["body.error"] == error
    assert result.facts["body.message"] == message
    assert message in result.detail


def test_success_body_with_ordinary_code_field_is_ok() -> None:
    result = body.probe(_ctx(200, b'{"id": 7, "type": "order", "code": "A-17", "message": "created"}'))
    assert result.status == "ok"
    assert result.facts["body.error"] is None
    assert result.facts["body.is_600"] is False


def test_message_is_redacted_and_clipped() -> None:
    secret = "sk_live_" + "a" * 30
    long_message = f"key {secret} rejected " + "x" * 400
    result = body.probe(_ctx(401, json.dumps({"message": long_message}).encode()))
    message = result.facts["body.message"]
    assert secret not in str(result)
    assert "sha256:" in message
    assert len(message) == 200


def test_html_error_page_gives_its_title() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    result = body.probe(_ctx(502, page, "text/html"))
    assert result.status == "failed"
    assert result.facts["body.html_title"] == "502 Bad Gateway"
    assert result.facts["body.message"] == "502 Bad Gateway"
    assert result.facts["body.reason_kind"] == "upstream_outage"
    assert result.facts["body.json"] is False


def test_json_that_does_not_parse_is_named() -> None:
    result = body.probe(_ctx(200, b'{"items": [1, 2', "application/json"))
    assert result.facts["body.json"] is False
    assert result.facts["body.json_error"].startswith("Expecting")
    assert "does not parse" in result.detail


def test_empty_body_and_no_response() -> None:
    assert body.probe(_ctx(204, b"")).detail == "empty body"
    ctx = ProbeContext(ProbeRequest("https://api.example.com/"), ProbeOptions())
    ctx.exchanges.append(Exchange("GET", "https://api.example.com/", [], None, error="ConnectError: refused"))
    result = body.probe(ctx)
    assert result.status == "skipped"
    assert result.detail == "skipped: no response to read"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("scenario", "facts"),
    [
        ("body-600", {"body.is_600": True, "body.envelope": "code", "body.error": "upstream_error"}),
        ("expired-token", {"body.error": "invalid_token", "body.reason_kind": "auth_expired"}),
        ("rate-limited", {"body.is_600": False, "body.error": None}),
    ],
)
def test_simulator_bodies(simulator_factory: Any, scenario: str, facts: dict[str, Any]) -> None:
    sim = simulator_factory(scenario)
    ctx = ProbeContext(ProbeRequest(sim.url("/v1/items")), ProbeOptions())
    http.probe(ctx)
    result = body.probe(ctx)
    for name, value in facts.items():
        assert result.facts[name] == value, name
    assert result.facts["body.content_type"] == "application/json"
