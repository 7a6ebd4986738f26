"""The envelope's body, headers and status in each mode, and that upstreamkit's classifier reads it back."""

from __future__ import annotations

import json

import pytest

from upstreamkit.core.classify import classify
from upstreamkit.core.headers import parse_proxy_status
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.envelope import Envelope, StatusMode, error_word, failure_status


@pytest.mark.parametrize(
    ("kind", "status", "word"),
    [
        (ErrorKind.HTTP_RESPONSE_TIMEOUT, 504, "gateway_timeout"),
        (ErrorKind.CONNECTION_TIMEOUT, 504, "gateway_timeout"),
        (ErrorKind.DEADLINE_EXCEEDED, 504, "gateway_timeout"),
        (ErrorKind.RATE_LIMITED, 429, "rate_limited"),
        (ErrorKind.UPSTREAM_OUTAGE, 503, "upstream_unavailable"),
        (ErrorKind.CIRCUIT_OPEN, 503, "upstream_unavailable"),
        (ErrorKind.BUDGET_EXHAUSTED, 503, "upstream_unavailable"),
        (ErrorKind.CONNECTION_LIMIT_REACHED, 503, "upstream_unavailable"),  # the gateway's overload, not a 502
        (ErrorKind.CONNECTION_REFUSED, 502, "upstream_error"),
        (ErrorKind.TLS_CERTIFICATE_ERROR, 502, "upstream_error"),
        (ErrorKind.DNS_ERROR, 502, "upstream_error"),
        (ErrorKind.UPSTREAM_600, 502, "upstream_error"),
        (ErrorKind.CONNECTION_TERMINATED, 502, "upstream_error"),
    ],
)
def test_status_and_error_word_by_kind(kind: ErrorKind, status: int, word: str) -> None:
    assert failure_status(kind) == status
    assert error_word(kind) == word


def _envelope(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "kind": ErrorKind.RATE_LIMITED,
        "detail": "HTTP 429 Too Many Requests; token sk-live-abcdefghijklmnopqrstuvwx",
        "request_id": "rid-1",
        "instance": "/pay/orders",
        "upstream": "pay",
        "upstream_status": 429,
        "retry_after": 1.2,
    }
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "status"), [(StatusMode.STATUS_5XX, 429), ("200", 200), ("600", 600)])
def test_modes(mode: StatusMode | str, status: int) -> None:
    envelope = _envelope()
    assert envelope.status(StatusMode(mode)) == status
    body = json.loads(envelope.body(StatusMode(mode)))
    assert body["status"] == status
    assert body["code"] == 600
    assert body["retry_after"] == 2  # 1.2 s rounded up


def test_refusals_keep_their_status() -> None:
    refusal = _envelope(kind=ErrorKind.DESTINATION_NOT_FOUND, refusal_status=404, upstream=None)
    for mode in StatusMode:
        assert refusal.status(mode) == 404


def test_body_and_headers_are_redacted_and_complete() -> None:
    envelope = _envelope()
    text = envelope.body(StatusMode.STATUS_5XX).decode()
    body = json.loads(text)
    assert "sk-live-abcdefghijklmnopqrstuvwx" not in text
    assert body["type"] == "urn:upstreamkit:kind:rate_limited"
    assert body["title"] == "Rate limited"
    assert (body["instance"], body["request_id"], body["upstream"], body["upstream_status"]) == (
        "/pay/orders",
        "rid-1",
        "pay",
        429,
    )
    headers = dict(envelope.headers("gw-1"))
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"retry-after"] == b"2"
    assert headers[b"x-request-id"] == b"rid-1"
    (entry,) = parse_proxy_status(headers[b"proxy-status"].decode())
    assert (entry.proxy, entry.error, entry.received_status) == ("gw-1", "rate_limited", 429)
    assert entry.details is not None
    assert "sk-live-abcdefghijklmnopqrstuvwx" not in entry.details


def test_no_retry_after_when_unknown() -> None:
    envelope = _envelope(retry_after=None)
    assert b"retry-after" not in dict(envelope.headers("gw"))
    assert json.loads(envelope.body(StatusMode.STATUS_5XX))["retry_after"] is None


@pytest.mark.parametrize(
    "kind",
    [ErrorKind.CONNECTION_REFUSED, ErrorKind.HTTP_RESPONSE_TIMEOUT, ErrorKind.UPSTREAM_OUTAGE, ErrorKind.RATE_LIMITED],
)
def test_classifier_reads_the_envelope_back_as_the_same_kind(kind: ErrorKind) -> None:
    envelope = _envelope(kind=kind, retry_after=None)
    mode = StatusMode.STATUS_5XX
    outcome = classify(envelope.status(mode), envelope.headers("gw"), envelope.body(mode))
    assert outcome.kind is kind
    for other in (StatusMode.STATUS_200, StatusMode.STATUS_600):
        read = classify(envelope.status(other), envelope.headers("gw"), envelope.body(other))
        assert read.is_600
        assert not read.ok


@pytest.mark.parametrize(("upstream_status", "status"), [(503, 503), (429, 429), (None, 429)])
def test_load_shedding_stays_503_and_only_quotas_are_429(upstream_status: int | None, status: int) -> None:
    # An upstream 503 with Retry-After is rate_limited in the taxonomy (load shedding), but a 429 would tell
    # the caller its own rate is the problem; the gateway's own limiter (no upstream status) answers 429.
    envelope = _envelope(upstream_status=upstream_status)
    assert envelope.status(StatusMode.STATUS_5XX) == status
    assert json.loads(envelope.body(StatusMode.STATUS_5XX))["kind"] == "rate_limited"
    assert envelope.retry_after_seconds() == 2
