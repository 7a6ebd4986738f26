"""One error taxonomy for every upstream failure.

Every failure upstreamkit reports is an :class:`UpstreamError` with a :class:`ErrorKind`. The kinds are the
RFC 9209 Proxy-Status error types where one fits, plus the causes gateways fold into "error 600"
(``auth_expired``, ``rate_limited``, ``upstream_600`` ...) and the client's own decisions
(``circuit_open``, ``budget_exhausted``, ``deadline_exceeded``). Each kind belongs to exactly one class:

    UpstreamError                  kind, request_sent, attempts, retry_after, request_id, upstream, hop
    ├── TransportError             no usable HTTP response came back
    │   ├── DNSError               dns_error, dns_timeout, destination_not_found
    │   ├── ConnectError           connection_refused, connection_timeout, destination_unavailable,
    │   │                          destination_ip_prohibited, destination_ip_unroutable, connection_limit_reached
    │   ├── TLSError               tls_certificate_error, tls_protocol_error, tls_alert_received
    │   ├── ResponseTimeoutError   http_response_timeout, connection_read_timeout, connection_write_timeout
    │   └── ProtocolError          connection_terminated, http_response_incomplete, http_protocol_error,
    │                              http_response_*_size, http_response_*_coding, http_upgrade_failed
    ├── ResponseError              an HTTP response that says the call failed
    │   ├── AuthError              auth_expired, auth_invalid, auth_forbidden
    │   ├── RateLimitedError       rate_limited
    │   ├── UpstreamUnavailableError
    │   │                          upstream_outage, upstream_600, request_timeout
    │   ├── PayloadRejectedError   payload_rejected
    │   └── RequestRejectedError   http_request_error, http_request_denied
    ├── GatewayError               the proxy itself failed: proxy_internal_error, proxy_internal_response,
    │                              proxy_configuration_error, proxy_loop_detected
    └── PolicyError                the client chose not to (re)send
        ├── CircuitOpenError       circuit_open
        ├── BudgetExhaustedError   budget_exhausted
        └── DeadlineExceededError  deadline_exceeded

``request_sent`` answers the question that decides whether a retry can duplicate a side effect: could the
upstream have acted on the request? It is False only when the request provably never left (DNS failure,
refused connection, open circuit).

Messages are redacted when the error is built, so ``str()``, ``repr()`` and pickles never carry a secret:
``message``, ``request_id``, ``upstream`` and ``args`` go through :mod:`upstreamkit.core.redact` whenever they
are set, at construction or later, whatever the caller passed (an adapter handing over a raw URL included).
Use :func:`make_error` to build the most specific class for a kind.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from upstreamkit.core.redact import redact_text, redact_url

__all__ = [
    "AuthError",
    "BudgetExhaustedError",
    "CircuitOpenError",
    "ConnectError",
    "DNSError",
    "DeadlineExceededError",
    "ErrorKind",
    "GatewayError",
    "Hop",
    "PayloadRejectedError",
    "PolicyError",
    "ProtocolError",
    "RateLimitedError",
    "RequestRejectedError",
    "ResponseError",
    "ResponseTimeoutError",
    "TLSError",
    "TransportError",
    "UpstreamError",
    "UpstreamUnavailableError",
    "make_error",
]


class ErrorKind(StrEnum):
    """What went wrong, in one word. RFC 9209 names where the RFC has one."""

    # RFC 9209 section 2.3: Proxy-Status error types.
    DNS_TIMEOUT = "dns_timeout"
    DNS_ERROR = "dns_error"
    DESTINATION_NOT_FOUND = "destination_not_found"
    DESTINATION_UNAVAILABLE = "destination_unavailable"
    DESTINATION_IP_PROHIBITED = "destination_ip_prohibited"
    DESTINATION_IP_UNROUTABLE = "destination_ip_unroutable"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_TERMINATED = "connection_terminated"
    CONNECTION_TIMEOUT = "connection_timeout"
    CONNECTION_READ_TIMEOUT = "connection_read_timeout"
    CONNECTION_WRITE_TIMEOUT = "connection_write_timeout"
    CONNECTION_LIMIT_REACHED = "connection_limit_reached"
    TLS_PROTOCOL_ERROR = "tls_protocol_error"
    TLS_CERTIFICATE_ERROR = "tls_certificate_error"
    TLS_ALERT_RECEIVED = "tls_alert_received"
    HTTP_REQUEST_ERROR = "http_request_error"
    HTTP_REQUEST_DENIED = "http_request_denied"
    HTTP_RESPONSE_INCOMPLETE = "http_response_incomplete"
    HTTP_RESPONSE_HEADER_SECTION_SIZE = "http_response_header_section_size"
    HTTP_RESPONSE_HEADER_SIZE = "http_response_header_size"
    HTTP_RESPONSE_BODY_SIZE = "http_response_body_size"
    HTTP_RESPONSE_TRAILER_SECTION_SIZE = "http_response_trailer_section_size"
    HTTP_RESPONSE_TRAILER_SIZE = "http_response_trailer_size"
    HTTP_RESPONSE_TRANSFER_CODING = "http_response_transfer_coding"
    HTTP_RESPONSE_CONTENT_CODING = "http_response_content_coding"
    HTTP_RESPONSE_TIMEOUT = "http_response_timeout"
    HTTP_UPGRADE_FAILED = "http_upgrade_failed"
    HTTP_PROTOCOL_ERROR = "http_protocol_error"
    PROXY_INTERNAL_RESPONSE = "proxy_internal_response"
    PROXY_INTERNAL_ERROR = "proxy_internal_error"
    PROXY_CONFIGURATION_ERROR = "proxy_configuration_error"
    PROXY_LOOP_DETECTED = "proxy_loop_detected"
    # The causes gateways hide behind "error 600".
    AUTH_EXPIRED = "auth_expired"
    AUTH_INVALID = "auth_invalid"
    AUTH_FORBIDDEN = "auth_forbidden"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_OUTAGE = "upstream_outage"
    UPSTREAM_600 = "upstream_600"
    REQUEST_TIMEOUT = "request_timeout"
    PAYLOAD_REJECTED = "payload_rejected"
    # The client's own decisions.
    CIRCUIT_OPEN = "circuit_open"
    BUDGET_EXHAUSTED = "budget_exhausted"
    DEADLINE_EXCEEDED = "deadline_exceeded"

    @property
    def is_rfc9209(self) -> bool:
        """True when the kind is one of RFC 9209's Proxy-Status error types."""
        return self in _RFC9209_KINDS


