"""The tls phase against the simulator's certificate variants: each problem named by the fact observed."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from upstreamkit.diagnose.model import PhaseResult, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import tls as tls_probe
from upstreamkit.diagnose.probes._certs import hostname_matches
from upstreamkit.simulator import Simulator
from upstreamkit.simulator.tls import make_tls_material

pytestmark = pytest.mark.integration


def _ctx(url: str, *, cacert: Path | None = None, insecure: bool = False) -> ProbeContext:
    options = ProbeOptions(timeout=2.0, cacert=str(cacert) if cacert else None, insecure=insecure)
    ctx = ProbeContext(request=ProbeRequest(url), options=options)
    ctx.addresses = ctx.connected = ["127.0.0.1"]  # what the dns and tcp phases found
    return ctx


def _tls_sim(simulator_factory: Any, variant: str) -> Simulator:
    sim: Simulator = simulator_factory("healthy", tls=variant)
    return sim


def test_a_valid_certificate_trusted_through_the_ca_file(simulator_factory: Any) -> None:
    sim = _tls_sim(simulator_factory, "valid")
    ctx = _ctx(sim.url("/v1/items"), cacert=sim.ca_file)
    result = tls_probe.probe(ctx)
    facts = result.facts
    assert result.status == "ok", result.detail
    assert facts["tls.version"] in {"TLSv1.2", "TLSv1.3"}
    assert facts["tls.alpn"] == "http/1.1"  # offered h2 too; the simulator speaks HTTP/1.1 only
    assert facts["tls.subject"] == "CN=localhost,O=upstreamkit simulator"
    assert facts["tls.sans"] == ["localhost", "127.0.0.1", "::1"]
    assert facts["tls.issuer"] == "CN=upstreamkit simulator local CA,O=upstreamkit simulator"
    assert 29 < facts["tls.days_left"] < 31
    assert facts["tls.expired"] is False
    assert facts["tls.not_yet_valid"] is False
    assert facts["tls.hostname_match"] is True
    assert facts["tls.trusted"] is True
    assert facts["tls.self_signed"] is False
    assert facts["tls.verify_error"] is None
    assert isinstance(facts["tls.handshake_ms"], float)
    assert "tls.kind" not in facts
    assert facts["tls.not_after"] in result.detail
    assert "trusted" in result.detail
    assert "SAN 127.0.0.1" in result.lines
    assert ctx.log[-1].startswith("TLS: TLSv1.")
    assert sim.stats()["requests"] == 0  # handshakes only: no HTTP request reached the upstream


def test_a_valid_certificate_without_the_ca_file_is_untrusted(simulator_factory: Any) -> None:
    sim = _tls_sim(simulator_factory, "valid")
    result = tls_probe.probe(_ctx(sim.url("/")))  # certifi's bundle does not hold the simulator's CA
    assert result.status == "failed"
    assert result.facts["tls.trusted"] is False
    assert result.facts["tls.hostname_match"] is True
    assert result.facts["tls.verify_error"] == "unable to get local issuer certificate"
    assert result.facts["tls.kind"] == "tls_certificate_error"
    assert "certificate not trusted (issuer upstreamkit simulator local CA)" in result.detail


def test_an_expired_certificate_names_its_not_after_date(simulator_factory: Any) -> None:
    sim = _tls_sim(simulator_factory, "expired")
    result = tls_probe.probe(_ctx(sim.url("/"), cacert=sim.ca_file))
    facts = result.facts
    assert result.status == "failed"
    assert facts["tls.expired"] is True
    assert -1.1 < facts["tls.days_left"] < -0.9
    assert facts["tls.trusted"] is True  # the chain is fine; only the dates are not
    assert facts["tls.verify_error"] == "certificate has expired"
    assert facts["tls.kind"] == "tls_certificate_error"
    not_after = facts["tls.not_after"]
    assert dt.datetime.strptime(not_after, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC) < dt.datetime.now(dt.UTC)
    assert result.detail == f"certificate expired {not_after} (1 day ago); issuer upstreamkit simulator local CA"


def test_a_not_yet_valid_certificate_names_its_not_before_date(simulator_factory: Any) -> None:
    sim = _tls_sim(simulator_factory, "not-yet-valid")
    result = tls_probe.probe(_ctx(sim.url("/"), cacert=sim.ca_file))
    assert result.status == "failed"
    assert result.facts["tls.not_yet_valid"] is True
    assert result.facts["tls.expired"] is False
    assert result.facts["tls.verify_error"] == "certificate is not yet valid"
    assert f"certificate not valid before {result.facts['tls.not_before']} (in " in result.detail


@pytest.mark.parametrize(("host", "code"), [("127.0.0.1", 64), ("localhost", 62)])
def test_a_hostname_mismatch_names_the_certificate_names(simulator_factory: Any, host: str, code: int) -> None:
    sim = _tls_sim(simulator_factory, "hostname-mismatch")
    result = tls_probe.probe(_ctx(sim.url("/").replace("127.0.0.1", host), cacert=sim.ca_file))
    assert result.status == "failed"
    assert result.facts["tls.hostname_match"] is False
    assert result.facts["tls.sans"] == ["upstream.invalid"]
    assert result.facts["tls.trusted"] is True
    assert result.facts["tls.verify_code"] == code
    assert result.detail == f"hostname mismatch: certificate is for upstream.invalid, not {host}"


def test_a_self_signed_certificate_is_untrusted_and_said_so(simulator_factory: Any) -> None:
    sim = _tls_sim(simulator_factory, "self-signed")
    result = tls_probe.probe(_ctx(sim.url("/"), cacert=sim.ca_file, insecure=True))
    assert result.status == "failed"
    assert result.facts["tls.self_signed"] is True
    assert result.facts["tls.trusted"] is False
    assert result.facts["tls.hostname_match"] is True
    assert result.facts["tls.verify_error"] == "self-signed certificate"
    assert result.facts["tls.insecure"] is True
    assert result.detail == (
        "certificate not trusted (self-signed): self-signed certificate (-k given: HTTP will still be tried)"
    )


def test_a_certificate_close_to_expiry_is_a_warning(simulator_factory: Any) -> None:
    sim = _tls_sim(simulator_factory, "valid")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=25)  # the certificate has 30 days: 5 are left then
    result = tls_probe.probe(_ctx(sim.url("/"), cacert=sim.ca_file), now=later)
    assert result.status == "warning"
    assert result.facts["tls.expiring_soon"] is True
    assert 4.9 < result.facts["tls.days_left"] < 5.1
    assert result.detail.startswith(f"certificate expires {result.facts['tls.not_after']} (5.0 days left), renew it")


def test_plain_http_is_skipped(simulator: Simulator) -> None:
    result = tls_probe.probe(_ctx(simulator.url("/")))
    assert result.status == "skipped"
    assert result.detail == "skipped: not HTTPS"


def test_skipped_after_a_failed_tcp_phase() -> None:
    ctx = _ctx("https://127.0.0.1:1/")
    facts = {"tcp.kind": "connection_refused"}
    ctx.results["tcp"] = PhaseResult("tcp", "failed", 0.1, "no connection: 127.0.0.1:1 refused", facts=facts)
    result = tls_probe.probe(ctx)
    assert result.status == "skipped"
    assert result.detail == "skipped: TCP failed (connection_refused)"


def test_tls_to_a_plain_http_port_is_a_protocol_error(simulator: Simulator) -> None:
    result = tls_probe.probe(_ctx(simulator.url("/").replace("http://", "https://")))
    assert result.status == "failed"
    assert result.facts["tls.kind"] == "tls_protocol_error"
    assert "WRONG_VERSION_NUMBER" in result.facts["tls.error"]
    assert result.detail.startswith(f"handshake with 127.0.0.1:{simulator.port} failed: ")


@pytest.fixture
def client_cert_server(tmp_path: Path) -> Iterator[int]:
    """A TLS 1.2 server that demands a client certificate: it ends the handshake with an alert."""
    material = make_tls_material("valid", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(material.cert_file, material.key_file)
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # in TLS 1.3 the alert would come after the handshake
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(material.ca_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve_one() -> None:
        connection, _ = listener.accept()
        with connection, pytest.raises(ssl.SSLError):
            context.wrap_socket(connection, server_side=True)

    thread = threading.Thread(target=serve_one)
    thread.start()
    yield listener.getsockname()[1]
    thread.join(timeout=5)
    listener.close()


def test_an_alert_during_the_handshake_is_named(client_cert_server: int) -> None:
    result = tls_probe.probe(_ctx(f"https://127.0.0.1:{client_cert_server}/"))
    assert result.status == "failed"
    assert result.facts["tls.kind"] == "tls_alert_received"
    assert result.facts["tls.error"] == "alert received: SSLV3_ALERT_HANDSHAKE_FAILURE"


@pytest.mark.parametrize(
    ("host", "dns_names", "ips", "expected"),
    [
        ("api.example.com", ["api.example.com"], [], True),
        ("API.Example.com.", ["api.example.com"], [], True),
        ("api.example.com", ["*.example.com"], [], True),
        ("example.com", ["*.example.com"], [], False),
        ("a.b.example.com", ["*.example.com"], [], False),
        ("api.com", ["*.com"], [], False),
        ("api.example.com", ["api*.example.com"], [], False),
        ("127.0.0.1", ["127.0.0.1"], [], False),
        ("127.0.0.1", [], ["127.0.0.1"], True),
        ("::1", [], ["0:0:0:0:0:0:0:1"], True),
        ("localhost", [], ["127.0.0.1"], False),
    ],
)
def test_hostname_matching_follows_rfc_6125(host: str, dns_names: list[str], ips: list[str], expected: bool) -> None:
    assert hostname_matches(host, dns_names, ips) is expected
