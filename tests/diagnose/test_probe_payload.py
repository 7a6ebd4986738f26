"""The payload phase: body facts, and payload isolation against the simulator's payload-field scenario."""

from __future__ import annotations

import json
from typing import Any

import pytest

from upstreamkit.diagnose.model import PhaseResult, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import _isolate, http, payload

ORDER = {
    "amount": 1200,
    "currency": "EUR",
    "customer": {"name": "Ada", "email": "ada@example.invalid", "phone": "+44 20 0000"},
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
    "note": "gift wrap",
    "metadata": {"source": "web"},
}
JSON = (("Content-Type", "application/json"),)


def _diagnose(url: str, method: str, document: Any = ORDER, **options: Any) -> tuple[PhaseResult, ProbeContext]:
    request = ProbeRequest(url, method=method, headers=JSON, body=json.dumps(document).encode())
    ctx = ProbeContext(request, ProbeOptions(**options))
    ctx.facts.update(http.probe(ctx).facts)
    return payload.probe(ctx), ctx


def test_body_facts() -> None:
    assert payload.inspect(b'{"a": [1, {"b": 2}], "c": {}}', "application/json") == {
        "payload.size": 29,
        "payload.content_type": "application/json",
        "payload.json_valid": True,
        "payload.json_error": None,
        "payload.fields": 3,
    }
    broken = payload.inspect(b'{"a": 1 "b": 2}', "application/json; charset=utf-8")
    assert broken["payload.json_valid"] is False
    assert broken["payload.json_error"] == "line 1 column 9 (char 8): Expecting ',' delimiter"
    assert payload.inspect(b"a=1&b=2", "application/x-www-form-urlencoded")["payload.json_valid"] is None
    assert payload.inspect(b"\xff{", "application/json")["payload.json_error"] == "not UTF-8 at byte 0"


def test_skipped_without_a_body() -> None:
    result = payload.probe(ProbeContext(ProbeRequest("https://api.example.com/"), ProbeOptions()))
    assert result.status == "skipped"
    assert result.detail == "skipped: no request body"


def test_invalid_json_fails_without_sending() -> None:
    request = ProbeRequest("https://api.example.com/", method="PUT", headers=JSON, body=b'{"a": ')
    ctx = ProbeContext(request, ProbeOptions(isolate_payload=True))
    result = payload.probe(ctx)
    assert result.status == "failed"
    assert "invalid JSON: line 1 column 7" in result.detail
    assert ctx.exchanges == []