_RFC9209_KINDS = frozenset(list(ErrorKind)[: list(ErrorKind).index(ErrorKind.PROXY_LOOP_DETECTED) + 1])


class Hop(StrEnum):
    """Which hop produced the failure."""

    CLIENT = "client"  # this process decided (breaker, budget, deadline) or could not reach anything
    GATEWAY = "gateway"  # a proxy, CDN or API gateway between the client and the upstream
    UPSTREAM = "upstream"  # the API itself answered with the failure
    UNKNOWN = "unknown"


class UpstreamError(Exception):
    """An upstream call failed. The base of the taxonomy; see the module docstring for the tree."""

    kinds: ClassVar[frozenset[ErrorKind]] = frozenset()

    kind: ErrorKind
    message: str
    request_sent: bool
    attempts: int
    retry_after: float | None
    request_id: str | None
    upstream: str | None
    hop: Hop
    status: int | None

    def __init__(
        self,
        kind: ErrorKind | str,
        message: str = "",
        *,
        request_sent: bool = True,
        attempts: int = 1,
        retry_after: float | None = None,
        request_id: str | None = None,
        upstream: str | None = None,
        hop: Hop | str = Hop.UNKNOWN,
        status: int | None = None,
    ) -> None:
        super().__init__()
        self.kind = ErrorKind(kind)
        self.message = message  # redacted by __setattr__, as are request_id, upstream and args
        self.request_sent = request_sent
        self.attempts = attempts
        self.retry_after = retry_after
        self.request_id = request_id
        self.upstream = upstream
        self.hop = Hop(hop)
        self.status = status

    def __setattr__(self, name: str, value: Any) -> None:
        # The one door every field goes through: nothing unredacted can be stored, even after construction.
        redact = _REDACTORS.get(name)
        if redact is not None and value is not None:
            value = redact(value)
        super().__setattr__(name, value)
        if name == "message":
            super().__setattr__("args", (value,))

    def _fields(self) -> dict[str, Any]:
        return {
            "request_sent": self.request_sent,
            "attempts": self.attempts,
            "retry_after": self.retry_after,
            "request_id": self.request_id,
            "upstream": self.upstream,
            "hop": self.hop,
            "status": self.status,
        }

    def __str__(self) -> str:
        parts = [f"{self.kind}: {self.message}" if self.message else str(self.kind)]
        details = []
        if self.status is not None:
            details.append(f"status={self.status}")
        if self.upstream:
            details.append(f"upstream={self.upstream}")
        details.append(f"attempts={self.attempts}")
        if self.retry_after is not None:
            details.append(f"retry_after={self.retry_after:g}s")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        details.append(f"hop={self.hop}")
        details.append(f"request_sent={'yes' if self.request_sent else 'no'}")
        parts.append("(" + ", ".join(details) + ")")
        return " ".join(parts)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        return f"{type(self).__name__}(kind={str(self.kind)!r}, message={self.message!r}, {fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self.kind), self.message, self._fields()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (already redacted)."""
        data: dict[str, Any] = {"kind": str(self.kind), "message": self.message}
        data.update(self._fields())
        data["hop"] = str(self.hop)
        data["error"] = type(self).__name__
        return data


