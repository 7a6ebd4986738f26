"""What the gateway forwards and how: routes, prefixes, headers, request ids, pass-through, pooling, limits."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario

from upstreamkit.core.redact import fingerprint
from upstreamkit.gateway.accesslog import FIELDS
from upstreamkit.gateway.server import Limits
from upstreamkit.simulator import Simulator

pytestmark = pytest.mark.integration


def _raw(port: int, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection; everything the gateway answers until it closes (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        for _ in range(1000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_prefix_is_stripped_and_query_kept(
    gateway_factory: Callable[..., RunningGateway], simulator: Simulator
) -> None:
    gw = gateway_factory(f"/pay={simulator.base_url}/v1")
    response = httpx.get(gw.url("/pay/orders?x=1"))
    assert response.status_code == 200
    assert response.json()["path"] == "/v1/orders"
    assert response.json()["query"] == {"x": ["1"]}
    assert [entry.path for entry in simulator.ledger.entries()] == ["/v1/orders"]


def test_longest_prefix_wins(gateway_factory: Callable[..., RunningGateway], simulator: Simulator) -> None:
    gw = gateway_factory(f"/api={simulator.base_url}/v1/short", f"/api/long={simulator.base_url}/v1/long")
    assert httpx.get(gw.url("/api/long/x")).json()["path"] == "/v1/long/x"
    assert httpx.get(gw.url("/api/longer")).json()["path"] == "/v1/short/longer"  # segment boundary, not text


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /pay/../__sim/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /pay/%2e%2e/__sim/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
        b"GET http://127.0.0.1:{port}/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ],
    ids=["unknown-route", "dot-segments", "encoded-dot-segments", "connect", "absolute-form", "asterisk"],
)
def test_refused_without_contacting_the_upstream(
    gateway_factory: Callable[..., RunningGateway], simulator: Simulator, request_bytes: bytes
) -> None:
    gw = gateway_factory(f"/pay={simulator.base_url}/v1")
    answer = _raw(gw.gateway.port, request_bytes.replace(b"{port}", str(simulator.port).encode()))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 "), head
    assert b"content-type: application/problem+json" in head.lower()
    document = json.loads(body)
    assert document["kind"] == "destination_not_found"
    assert document["code"] == 600
    assert simulator.ledger.entries() == []


def test_hop_by_hop_stripped_host_set_forwarded_appended(
    gateway_factory: Callable[..., RunningGateway], echo_upstream: str
) -> None:
    gw = gateway_factory(f"/echo={echo_upstream}/base")
    response = httpx.get(
        gw.url("/echo/x"),
        headers={
            "Host": "attacker.example",
            "Connection": "keep-alive, X-Caller-Hop",
            "X-Caller-Hop": "secret hop",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "Upgrade": "websocket",
            "X-Forwarded-For": "203.0.113.7",
            "X-Kept": "yes",
        },
    )
    assert response.status_code == 200
    seen = {name.lower(): value for name, value in response.json()["headers"]}
    assert response.json()["target"] == "/base/x"
    for gone in ("x-caller-hop", "keep-alive", "te", "proxy-authorization", "upgrade"):
        assert gone not in seen, gone
    assert seen["host"] == echo_upstream.removeprefix("http://")
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["forwarded"] == "for=127.0.0.1;proto=http"
    assert seen["x-kept"] == "yes"
    assert seen["x-request-id"] == response.headers["x-request-id"]
    # The upstream's own hop-by-hop fields stop at the gateway too.
    assert "x-echo-hop" not in response.headers
    assert "keep-alive" not in response.headers
    assert response.headers["x-request-id"] != "upstream-own-id"


def test_request_id_kept_or_made(gateway_factory: Callable[..., RunningGateway], simulator: Simulator) -> None:
    gw = gateway_factory(f"/pay={simulator.base_url}/v1")
    kept = httpx.get(gw.url("/pay/a"), headers={"X-Request-Id": "caller-id-42"})
    made = httpx.get(gw.url("/pay/b"))
    unusable = httpx.get(gw.url("/pay/c"), headers={"X-Request-Id": "has spaces\tand tabs"})
    assert kept.headers["x-request-id"] == "caller-id-42"
    assert len(made.headers["x-request-id"]) == 32
    assert unusable.headers["x-request-id"] != "has spaces\tand tabs"
    seen = [entry.request_id for entry in simulator.ledger.entries()]
    assert seen == ["caller-id-42", made.headers["x-request-id"], unusable.headers["x-request-id"]]


@pytest.mark.parametrize(
    ("scenario", "path", "status"),
    [
        ("healthy", "/api/nothing/here", 404),
        (fault_scenario('{ kind = "auth_invalid" }'), "/api/v1/orders", 401),
        (fault_scenario('{ kind = "status", status = 409, body = "{\\"error\\": \\"conflict\\"}" }'), "/api/v1/x", 409),
    ],
    ids=["404", "401", "409"],
)
def test_upstream_4xx_pass_through_untouched(
    gateway_factory: Callable[..., RunningGateway], simulator_factory: Any, scenario: Any, path: str, status: int
) -> None:
    sim = simulator_factory(scenario)
    direct = httpx.get(sim.url(path.removeprefix("/api")))
    gw = gateway_factory(f"/api={sim.base_url}")
    response = httpx.get(gw.url(path))
    assert response.status_code == status
    assert response.content == direct.content
    assert response.headers["content-type"] == direct.headers["content-type"]
    assert "proxy-status" not in response.headers
    if status == 401:
        assert response.headers["www-authenticate"] == direct.headers["www-authenticate"]


def test_post_body_forwarded_and_connections_pooled(
    gateway_factory: Callable[..., RunningGateway], simulator: Simulator, tmp_path: Path
) -> None:
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(f"/pay={simulator.base_url}/v1", access_log=str(log))
    with httpx.Client() as client:
        created = client.post(gw.url("/pay/payments"), json={"amount": 12, "currency": "EUR"})
        again = client.get(gw.url("/pay/orders"))
    assert created.status_code == 201
    assert created.json()["amount"] == 12
    assert again.status_code == 200
    gw.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["upstream_status"] for line in lines] == [201, 200]
    assert lines[0]["upstream_connect_ms"] is not None
    assert lines[1]["upstream_connect_ms"] is None  # the pooled connection was reused
    assert lines[0]["bytes_in"] == len(b'{"amount":12,"currency":"EUR"}')


def test_access_log_fields(
    gateway_factory: Callable[..., RunningGateway], simulator_factory: Any, tmp_path: Path
) -> None:
    sim = simulator_factory(fault_scenario('{ kind = "outage", status = 502 }', routes="/v1/fail*"))
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(f"/pay={sim.base_url}/v1", access_log=str(log), name="gw-test")
    token = "tok-very-secret-value"
    httpx.get(gw.url("/pay/ok?card=4111111111111111"), headers={"Authorization": f"Bearer {token}"})
    httpx.get(gw.url("/pay/failing"), headers={"X-Request-Id": "rid-2"})
    httpx.get(gw.url("/elsewhere"))
    gw.stop()
    text = log.read_text()
    assert token not in text
    assert "4111111111111111" not in text
    ok, failed, refused = (json.loads(line) for line in text.splitlines())
    for line in (ok, failed, refused):
        assert tuple(line) == FIELDS
        assert line["ts"].endswith("Z")
        assert line["gateway"] == "gw-test"
    assert ok["path"] == "/pay/ok"
    assert ok["kind"] is None
    assert ok["status"] == 200
    assert ok["route"] == "/pay"
    assert ok["upstream"] == "pay"
    assert ok["attempts"] == 1
    assert ok["credential"] == fingerprint(token)
    assert failed["request_id"] == "rid-2"
    assert (failed["status"], failed["upstream_status"], failed["kind"]) == (503, 502, "upstream_outage")
    assert failed["error"] == "upstream_unavailable"
    assert (refused["status"], refused["kind"], refused["route"], refused["attempts"]) == (
        404,
        "destination_not_found",
        None,
        0,
    )


def test_limits(gateway_factory: Callable[..., RunningGateway], simulator: Simulator, tmp_path: Path) -> None:
    limits = Limits(max_body_bytes=1000, max_header_bytes=2000)
    log = tmp_path / "access.jsonl"
    gw = gateway_factory(f"/pay={simulator.base_url}/v1", limits=limits, access_log=str(log))
    too_big = httpx.post(gw.url("/pay/payments"), content=b"x" * 5000)
    assert too_big.status_code == 413
    assert too_big.json()["kind"] == "payload_rejected"
    too_many = httpx.get(gw.url("/pay/x"), headers={"X-Big": "y" * 3000})
    assert too_many.status_code == 431
    assert too_many.json()["code"] == 600
    assert simulator.ledger.entries() == []
    assert httpx.post(gw.url("/pay/payments"), json={"amount": 1}).status_code == 201
    gw.stop()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["status"], line["kind"]) for line in logged] == [
        (413, "payload_rejected"),
        (431, "http_request_denied"),
        (201, None),
    ]


def test_admin_endpoints(gateway_factory: Callable[..., RunningGateway], simulator: Simulator) -> None:
    gw = gateway_factory(f"/pay={simulator.base_url}/v1")
    assert httpx.get(gw.admin_url("/healthz")).json() == {"status": "ok"}
    ready = httpx.get(gw.admin_url("/readyz"))
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert set(ready.json()["upstreams"]) == {"pay"}
    # The admin endpoints are not on the public port.
    assert httpx.get(gw.url("/healthz")).status_code == 404


def test_pipelined_requests_answered_in_order_then_refusal(
    gateway_factory: Callable[..., RunningGateway], simulator: Simulator
) -> None:
    gw = gateway_factory(f"/pay={simulator.base_url}/v1", limits=Limits(max_body_bytes=1000))
    answer = _raw(
        gw.gateway.port,
        b"GET /pay/first HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /pay/second HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /pay/third HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n",
    )
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert statuses == [b"200", b"200", b"413"]
    assert answer.lower().count(b"connection: close") == 1  # only the refusal ends the connection
    assert answer.index(b"/v1/first") < answer.index(b"/v1/second")
    assert [entry.path for entry in simulator.ledger.entries()] == ["/v1/first", "/v1/second"]


def test_head_keeps_the_length_and_the_framing(
    gateway_factory: Callable[..., RunningGateway], echo_upstream: str
) -> None:
    gw = gateway_factory(f"/echo={echo_upstream}")
    with httpx.Client() as client:
        head = client.head(gw.url("/echo/x"))
        after = client.get(gw.url("/echo/y"))  # same connection: the HEAD answer carried no body
    assert head.status_code == 200
    assert head.headers["content-length"] == "123"
    assert head.content == b""
    assert after.json()["target"] == "/y"


def test_a_stalled_request_and_an_idle_connection_are_cut_off(
    gateway_factory: Callable[..., RunningGateway], simulator: Simulator
) -> None:
    gw = gateway_factory(
        f"/pay={simulator.base_url}/v1", limits=Limits(request_read_timeout=0.2, keep_alive_timeout=0.2)
    )
    # Half a request, then silence: the gateway closes (recv returns b"") well before the socket's own timeout.
    assert _raw(gw.gateway.port, b"GET /pay/x HTTP/1.1\r\nHost: x\r\n") == b""
    answer = _raw(gw.gateway.port, b"GET /pay/x HTTP/1.1\r\nHost: x\r\n\r\n")  # answered, then idle: closed
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert simulator.ledger.entries()[0].path == "/v1/x"
