"""The one envelope: how the gateway answers every upstream failure and every refusal of its own.

Body (``Content-Type: application/problem+json``), an RFC 9457 problem document extended as the issue's
contract says::

    {"type": "urn:upstreamkit:kind:http_response_timeout", "title": "...", "status": 504,
     "detail": "...", "instance": "/pay/orders", "code": 600, "error": "gateway_timeout",
     "kind": "http_response_timeout", "request_id": "...", "upstream": "pay",
     "upstream_status": null, "retry_after": null}

Headers: ``Proxy-Status`` (RFC 9209: the gateway's name, ``error=`` the taxonomy's kind, which is the
RFC 9209 error type wherever RFC 9209 has one, ``details=`` redacted, ``received-status=`` when the
upstream answered), ``Retry-After`` when a wait is known, ``X-Request-Id`` always. Using the kind itself as
the error type keeps one taxonomy end to end: upstreamkit's classifier reads a ``Proxy-Status`` error back
as the same kind.

Status by mode: ``5xx`` (default) 504 for timeouts, 429 for rate limits, 503 for an outage, an open
circuit, a spent budget or the gateway's own connection cap (``connection_limit_reached``), 502 for everything
else; ``200`` answers 200 with the same body; ``600`` a raw
``600`` status line. Refusals of the caller's own request (no route: 404; too large: 413 or 431;
malformed: 400) keep their 4xx in every mode: they are the caller's problem, like an upstream's 4xx.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum

from upstreamkit.core.headers import ProxyStatusEntry, format_proxy_status
from upstreamkit.core.redact import redact_text
from upstreamkit.errors import ErrorKind
from upstreamkit.knowledge import kind_info

__all__ = ["CONTENT_TYPE", "Envelope", "StatusMode", "error_word", "failure_status"]

CONTENT_TYPE = "application/problem+json"

_TIMEOUTS = frozenset(
    {
        ErrorKind.CONNECTION_TIMEOUT,
        ErrorKind.CONNECTION_READ_TIMEOUT,
        ErrorKind.CONNECTION_WRITE_TIMEOUT,
        ErrorKind.HTTP_RESPONSE_TIMEOUT,
        ErrorKind.DNS_TIMEOUT,
        ErrorKind.DEADLINE_EXCEEDED,
    }
)
_UNAVAILABLE = frozenset(
    {
        ErrorKind.UPSTREAM_OUTAGE,
        ErrorKind.CIRCUIT_OPEN,
        ErrorKind.BUDGET_EXHAUSTED,
        # The gateway's own connection cap: overload on this side, the request never left (503, not 502).
        ErrorKind.CONNECTION_LIMIT_REACHED,
    }
)
_REFUSALS: dict[ErrorKind, str] = {
    ErrorKind.DESTINATION_NOT_FOUND: "destination_not_found",
    ErrorKind.HTTP_REQUEST_ERROR: "bad_request",
    ErrorKind.HTTP_REQUEST_DENIED: "request_denied",
    ErrorKind.PAYLOAD_REJECTED: "payload_too_large",
}


class StatusMode(StrEnum):
    """How the envelope's HTTP status is chosen (``--status-mode``)."""

    STATUS_5XX = "5xx"
    STATUS_200 = "200"
    STATUS_600 = "600"


def failure_status(kind: ErrorKind) -> int:
    """The status ``5xx`` mode gives an upstream failure or policy refusal of this kind."""
    if kind in _TIMEOUTS:
        return 504
    if kind is ErrorKind.RATE_LIMITED:
        return 429
    if kind in _UNAVAILABLE:
        return 503
    return 502


def error_word(kind: ErrorKind) -> str:
    """The envelope's ``error``: a word clients already test for (``upstream_error``, ``gateway_timeout``)."""
    if kind in _REFUSALS:
        return _REFUSALS[kind]
    if kind in _TIMEOUTS:
        return "gateway_timeout"
    if kind is ErrorKind.RATE_LIMITED:
        return "rate_limited"
    if kind in _UNAVAILABLE:
        return "upstream_unavailable"
    return "upstream_error"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One failure, ready to render: what went wrong and where."""

    kind: ErrorKind
    detail: str
    request_id: str
    instance: str
    upstream: str | None = None
    upstream_status: int | None = None
    retry_after: float | None = None
    refusal_status: int | None = None
    """Set for refusals of the caller's request (404, 413, 431, 400): that status in every mode."""

    def status(self, mode: StatusMode) -> int:
        """The HTTP status in ``mode``."""
        if self.refusal_status is not None:
            return self.refusal_status
        if mode is StatusMode.STATUS_200:
            return 200
        if mode is StatusMode.STATUS_600:
            return 600
        if self.kind is ErrorKind.RATE_LIMITED and self.upstream_status == 503:
            # A 503 with Retry-After is load shedding (the taxonomy's rate_limited), not this caller's quota:
            # telling the caller 429 would blame its own rate. It stays 503, with the upstream's Retry-After.
            return 503
        return failure_status(self.kind)

    def retry_after_seconds(self) -> int | None:
        """Whole seconds for the ``Retry-After`` header (rounded up: never invite an early retry)."""
        if self.retry_after is None or not math.isfinite(self.retry_after):
            return None
        return max(0, math.ceil(self.retry_after))

    def body(self, mode: StatusMode) -> bytes:
        """The problem+json document."""
        retry_after = self.retry_after_seconds()
        document = {
            "type": f"urn:upstreamkit:kind:{self.kind}",
            "title": kind_info(self.kind).title,
            "status": self.status(mode),
            "detail": redact_text(self.detail),
            "instance": self.instance,
            "code": 600,
            "error": error_word(self.kind),
            "kind": str(self.kind),
            "request_id": self.request_id,
            "upstream": self.upstream,
            "upstream_status": self.upstream_status,
            "retry_after": retry_after,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    def proxy_status(self, gateway: str) -> str:
        """The ``Proxy-Status`` value (RFC 9209), details redacted."""
        entry = ProxyStatusEntry(
            proxy=gateway,
            error=str(self.kind),
            details=redact_text(self.detail)[:200],
            received_status=self.upstream_status,
        )
        return format_proxy_status([entry])

    def headers(self, gateway: str) -> list[tuple[bytes, bytes]]:
        """Response headers (Content-Length excepted): type, Proxy-Status, Retry-After, X-Request-Id."""
        headers = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"cache-control", b"no-store"),
            (b"proxy-status", self.proxy_status(gateway).encode("ascii", "replace")),
        ]
        retry_after = self.retry_after_seconds()
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        headers.append((b"x-request-id", self.request_id.encode("ascii", "replace")))
        return headers
