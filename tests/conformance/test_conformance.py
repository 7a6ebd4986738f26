"""One suite, three gateways: the upstreamkit gateway, nginx and HAProxy (the configs ``gateway export``
renders) in front of the same simulators, held to the same contract.

Where an engine legitimately differs, the expectation table says so by name with the reason
(:data:`ENGINE_DIFFERS`), and the test asserts the engine's documented behaviour instead: nothing is skipped.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conformance_support import ATTEMPTS, ENGINES, OUTAGE_SECONDS, GatewayUnderTest, Upstreams

from upstreamkit.core.headers import parse_proxy_status

pytestmark = [pytest.mark.engine, pytest.mark.integration]

ENVELOPE_FIELDS = {
    "type", "title", "status", "detail", "instance", "code", "error", "kind", "request_id", "upstream",
    "upstream_status", "retry_after",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Expect:
    """What the caller gets for one failure."""

    status: int
    kind: str
    error: str
    upstream_status: int | None = None
    retry_after: int | None = None


EXPECTED: dict[str, Expect] = {
    "/timeout": Expect(504, "http_response_timeout", "gateway_timeout"),
    "/reset": Expect(502, "connection_terminated", "upstream_error"),
    "/down": Expect(503, "upstream_outage", "upstream_unavailable", upstream_status=503),
    "/throttled": Expect(429, "rate_limited", "rate_limited", upstream_status=429, retry_after=3),
    # Load shedding: the upstream's 503 with Retry-After stays 503 (not the caller's quota), with its wait.
    "/shed": Expect(503, "rate_limited", "rate_limited", upstream_status=503, retry_after=7),
    "/refused": Expect(502, "connection_refused", "upstream_error"),
}

ENGINE_DIFFERS: dict[tuple[str, str], tuple[Expect, str]] = {
    ("haproxy", "/refused"): (
        Expect(503, "circuit_open", "upstream_unavailable", retry_after=1),
        (
            "HAProxy's active TCP checks (the breaker's recovery probe) find the refusing port down before any "
            "request arrives, so the first caller already meets the open breaker"
        ),
    ),
}


# During an outage every gateway bounds what reaches the upstream; how callers are answered meanwhile differs.
OUTAGE_MAX_ATTEMPTS = 20
"""Upstream attempts during the outage, whatever the number of requests: the breaker's trip and its probes."""
SHEDS_AT_ONCE = {"nginx": True, "haproxy": True}
OUTAGE_DIFFERS = {
    "upstreamkit": "the gateway holds a caller for the breaker's next probe when the caller's deadline reaches "
    "it (RetryPolicy.fail_fast off), so a sequential caller sends a few requests, each answered by a probe, "
    "where nginx and HAProxy answer every request at once with the envelope",
}


NAMED_HOP_BY_HOP_PASSES = {
    "nginx": "nginx drops its fixed list of hop-by-hop fields, not the ones an upstream names in Connection",
    "haproxy": "HAProxy drops Connection and its fixed list, not the fields an upstream names in Connection",
}


def expected(engine: str, case: str) -> Expect:
    """The table's expectation for ``case`` on ``engine``, the engine's documented difference first."""
    differs = ENGINE_DIFFERS.get((engine, case))
    return differs[0] if differs is not None else EXPECTED[case]


def test_every_difference_names_its_engine_and_reason() -> None:
    assert set(ENGINES) == set(SHEDS_AT_ONCE) | set(OUTAGE_DIFFERS)
    assert all(len(reason) > 40 for reason in OUTAGE_DIFFERS.values())
    for (engine, case), (expect, reason) in ENGINE_DIFFERS.items():
        assert engine in ENGINES
        assert case in EXPECTED
        assert expect != EXPECTED[case]
        assert len(reason) > 40


