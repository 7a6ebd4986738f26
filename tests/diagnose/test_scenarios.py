"""Every built-in simulator scenario, diagnosed end to end on loopback: the right kind first, with evidence
that names the observed fact (the JWT's expiry, the Retry-After value, the certificate's not-after date...)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from upstreamkit.diagnose import ProbeOptions, ProbeRequest, Report, diagnose
from upstreamkit.errors import ErrorKind
from upstreamkit.simulator import Simulator, builtin_scenarios
from upstreamkit.simulator.dns import DNSResponder

Factory = Callable[..., Simulator]
FAST = ProbeOptions(timeout=2.0)
ALL_KINDS = {str(kind) for kind in ErrorKind}


class SteppingClock:
    """Simulator wall clock that moves only when told to (the timeline's phases without waiting)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _run(sim: Simulator, path: str = "/v1/items", **options: object) -> Report:
    request_options = {"timeout": 2.0, **options}
    return diagnose(ProbeRequest(sim.url(path)), ProbeOptions(**request_options))  # type: ignore[arg-type]


def _top(report: Report) -> ErrorKind | None:
    return report.causes[0].kind if report.causes else None


def _evidence(report: Report) -> str:
    return "\n".join(report.causes[0].evidence)


def _well_formed(report: Report) -> None:
    likelihoods = [cause.likelihood for cause in report.causes]
    assert likelihoods == sorted(likelihoods, reverse=True)
    assert all(0 < value <= 1 for value in likelihoods)
    assert {str(cause.kind) for cause in report.causes} <= ALL_KINDS
    for cause in report.causes:
        assert cause.evidence
        assert cause.fix
        assert cause.effort in ("easy", "medium", "hard")


def test_every_builtin_scenario_is_covered_here() -> None:
    covered = {
        "healthy", "expired-token", "invalid-key", "rate-limited", "outage", "flapping", "gateway-timeout", "slow",
        "reset", "tls-expired", "tls-mismatch", "tls-untrusted", "payload-too-large", "payload-field", "body-600",
        "status-600", "incident", "outage-3s", "outage-3s-retry-after",
    }  # fmt: skip
    assert set(builtin_scenarios()) == covered


def test_healthy(simulator_factory: Factory) -> None:
    report = _run(simulator_factory("healthy"))
    assert report.healthy
    assert report.causes == []
    assert [phase.name for phase in report.phases][:4] == ["dns", "tcp", "tls", "http"]
    assert {phase.name: phase.status for phase in report.phases}["http"] == "ok"
    assert report.request_id is not None


def test_expired_token_names_the_jwt_expiry(simulator_factory: Factory) -> None:
    sim = simulator_factory("expired-token")
    token = sim.issue_token("diagnose-test", lifetime=-900)
    expiry = datetime.fromtimestamp(json.loads(_claims(token))["exp"], UTC).strftime("%Y-%m-%dT%H:%M")
    report = diagnose(ProbeRequest(sim.url("/v1/items"), headers=(("Authorization", f"Bearer {token}"),)), FAST)
    _well_formed(report)
    assert _top(report) is ErrorKind.AUTH_EXPIRED
    assert report.causes[0].likelihood > 0.8
    assert expiry in _evidence(report)
    assert "expired" in _evidence(report)


def _claims(token: str) -> str:
    import base64  # noqa: PLC0415 - only here

    payload = token.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def test_invalid_key(simulator_factory: Factory) -> None:
    sim = simulator_factory("invalid-key")
    report = diagnose(ProbeRequest(sim.url("/v1/items"), headers=(("X-Api-Key", "sk_test_not_a_real_key_123"),)), FAST)
    _well_formed(report)
    assert _top(report) is ErrorKind.AUTH_INVALID


def test_rate_limited_names_retry_after_and_quota(simulator_factory: Factory) -> None:
    # A stopped clock: the bucket never refills, so the burst passes it however loaded the machine is.
    report = _run(simulator_factory("rate-limited", clock=lambda: 1_700_000_000.0), repeat=15)
    _well_formed(report)
    assert _top(report) is ErrorKind.RATE_LIMITED
    evidence = _evidence(report)
    assert "Retry-After" in evidence
    assert "0 of 10 left" in evidence


def test_outage_with_the_status_page(simulator_factory: Factory) -> None:
    sim = simulator_factory("outage")
    report = _run(sim, status_page=sim.base_url)
    _well_formed(report)
    assert _top(report) is ErrorKind.UPSTREAM_OUTAGE
    assert "API unavailable" in _evidence(report)  # the open incident on the provider's status page
    # A 503 with Retry-After but no quota headers, the status page red: an outage, not a quota used up.
    assert report.causes[0].likelihood > 0.7


@pytest.mark.parametrize(("scenario", "at", "expected"), [("flapping", 2.5, ErrorKind.UPSTREAM_OUTAGE),
                                                         ("flapping", 0.5, None),
                                                         ("incident", 4.0, ErrorKind.UPSTREAM_OUTAGE),
                                                         ("incident", 10.0, None),
                                                         ("outage-3s", 1.0, None),
                                                         ("outage-3s", 4.0, ErrorKind.UPSTREAM_OUTAGE),
                                                         ("outage-3s", 7.0, None),
                                                         ("outage-3s-retry-after", 4.0, ErrorKind.UPSTREAM_OUTAGE),
                                                         ("outage-3s-retry-after", 7.0, None)])  # fmt: skip
def test_timelines_by_phase(simulator_factory: Factory, scenario: str, at: float, expected: ErrorKind | None) -> None:
    clock = SteppingClock()
    sim = simulator_factory(scenario, clock=clock, seed=3)
    clock.now += at
    report = _run(sim, status_page=sim.base_url)
    assert _top(report) is expected


def test_gateway_timeout(simulator_factory: Factory) -> None:
    report = _run(simulator_factory("gateway-timeout"))
    _well_formed(report)
    assert _top(report) is ErrorKind.HTTP_RESPONSE_TIMEOUT
    waited = re.search(r"504 after (\d+) ms", _evidence(report))
    assert waited is not None
    assert int(waited.group(1)) >= 500  # the gateway gave up after its 0.5 s, not before
    assert report.causes[0].likelihood > 0.8


def test_slow_within_the_timeout_is_healthy_and_past_it_a_timeout(simulator_factory: Factory) -> None:
    sim = simulator_factory("slow", seed=7)
    assert _top(_run(sim, timeout=8.0)) is None
    report = _run(sim, timeout=0.05, repeat=3)
    assert _top(report) is ErrorKind.HTTP_RESPONSE_TIMEOUT


def test_reset(simulator_factory: Factory) -> None:
    report = _run(simulator_factory("reset", seed=2))
    _well_formed(report)
    assert _top(report) in (ErrorKind.CONNECTION_TERMINATED, ErrorKind.HTTP_RESPONSE_INCOMPLETE)


@pytest.mark.parametrize(
    ("scenario", "fact"),
    [("tls-expired", "expired on"), ("tls-mismatch", "upstream.invalid"), ("tls-untrusted", "not trusted")],
)
def test_tls_variants(simulator_factory: Factory, scenario: str, fact: str) -> None:
    sim = simulator_factory(scenario)
    report = _run(sim, cacert=str(sim.ca_file))
    _well_formed(report)
    assert _top(report) is ErrorKind.TLS_CERTIFICATE_ERROR
    assert fact in _evidence(report)
    if scenario == "tls-expired":
        tls = next(phase for phase in report.phases if phase.name == "tls")
        assert str(tls.facts["tls.not_after"])[:10] in _evidence(report)


def test_payload_too_large(simulator_factory: Factory) -> None:
    sim = simulator_factory("payload-too-large")
    body = json.dumps({"blob": "x" * 4000}).encode()
    request = ProbeRequest(sim.url("/v1/items"), "POST", (("Content-Type", "application/json"),), body)
    report = diagnose(request, FAST)
    _well_formed(report)
    assert _top(report) is ErrorKind.PAYLOAD_REJECTED
    assert "413" in _evidence(report)


def test_payload_field_isolated(simulator_factory: Factory) -> None:
    sim = simulator_factory("payload-field")
    body = {
        "amount": 1250, "currency": "EUR", "description": "order 1042",
        "customer": {"name": "Ada", "email": "ada@example.invalid", "country": "NL"},
        "metadata": {"channel": "web", "campaign": "winter"},
    }  # fmt: skip
    request = ProbeRequest(sim.url("/v1/items/1042"), "PUT", (("Content-Type", "application/json"),),
                           json.dumps(body).encode())  # fmt: skip
    report = diagnose(request, ProbeOptions(timeout=2.0, isolate_payload=True))
    _well_formed(report)
    assert _top(report) is ErrorKind.PAYLOAD_REJECTED
    assert "customer.email" in _evidence(report)


@pytest.mark.parametrize("scenario", ["body-600", "status-600"])
def test_600(simulator_factory: Factory, scenario: str) -> None:
    report = _run(simulator_factory(scenario))
    _well_formed(report)
    assert _top(report) is ErrorKind.UPSTREAM_600


def test_a_name_that_does_not_resolve_is_dns_error() -> None:
    with DNSResponder({"api.sim.test": ["127.0.0.1"]}) as responder:
        report = diagnose(
            ProbeRequest("http://api.missing.test/v1/items"),
            ProbeOptions(timeout=2.0, dns_servers=(responder.address,)),
        )
    _well_formed(report)
    assert _top(report) is ErrorKind.DNS_ERROR
    assert "api.missing.test" in _evidence(report)
    assert "NXDOMAIN" in _evidence(report)
    skipped = {phase.name for phase in report.phases if phase.status == "skipped"}
    assert {"tcp", "tls", "http"} <= skipped


def test_a_closed_port_is_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = diagnose(ProbeRequest(f"http://127.0.0.1:{port}/v1/items"), FAST)
    _well_formed(report)
    assert _top(report) is ErrorKind.CONNECTION_REFUSED
    assert str(port) in _evidence(report)
