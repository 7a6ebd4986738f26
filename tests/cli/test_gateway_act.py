"""The demo's gateway act: how it tells the envelope from other answers, and how it reads /status (the act
itself runs in test_demo.py and, for its /metrics, in tests/gateway/test_rules_metrics.py)."""

from __future__ import annotations

import json

import httpx

from upstreamkit.cli.gateway_act import _is_envelope, _recovered, _status_line

ENVELOPE = {"type": "urn:upstreamkit:kind:upstream_outage", "status": 503, "code": 600, "kind": "upstream_outage"}


def _response(body: object, **headers: str) -> httpx.Response:
    return httpx.Response(503, headers=headers, content=json.dumps(body).encode())


def test_only_a_problem_json_with_code_600_and_proxy_status_is_the_envelope() -> None:
    problem = {"content-type": "application/problem+json", "proxy-status": "upstreamkit;error=upstream_outage"}
    assert _is_envelope(_response(ENVELOPE, **problem))
    assert not _is_envelope(_response(ENVELOPE, **{"content-type": "application/problem+json"}))
    assert not _is_envelope(_response(ENVELOPE, **{**problem, "content-type": "application/json"}))
    assert not _is_envelope(_response({**ENVELOPE, "code": 503}, **problem))
    assert not _is_envelope(_response(["not", "an", "object"], **problem))
    assert not _is_envelope(httpx.Response(503, headers=problem, content=b"<html>Service Unavailable</html>"))


def test_the_status_line_says_breaker_error_rate_and_incidents() -> None:
    upstream = {
        "breaker": "closed",
        "recent": {
            "requests": 200,
            "error_rate": 0.25,
            "error_rate_by_kind": {"circuit_open": 0.2, "rate_limited": 0.05},
        },
        "incident": None,
        "last_incident": {"time_to_recover_s": 2.04},
    }
    assert _status_line("api", upstream) == (
        "api: breaker closed, 200 requests, error rate 25% (circuit_open 20%, rate_limited 5%); "
        "last incident recovered in 2.0 s"
    )
    assert _recovered({"upstreams": {"api": upstream}})
    ongoing = {**upstream, "incident": {"ongoing_s": 1.5}}
    assert _status_line("api", ongoing).endswith("; incident ongoing for 1.5 s")
    assert not _recovered({"upstreams": {"api": ongoing}})
    assert not _recovered({"upstreams": {"api": {**upstream, "last_incident": None}}})
    quiet = {"breaker": None, "recent": {"requests": 0, "error_rate": None, "error_rate_by_kind": {}}}
    assert _status_line("idle", quiet) == "idle: no breaker, 0 requests"