def check_envelope(response: httpx.Response, expect: Expect, *, instance: str) -> dict[str, Any]:
    """The RFC 9457 + code 600 body, Proxy-Status and the headers, as the gateway contract says."""
    assert response.status_code == expect.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == ENVELOPE_FIELDS
    assert body["code"] == 600
    assert body["status"] == expect.status
    assert body["kind"] == expect.kind
    assert body["type"] == f"urn:upstreamkit:kind:{expect.kind}"
    assert body["error"] == expect.error
    assert body["title"]
    assert body["instance"] == instance
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["upstream_status"] == expect.upstream_status
    assert body["retry_after"] == expect.retry_after
    if expect.retry_after is None:
        assert "retry-after" not in response.headers
    else:
        assert response.headers["retry-after"] == str(expect.retry_after)
    (entry,) = parse_proxy_status(response.headers["proxy-status"])
    assert entry.proxy == "upstreamkit"
    assert entry.error == expect.kind
    assert entry.received_status == expect.upstream_status
    return dict(body)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_envelope_per_failure(gateway: GatewayUnderTest, case: str) -> None:
    path = f"{case}/orders"
    response = httpx.get(gateway.url(path), timeout=10)
    body = check_envelope(response, expected(gateway.name, case), instance=path)
    assert body["upstream"] == case.strip("/")


def test_unknown_route_is_refused(gateway: GatewayUnderTest, upstreams: Upstreams) -> None:
    before = len(upstreams.faults.ledger)
    response = httpx.get(gateway.url("/nowhere/at/all"), timeout=10)
    body = check_envelope(
        response, Expect(404, "destination_not_found", "destination_not_found"), instance="/nowhere/at/all"
    )
    assert body["upstream"] is None
    # Not a prefix on a segment boundary: /okay is not /ok.
    assert httpx.get(gateway.url("/okay"), timeout=10).status_code == 404
    assert len(upstreams.faults.ledger) == before


def test_success_passes_through(gateway: GatewayUnderTest) -> None:
    response = httpx.get(gateway.url("/ok/orders?page=2"), timeout=10)
    assert response.status_code == 200
    assert response.json()["path"] == "/v1/orders"
    assert response.json()["query"] == {"page": ["2"]}
    assert response.headers["x-request-id"]


def _upstream_ids(upstreams: Upstreams, path: str) -> list[str | None]:
    return [entry.request_id for entry in upstreams.faults.ledger.entries() if entry.path == path]


def test_request_id_kept(gateway: GatewayUnderTest, upstreams: Upstreams) -> None:
    mine = f"caller-{uuid.uuid4().hex}"
    path = f"/v1/kept-{gateway.name}"
    response = httpx.get(gateway.url(f"/ok/kept-{gateway.name}"), headers={"X-Request-Id": mine}, timeout=10)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == mine
    assert _upstream_ids(upstreams, path) == [mine]
    failed = httpx.get(gateway.url("/down/kept"), headers={"X-Request-Id": mine}, timeout=10)
    assert failed.headers["x-request-id"] == mine
    assert failed.json()["request_id"] == mine


def test_request_id_generated(gateway: GatewayUnderTest, upstreams: Upstreams) -> None:
    path = f"/v1/made-{gateway.name}"
    first = httpx.get(gateway.url(f"/ok/made-{gateway.name}"), timeout=10)
    second = httpx.get(gateway.url(f"/ok/made-{gateway.name}"), timeout=10)
    made = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(made)
    assert made[0] != made[1]
    assert _upstream_ids(upstreams, path) == made
    # An id that is not a sane token is replaced, not passed on.
    odd = httpx.get(gateway.url("/down/odd"), headers={"X-Request-Id": 'a "quoted" id'}, timeout=10)
    assert odd.headers["x-request-id"] != 'a "quoted" id'
    assert odd.json()["request_id"] == odd.headers["x-request-id"]


def test_post_is_never_duplicated(gateway: GatewayUnderTest, upstreams: Upstreams) -> None:
    rid = f"post-{uuid.uuid4().hex}"
    response = httpx.post(gateway.url("/post/payments"), content=b'{"amount": 1}', headers={"X-Request-Id": rid})
    assert response.status_code == 503
    assert response.json()["kind"] == "upstream_outage"
    assert upstreams.faults.ledger.attempts_by_request_id()[rid] == 1