def _redact_args(args: Any) -> tuple[Any, ...]:
    items = args if isinstance(args, tuple | list) else (args,)
    return tuple(redact_text(item) if isinstance(item, str | bytes) else item for item in items)


_REDACTORS: dict[str, Any] = {
    "message": redact_text,
    "request_id": redact_text,
    "upstream": redact_url,
    "args": _redact_args,
}


def _rebuild(cls: type[UpstreamError], kind: str, message: str, fields: dict[str, Any]) -> UpstreamError:
    return cls(kind, message, **fields)


class TransportError(UpstreamError):
    """No usable HTTP response came back."""


class DNSError(TransportError):
    """The upstream's name did not resolve."""

    kinds = frozenset({ErrorKind.DNS_ERROR, ErrorKind.DNS_TIMEOUT, ErrorKind.DESTINATION_NOT_FOUND})


class ConnectError(TransportError):
    """No connection could be opened to the upstream."""

    kinds = frozenset(
        {
            ErrorKind.CONNECTION_REFUSED,
            ErrorKind.CONNECTION_TIMEOUT,
            ErrorKind.DESTINATION_UNAVAILABLE,
            ErrorKind.DESTINATION_IP_PROHIBITED,
            ErrorKind.DESTINATION_IP_UNROUTABLE,
            ErrorKind.CONNECTION_LIMIT_REACHED,
        }
    )


class TLSError(TransportError):
    """The TLS handshake failed: a certificate problem or a protocol mismatch."""

    kinds = frozenset({ErrorKind.TLS_CERTIFICATE_ERROR, ErrorKind.TLS_PROTOCOL_ERROR, ErrorKind.TLS_ALERT_RECEIVED})


class ResponseTimeoutError(TransportError):
    """The request left, and no complete response came back in time."""

    kinds = frozenset(
        {
            ErrorKind.HTTP_RESPONSE_TIMEOUT,
            ErrorKind.CONNECTION_READ_TIMEOUT,
            ErrorKind.CONNECTION_WRITE_TIMEOUT,
        }
    )


class ProtocolError(TransportError):
    """The connection broke, or the response violated HTTP."""

    kinds = frozenset(
        {
            ErrorKind.CONNECTION_TERMINATED,
            ErrorKind.HTTP_RESPONSE_INCOMPLETE,
            ErrorKind.HTTP_PROTOCOL_ERROR,
            ErrorKind.HTTP_RESPONSE_HEADER_SECTION_SIZE,
            ErrorKind.HTTP_RESPONSE_HEADER_SIZE,
            ErrorKind.HTTP_RESPONSE_BODY_SIZE,
            ErrorKind.HTTP_RESPONSE_TRAILER_SECTION_SIZE,
            ErrorKind.HTTP_RESPONSE_TRAILER_SIZE,
            ErrorKind.HTTP_RESPONSE_TRANSFER_CODING,
            ErrorKind.HTTP_RESPONSE_CONTENT_CODING,
            ErrorKind.HTTP_UPGRADE_FAILED,
        }
    )


