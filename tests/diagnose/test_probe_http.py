"""The http phase against the simulator on loopback: statuses, timings, repeats, skips, TLS, --resolve."""

from __future__ import annotations

import json
from typing import Any

import pytest

from upstreamkit.diagnose.model import PhaseResult, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import http
from upstreamkit.simulator import parse_scenario

pytestmark = pytest.mark.integration


def _run(url: str, **options: Any) -> tuple[PhaseResult, ProbeContext]:
    headers = options.pop("headers", ())
    ctx = ProbeContext(ProbeRequest(url, headers=headers), ProbeOptions(**options))
    return http.probe(ctx), ctx


def test_healthy_endpoint_is_ok_with_timings_and_request_id(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy")
    result, ctx = _run(sim.url("/v1/items"))
    facts = result.facts
    assert result.status == "ok"
    assert facts["http.status"] == 200
    assert facts["http.version"] == "HTTP/1.1"
    assert facts["http.kind"] is None
    assert 0 < facts["http.ttfb_ms"] <= facts["http.total_ms"]
    assert facts["http.size"] == len(ctx.exchanges[0].response_body) > 0
    assert facts["http.request_id"] == "sim-1"
    assert facts["http.server"] == "upstreamkit-simulator"
    assert facts["http.date"].endswith("GMT")
    assert facts["http.statuses"] == [200]
    assert (facts["http.failures"], facts["http.repeats"]) == (0, 1)
    assert result.detail.startswith("HTTP/1.1 200 in ")
    assert "(TTFB " in result.detail
    assert any(line.startswith("X-Request-Id: sim-1") for line in result.lines)
    assert len(ctx.exchanges) == 1
    assert json.loads(ctx.exchanges[0].response_body)["ok"] is True
    assert ctx.log
    assert ctx.log[0].startswith("http: GET ")


@pytest.mark.parametrize(
    ("scenario", "status", "kind", "is_600"),
    [
        ("expired-token", 401, "auth_expired", False),
        ("invalid-key", 401, "auth_invalid", False),
        ("body-600", 200, "upstream_600", True),
        ("status-600", 600, "upstream_600", True),
        ("payload-too-large", 200, None, False),
    ],
)
def test_failures_are_classified(
    simulator_factory: Any, scenario: str, status: int, kind: str | None, is_600: bool
) -> None:
    sim = simulator_factory(scenario)
    result, _ = _run(sim.url("/v1/items"))
    assert result.facts["http.status"] == status
    assert result.facts["http.kind"] == kind
    assert result.facts["http.is_600"] is is_600
    assert result.status == ("ok" if kind is None else "failed")
    if kind is not None:
        assert f": {kind} — " in result.detail
        assert result.facts["http.explanation"] in result.detail


def test_outage_repeats_record_every_status_and_the_retry_after(simulator_factory: Any) -> None:
    sim = simulator_factory("outage", seed=1)
    result, _ = _run(sim.url("/v1/items"), repeat=6)
    facts = result.facts
    assert result.status == "failed"
    assert facts["http.statuses"] == [503, 502, 502, 503, 503, 503]
    assert facts["http.failures"] == facts["http.repeats"] == 6
    # The first failure decides: a 503 with Retry-After, which the classifier reads as load shedding.
    assert facts["http.status"] == 503
    assert facts["http.retry_after"] == 5.0
    assert facts["http.kind"] == "rate_limited"


def test_expired_token_lines_redact_secret_headers(simulator_factory: Any) -> None:
    sim = simulator_factory("expired-token")
    result, ctx = _run(sim.url("/v1/items"), headers=(("Authorization", "Bearer planted-secret-value-123"),))
    assert result.facts["http.kind"] == "auth_expired"
    assert any(line.startswith("WWW-Authenticate: Bearer") for line in result.lines)
    assert "planted-secret-value-123" not in str(result)
    # The exchange stays raw: redaction happens when it leaves (report, bundle).
    assert ("Authorization", "Bearer planted-secret-value-123") in ctx.exchanges[0].request_headers


def test_repeat_sees_the_rate_limit_start(simulator_factory: Any) -> None:
    sim = simulator_factory("rate-limited")
    result, ctx = _run(sim.url("/v1/items"), repeat=15)
    facts = result.facts
    assert facts["http.repeats"] == 15
    assert len(ctx.exchanges) == 15
    assert len(facts["http.statuses"]) == 15
    assert 429 in facts["http.statuses"]
    assert facts["http.statuses"][0] == 200
    # The decisive exchange is the first failure: its facts are the 429's.
    assert facts["http.status"] == 429
    assert facts["http.kind"] == "rate_limited"
    assert facts["http.retry_after"] is not None
    assert facts["http.failures"] == facts["http.statuses"].count(429)
    assert result.status == "failed"
    assert f"{facts['http.failures']} of 15 sends failed" in result.detail


def test_intermittent_failure_is_a_warning_naming_the_failure(simulator_factory: Any) -> None:
    half_down = parse_scenario(
        """
        name = "half-down"
        [[phases]]
        name = "flaky"
        start = 0
        [phases.routes."/v1/*"]
        faults = [{ kind = "outage", p = 0.5, status = 503 }]
        """
    )
    sim = simulator_factory(half_down, seed=3)  # seed 3 draws: fault, ok, fault, ok
    result, _ = _run(sim.url("/v1/items"), repeat=4)
    facts = result.facts
    assert facts["http.statuses"] == [503, 200, 503, 200]
    assert result.status == "warning"
    assert facts["http.failures"] == 2
    assert facts["http.status"] == 503  # the decisive exchange is the first failure
    assert facts["http.kind"] == "upstream_outage"


def test_connection_refused_is_a_transport_error(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy")
    url = sim.url("/v1/items")
    sim.stop()
    result, ctx = _run(url, timeout=2)
    facts = result.facts
    assert result.status == "failed"
    assert facts["http.status"] is None
    assert facts["http.kind"] == facts["http.error_kind"] == "connection_refused"
    assert facts["http.error"].startswith("ConnectError: ")
    assert result.detail.startswith("no response after ")
    assert ctx.exchanges[0].error_kind == "connection_refused"


def test_skips_when_tcp_failed_or_tls_failed_without_insecure(simulator_factory: Any) -> None:
    ctx = ProbeContext(ProbeRequest("http://127.0.0.1:9/x"), ProbeOptions())
    ctx.results["tcp"] = PhaseResult("tcp", "failed", 1.0, "127.0.0.1:9 refused")
    result = http.probe(ctx)
    assert result.status == "skipped"
    assert result.detail == "skipped: TCP failed (127.0.0.1:9 refused)"
    assert ctx.exchanges == []

    sim = simulator_factory("tls-expired")
    tls_failed = PhaseResult("tls", "failed", 1.0, "certificate expired")
    ctx = ProbeContext(ProbeRequest(sim.url("/v1/items")), ProbeOptions())
    ctx.results.update({"tcp": PhaseResult("tcp", "ok", 1.0, "connected"), "tls": tls_failed})
    result = http.probe(ctx)
    assert result.status == "skipped"
    assert result.detail == "skipped: TLS failed (certificate expired); -k sends anyway"

    # -k sends anyway, and the expired certificate does not stop it.
    ctx = ProbeContext(ProbeRequest(sim.url("/v1/items")), ProbeOptions(insecure=True))
    ctx.results["tls"] = tls_failed
    result = http.probe(ctx)
    assert result.status == "ok"
    assert result.facts["http.status"] == 200


def test_tls_variants_with_the_ca_file(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy", tls="valid")
    result, _ = _run(sim.url("/v1/items"), cacert=str(sim.ca_file))
    assert result.status == "ok"
    assert result.facts["http.status"] == 200

    expired = simulator_factory("tls-expired")
    result, _ = _run(expired.url("/v1/items"), cacert=str(expired.ca_file))
    assert result.status == "failed"
    assert result.facts["http.kind"] == "tls_certificate_error"
    assert "certificate has expired" in result.facts["http.error"]


def test_resolve_connects_to_the_address_keeping_host_and_sni(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy", tls="valid")
    # localhost is in the certificate; the URL names it, --resolve sends it to 127.0.0.1.
    url = sim.url("/v1/items").replace("127.0.0.1", "localhost")
    result, ctx = _run(url, cacert=str(sim.ca_file), resolve=(("localhost", sim.port, "127.0.0.1"),))
    assert result.status == "ok"
    assert ("Host", f"localhost:{sim.port}") in ctx.exchanges[0].request_headers
    assert ctx.exchanges[0].url == url


def test_resolve_to_a_dead_address_is_refused_not_resolved(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy")
    url = sim.url("/v1/items").replace("127.0.0.1", "api.invalid")
    dead = simulator_factory("healthy")
    dead_port = dead.port
    dead.stop()
    result, _ = _run(url.replace(str(sim.port), str(dead_port)), resolve=(("api.invalid", dead_port, "127.0.0.1"),))
    assert result.facts["http.kind"] == "connection_refused"


def test_bad_cacert_is_reported_not_raised() -> None:
    result, _ = _run("https://127.0.0.1:9/", cacert="/nonexistent/ca.pem")
    assert result.status == "failed"
    assert "could not set up the client" in result.detail


def test_send_exchange_is_the_shared_sender(simulator_factory: Any) -> None:
    sim = simulator_factory("payload-field")
    options = ProbeOptions()
    body = json.dumps({"customer": {"email": "a@example.invalid"}}).encode()
    request = ProbeRequest(
        sim.url("/v1/orders"),
        method="PUT",
        headers=(("Content-Type", "application/json"), ("Content-Length", "999")),
        body=body,
    )
    with http.make_client(options) as client:
        exchange = http.send_exchange(client, request, options)
    assert exchange.status == 422  # the stale Content-Length was not sent
    assert exchange.request_body == body
    assert http.classify_exchange(exchange).kind == "payload_rejected"