def test_idempotent_request_is_retried_up_to_the_cap(gateway: GatewayUnderTest, upstreams: Upstreams) -> None:
    rid = f"get-{uuid.uuid4().hex}"
    response = httpx.get(gateway.url("/retry/orders"), headers={"X-Request-Id": rid}, timeout=10)
    assert response.status_code == 503
    assert upstreams.faults.ledger.attempts_by_request_id()[rid] == ATTEMPTS


def test_outage_attempts_bounded_then_recovers(gateway: GatewayUnderTest, upstreams: Upstreams) -> None:
    outage = upstreams.outage
    outage.reset(timeline=True)
    started = time.monotonic()
    sent = 0
    with httpx.Client(timeout=10) as client:
        while time.monotonic() - started < OUTAGE_SECONDS - 0.4 and sent < 100:
            response = client.get(gateway.url(f"/outage/orders/{sent}"))
            sent += 1
            if response.status_code == 200:  # a request that waited for the breaker's probe past the outage
                assert time.monotonic() - started > OUTAGE_SECONDS
                break
            assert response.status_code == 503, response.text
            assert response.json()["kind"] in ("upstream_outage", "circuit_open")
        during = sum(1 for entry in outage.ledger.entries() if entry.phase == "outage")
        assert during <= OUTAGE_MAX_ATTEMPTS, (during, sent)
        if SHEDS_AT_ONCE.get(gateway.name, False):
            # Without the breaker every request would cost ATTEMPTS upstream attempts.
            assert sent >= 3 * during, (during, sent)
        else:
            assert gateway.name in OUTAGE_DIFFERS
            assert sent < OUTAGE_MAX_ATTEMPTS
        recovered_at = None
        for _ in range(100):
            if time.monotonic() - started > OUTAGE_SECONDS + 8:
                break
            if time.monotonic() - started > OUTAGE_SECONDS:
                response = client.get(gateway.url("/outage/orders/after"))
                if response.status_code == 200:
                    recovered_at = time.monotonic() - started
                    break
            time.sleep(0.1)  # polling for recovery, bounded by count and time
    assert recovered_at is not None, "the gateway did not recover within 8 s after the outage"


def test_headers_rewritten_and_hop_by_hop_dropped(gateway: GatewayUnderTest, upstreams: Upstreams) -> None:
    response = httpx.get(
        gateway.url("/echo/things?x=1"),
        headers={
            "X-Forwarded-For": "203.0.113.7",
            "Host": "caller.example",
            "Keep-Alive": "timeout=9",
            "TE": "trailers",
            "Upgrade": "websocket",
            "Proxy-Authorization": "Basic c2VjcmV0OnNlY3JldA==",
            "X-Kept": "yes",
        },
        timeout=10,
    )
    assert response.status_code == 200
    seen = dict(response.json()["headers"])
    assert response.json()["target"] == "/base/things?x=1"
    assert seen["host"] == f"127.0.0.1:{upstreams.echo_port}"
    assert seen["x-forwarded-for"].replace(" ", "").split(",")[-2:] == ["203.0.113.7", "127.0.0.1"] or (
        # HAProxy's forwardfor adds its own X-Forwarded-For field after the caller's: one list, two fields.
        gateway.name == "haproxy" and seen["x-forwarded-for"] in ("203.0.113.7", "127.0.0.1")
    )
    assert seen["x-kept"] == "yes"
    for name in ("keep-alive", "te", "upgrade", "proxy-authorization"):
        assert name not in seen, name
    assert "keep-alive" not in response.headers
    named = "x-echo-hop" in response.headers
    assert named is (gateway.name in NAMED_HOP_BY_HOP_PASSES), NAMED_HOP_BY_HOP_PASSES