class ResponseError(UpstreamError):
    """An HTTP response came back and it says the call failed."""


class AuthError(ResponseError):
    """The credentials were expired, invalid, or not allowed to do this."""

    kinds = frozenset({ErrorKind.AUTH_EXPIRED, ErrorKind.AUTH_INVALID, ErrorKind.AUTH_FORBIDDEN})


class RateLimitedError(ResponseError):
    """The upstream (or a gateway) throttled the call; ``retry_after`` says when to come back."""

    kinds = frozenset({ErrorKind.RATE_LIMITED})


class UpstreamUnavailableError(ResponseError):
    """The upstream is down, overloaded, or reported only "600"."""

    kinds = frozenset({ErrorKind.UPSTREAM_OUTAGE, ErrorKind.UPSTREAM_600, ErrorKind.REQUEST_TIMEOUT})


class PayloadRejectedError(ResponseError):
    """The upstream refused the request's content: too large, malformed, or failing validation."""

    kinds = frozenset({ErrorKind.PAYLOAD_REJECTED})


class RequestRejectedError(ResponseError):
    """The request was refused for a reason other than its credentials or payload."""

    kinds = frozenset({ErrorKind.HTTP_REQUEST_ERROR, ErrorKind.HTTP_REQUEST_DENIED})


class GatewayError(UpstreamError):
    """The proxy or gateway itself failed, before or instead of asking the upstream."""

    kinds = frozenset(
        {
            ErrorKind.PROXY_INTERNAL_ERROR,
            ErrorKind.PROXY_INTERNAL_RESPONSE,
            ErrorKind.PROXY_CONFIGURATION_ERROR,
            ErrorKind.PROXY_LOOP_DETECTED,
        }
    )


class PolicyError(UpstreamError):
    """The client decided not to send, or not to send again."""


class CircuitOpenError(PolicyError):
    """The circuit breaker for this upstream is open; ``retry_after`` is the time to the next probe."""

    kinds = frozenset({ErrorKind.CIRCUIT_OPEN})


class BudgetExhaustedError(PolicyError):
    """The retry budget for this upstream is spent; retrying now would amplify an outage."""

    kinds = frozenset({ErrorKind.BUDGET_EXHAUSTED})


class DeadlineExceededError(PolicyError):
    """The call's deadline passed, or the next wait would not fit before it."""

    kinds = frozenset({ErrorKind.DEADLINE_EXCEEDED})


def _leaf_classes() -> dict[ErrorKind, type[UpstreamError]]:
    table: dict[ErrorKind, type[UpstreamError]] = {}
    pending: list[type[UpstreamError]] = [UpstreamError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for kind in cls.kinds:
            table[kind] = cls
    return table


_CLASS_FOR_KIND = _leaf_classes()


def error_class(kind: ErrorKind | str) -> type[UpstreamError]:
    """The most specific :class:`UpstreamError` subclass for ``kind``."""
    return _CLASS_FOR_KIND[ErrorKind(kind)]


def make_error(
    kind: ErrorKind | str,
    message: str = "",
    *,
    request_sent: bool = True,
    attempts: int = 1,
    retry_after: float | None = None,
    request_id: str | None = None,
    upstream: str | None = None,
    hop: Hop | str = Hop.UNKNOWN,
    status: int | None = None,
) -> UpstreamError:
    """Build the most specific error for ``kind`` (``make_error("rate_limited")`` is a RateLimitedError)."""
    return error_class(kind)(
        kind,
        message,
        request_sent=request_sent,
        attempts=attempts,
        retry_after=retry_after,
        request_id=request_id,
        upstream=upstream,
        hop=hop,
        status=status,
    )