@pytest.mark.integration
def test_isolation_finds_the_email_field_within_the_cap(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-field")
    result, ctx = _diagnose(sim.url("/v1/orders"), "PUT", isolate_payload=True, max_isolation_requests=20)
    facts = result.facts
    assert ctx.facts["http.status"] == 422
    assert facts["payload.isolated"] == ["customer.email"]
    assert facts["payload.isolation"] == "done"
    assert facts["payload.isolation_skipped"] is None
    assert 1 <= facts["payload.isolation_requests"] <= 20
    assert sim.stats()["requests"] == 1 + facts["payload.isolation_requests"]
    assert len(ctx.exchanges) == 1 + facts["payload.isolation_requests"]
    assert result.status == "failed"
    assert result.detail.endswith("rejected for customer.email")
    # Said up front, before any request, in the lines and the checklist.
    assert result.lines[0] == "isolation: bisecting 11 fields of the body; it may send up to 20 requests"
    announced = next(i for i, line in enumerate(ctx.log) if "may send up to 20 requests" in line)
    assert not any(line.startswith("http:") for line in ctx.log[announced:])
    assert result.lines[-1] == 'the failure (422) follows customer.email = "ada@example.invalid"'


@pytest.mark.integration
def test_post_is_not_resent_without_allow_unsafe(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-field")
    result, ctx = _diagnose(sim.url("/v1/orders"), "POST", isolate_payload=True)
    assert result.facts["payload.isolation"] == "skipped"
    assert "POST is not idempotent" in result.facts["payload.isolation_skipped"]
    assert result.facts["payload.isolation_requests"] == 0
    assert sim.ledger.stats()["requests"] == 1
    assert len(sim.ledger.entries()) == 1
    assert len(ctx.exchanges) == 1


@pytest.mark.integration
def test_post_with_allow_unsafe_is_isolated(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-field")
    result, _ = _diagnose(sim.url("/v1/orders"), "POST", isolate_payload=True, allow_unsafe=True)
    assert result.facts["payload.isolated"] == ["customer.email"]


@pytest.mark.integration
def test_cap_reached_says_so(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-field")
    result, _ = _diagnose(sim.url("/v1/orders"), "PUT", isolate_payload=True, max_isolation_requests=2)
    facts = result.facts
    assert facts["payload.isolation_requests"] == 2
    assert sim.stats()["requests"] == 3
    assert facts["payload.isolation"] == "incomplete"
    assert facts["payload.isolation_skipped"].startswith("cap reached after 2 requests")
    assert "customer.email" in facts["payload.isolated"]


@pytest.mark.integration
def test_secret_field_values_are_not_shown(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-field")
    document = {"currency": "XXX", "api_token": "tok-planted-secret-99", "amount": 5}
    result, ctx = _diagnose(sim.url("/v1/orders"), "PUT", document, isolate_payload=True)
    assert result.facts["payload.isolated"] == ["currency"]
    assert result.lines[-1] == 'the failure (422) follows currency = "XXX"'
    assert "tok-planted-secret-99" not in f"{result.facts} {result.detail} {result.lines} {ctx.log}"
    # A field the failure follows is shown by value, unless its name is secret.
    shown = payload._shown({"auth": {"api_key": "k-planted-77"}}, ("auth", "api_key"))
    assert shown.startswith('auth.api_key = "sha256:')
    assert "k-planted-77" not in shown


@pytest.mark.integration
def test_not_a_payload_failure_and_too_large(simulator_factory: Any) -> None:
    healthy = simulator_factory("healthy")
    result, _ = _diagnose(healthy.url("/v1/orders"), "PUT", isolate_payload=True)
    assert result.status == "ok"
    assert result.facts["payload.isolation_skipped"] == "the request did not fail with a payload error (400, 413, 422)"

    limited = simulator_factory("payload-too-large")
    big = {"blob": "x" * 2000}
    result, ctx = _diagnose(limited.url("/v1/upload"), "PUT", big)
    assert ctx.facts["http.status"] == 413
    assert result.facts["payload.too_large"] is True
    assert result.status == "failed"
    assert "413" in result.detail


def test_ddmin_finds_a_pair_and_respects_the_budget() -> None:
    fields = [(name,) for name in "abcdefghij"]
    calls: list[list[_isolate.Path]] = []

    def needs_c_and_h(subset: list[_isolate.Path]) -> bool:
        calls.append(subset)
        return ("c",) in subset and ("h",) in subset

    found = _isolate.ddmin(fields, needs_c_and_h, max_tests=100)
    assert found.found == [("c",), ("h",)]
    assert found.complete
    assert found.tests == len(calls) <= _isolate.worst_case_tests(10)
    cut = _isolate.ddmin(fields, needs_c_and_h, max_tests=3)
    assert (cut.tests, cut.complete) == (3, False)
    assert {("c",), ("h",)} <= set(cut.found)
    nothing = _isolate.ddmin(fields, lambda subset: True, max_tests=100)
    assert (nothing.found, nothing.tests) == ([], 1)


def test_keep_only_rebuilds_the_structure() -> None:
    document = {"a": {"b": 1, "c": [10, {"d": 2}]}, "e": 3, "f": {}}
    paths = _isolate.leaves(document)
    assert [_isolate.dotted(path) for path in paths] == ["a.b", "a.c.0", "a.c.1.d", "e", "f"]
    assert _isolate.keep_only(document, {("a", "c", 1, "d")}) == {"a": {"c": [{"d": 2}]}}
    assert _isolate.keep_only(document, set()) == {}
    assert _isolate.keep_only(document, set(paths)) == document
