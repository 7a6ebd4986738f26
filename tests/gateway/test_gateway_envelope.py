"""Every upstream failure, through a real gateway in front of the simulator, answered with the one envelope."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import dns.asyncresolver
import dns.resolver
import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario

from upstreamkit.core.classify import classify
from upstreamkit.core.headers import parse_proxy_status
from upstreamkit.errors import ErrorKind
from upstreamkit.simulator import DNSResponder, Simulator

pytestmark = pytest.mark.integration

ENVELOPE_FIELDS = {
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "code",
    "error",
    "kind",
    "request_id",
    "upstream",
    "upstream_status",
    "retry_after",
}


def _check_envelope(response: httpx.Response, *, status: int, kind: str, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == ENVELOPE_FIELDS
    assert body["code"] == 600
    assert body["kind"] == kind
    assert body["error"] == error
    assert body["status"] == status
    assert body["type"] == f"urn:upstreamkit:kind:{kind}"
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    (entry,) = parse_proxy_status(response.headers["proxy-status"])
    assert entry.proxy == "upstreamkit"
    assert entry.error == kind
    assert entry.details
    return dict(body)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused(gateway_factory: Callable[..., RunningGateway]) -> None:
    gw = gateway_factory(f"/pay=http://127.0.0.1:{_closed_port()}/v1")
    response = httpx.get(gw.url("/pay/orders"))
    body = _check_envelope(response, status=502, kind="connection_refused", error="upstream_error")
    assert body["upstream"] == "pay"
    assert body["upstream_status"] is None
    assert body["retry_after"] is None
    assert body["instance"] == "/pay/orders"
    assert "retry-after" not in response.headers
    assert "127.0.0.1" not in response.text  # no internal address in what the caller sees


def test_timeout_is_504(gateway_factory: Callable[..., RunningGateway], simulator_factory: Any) -> None:
    sim = simulator_factory(fault_scenario('{ kind = "hang" }'))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", timeout=0.3)
    response = httpx.get(gw.url("/pay/orders"))
    _check_envelope(response, status=504, kind="http_response_timeout", error="gateway_timeout")


@pytest.mark.parametrize(
    ("fault", "status", "kind", "error", "upstream_status"),
    [
        ('{ kind = "reset" }', 502, "connection_terminated", "upstream_error", None),
        ('{ kind = "close" }', 502, "connection_terminated", "upstream_error", None),
        ('{ kind = "truncate" }', 502, "http_response_incomplete", "upstream_error", None),
        ('{ kind = "outage", status = 502 }', 503, "upstream_outage", "upstream_unavailable", 502),
        ('{ kind = "status", status = 500 }', 503, "upstream_outage", "upstream_unavailable", 500),
        ('{ kind = "gateway_timeout" }', 504, "http_response_timeout", "gateway_timeout", 504),
        ('{ kind = "status_600" }', 502, "upstream_600", "upstream_error", 600),
        ('{ kind = "body_600" }', 502, "upstream_600", "upstream_error", 200),
        ('{ kind = "body_600", shape = "nested" }', 502, "upstream_600", "upstream_error", 200),
    ],
)
def test_upstream_failures(
    gateway_factory: Callable[..., RunningGateway],
    simulator_factory: Any,
    fault: str,
    status: int,
    kind: str,
    error: str,
    upstream_status: int | None,
) -> None:
    sim = simulator_factory(fault_scenario(fault))
    gw = gateway_factory(f"/pay={sim.base_url}/v1")
    response = httpx.get(gw.url("/pay/orders"))
    body = _check_envelope(response, status=status, kind=kind, error=error)
    assert body["upstream_status"] == upstream_status
    if upstream_status is not None:
        (entry,) = parse_proxy_status(response.headers["proxy-status"])
        assert entry.received_status == upstream_status


@pytest.mark.parametrize(
    ("fault", "header", "upstream_status"),
    [
        ('{ kind = "rate_limited", retry_after = 2.5 }', "3", 429),  # rounded up: never invite an early retry
        ('{ kind = "outage", status = 503, retry_after = 7 }', "7", 503),  # a 503 with Retry-After sheds load
    ],
)
def test_rate_limited_carries_retry_after(
    gateway_factory: Callable[..., RunningGateway],
    simulator_factory: Any,
    fault: str,
    header: str,
    upstream_status: int,
) -> None:
    sim = simulator_factory(fault_scenario(fault))
    gw = gateway_factory(f"/pay={sim.base_url}/v1")
    response = httpx.get(gw.url("/pay/orders"))
    # Load shedding (an upstream 503) stays 503; a quota (an upstream 429) is 429.
    body = _check_envelope(response, status=upstream_status, kind="rate_limited", error="rate_limited")
    assert response.headers["retry-after"] == header
    assert body["retry_after"] == int(header)
    assert body["upstream_status"] == upstream_status


def test_tls_failure(gateway_factory: Callable[..., RunningGateway], simulator_factory: Any) -> None:
    sim = simulator_factory("healthy", tls="self-signed")
    gw = gateway_factory(f"/pay={sim.base_url}/v1")
    response = httpx.get(gw.url("/pay/orders"))
    _check_envelope(response, status=502, kind="tls_certificate_error", error="upstream_error")


def test_dns_failure(gateway_factory: Callable[..., RunningGateway], simulator: Simulator) -> None:
    with DNSResponder({"api.sim.test": ["127.0.0.1"]}) as responder:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = responder.port

        async def resolve(host: str, port: int) -> list[tuple[int, tuple[object, ...]]]:
            try:
                answer = await resolver.resolve(host, "A", lifetime=2.0)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as exc:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from exc
            return [(socket.AF_INET, (record.address, port)) for record in answer]

        gw = gateway_factory(
            f"/ok=http://api.sim.test:{simulator.port}/v1",
            f"/gone=http://missing.sim.test:{simulator.port}/v1",
            resolver=resolve,
        )
        assert httpx.get(gw.url("/ok/orders")).status_code == 200
        response = httpx.get(gw.url("/gone/orders"))
        body = _check_envelope(response, status=502, kind="dns_error", error="upstream_error")
        assert body["upstream"] == "gone"
        assert ("missing.sim.test", "A") in responder.queries


@pytest.mark.parametrize(("mode", "status"), [("5xx", 503), ("200", 200), ("600", 600)])
def test_status_modes(
    gateway_factory: Callable[..., RunningGateway], simulator_factory: Any, mode: str, status: int
) -> None:
    sim = simulator_factory(fault_scenario('{ kind = "outage", status = 502 }'))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", status_mode=mode)
    response = httpx.get(gw.url("/pay/orders"))
    body = _check_envelope(response, status=status, kind="upstream_outage", error="upstream_unavailable")
    assert body["upstream_status"] == 502
    # Whatever the mode, upstreamkit's own classifier reads the envelope back as the same failure.
    outcome = classify(response.status_code, response.headers, response.content)
    assert not outcome.ok
    assert outcome.kind in (ErrorKind.UPSTREAM_OUTAGE, ErrorKind.UPSTREAM_600)
    if mode == "5xx":
        assert outcome.kind is ErrorKind.UPSTREAM_OUTAGE
    else:
        assert outcome.is_600


def test_refusals_keep_their_status_in_every_mode(
    gateway_factory: Callable[..., RunningGateway], simulator: Simulator
) -> None:
    gw = gateway_factory(f"/pay={simulator.base_url}/v1", status_mode="600")
    response = httpx.get(gw.url("/unknown"))
    _check_envelope(response, status=404, kind="destination_not_found", error="destination_not_found")


def test_response_over_the_size_limit(gateway_factory: Callable[..., RunningGateway], simulator_factory: Any) -> None:
    big = '{ kind = "slow_body", size = 8192, chunk = 8192, bytes_per_second = 10000000 }'
    sim = simulator_factory(fault_scenario(big))
    gw = gateway_factory(f"/pay={sim.base_url}/v1", max_response_bytes=4096)
    response = httpx.get(gw.url("/pay/big"))
    _check_envelope(response, status=502, kind="http_response_body_size", error="upstream_error")
    roomy = gateway_factory(f"/pay={sim.base_url}/v1", max_response_bytes=16384)
    assert len(httpx.get(roomy.url("/pay/big")).content) == 8192
