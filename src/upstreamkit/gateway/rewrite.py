"""What the gateway changes of a request and a response on the way through (steps 2, 3 and 5 of :mod:`.proxy`).

The request: the caller's ``X-Request-Id`` kept when it is a sane token, else a new one; hop-by-hop fields (and
those ``Connection`` names) dropped, ``Host`` set to the upstream's, ``X-Forwarded-For`` and ``Forwarded``
appended, ``X-Request-Id`` set, the body re-framed with ``Content-Length``. The response passed through: its
hop-by-hop fields dropped, ``X-Request-Id`` set to the request's. Plain functions: the hot path calls each once.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from upstreamkit.core.redact import fingerprint
from upstreamkit.gateway.server import Request, Response

if TYPE_CHECKING:
    from upstreamkit.gateway.routes import Target
    from upstreamkit.gateway.upstream import UpstreamResponse

__all__ = [
    "HOP_BY_HOP",
    "connection_tokens",
    "credential_of",
    "has_key",
    "pass_through",
    "request_id_of",
    "upstream_head",
]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway itself, whatever the caller sent.
_REQUEST_OWN = frozenset({b"host", b"x-request-id", b"x-forwarded-for", b"forwarded", b"content-length", b"expect"})
_RESPONSE_OWN = frozenset({b"content-length", b"x-request-id"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:+/=-]{1,200}")
_CREDENTIAL_HEADERS = (b"authorization", b"x-api-key", b"api-key")


def connection_tokens(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The field names a ``Connection`` header lists (lower case): hop-by-hop for this message too."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b","))
    return frozenset(tokens)


def credential_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The fingerprint of the credential the caller sent (for the access log), never the credential."""
    for name, value in headers:
        if name.lower() in _CREDENTIAL_HEADERS:
            scheme, _, rest = value.strip().partition(b" ")
            secret = rest.strip() if rest.strip() else scheme
            return fingerprint(secret)
    return None


def _forwarded_for(client: str) -> bytes:
    return (f'for="[{client}]"' if ":" in client else f"for={client}").encode()


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-Id when it is a sane token (no spaces, no controls, <= 200 chars), else a new one."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            token = value.strip()
            if _REQUEST_ID_RE.fullmatch(token):
                return token.decode("ascii")
            break
    return os.urandom(16).hex()


def upstream_head(request: Request, routed: Target, request_id: str, strip: bytes = b"") -> bytes:
    """The request head to send upstream; ``strip``: the header the gateway sets itself (then the caller's
    ``Authorization`` is dropped too: an upstream the gateway authenticates to sees one identity)."""
    headers = request.headers
    drop = connection_tokens(headers) if any(n.lower() == b"connection" for n, _ in headers) else frozenset()
    route = routed.route
    parts = [
        request.method.encode("ascii"),
        b" ",
        routed.target.encode("latin-1"),
        b" HTTP/1.1\r\nhost: ",
        route.host_header.encode("idna") if not route.host_header.isascii() else route.host_header.encode(),
        b"\r\n",
    ]
    forwarded_for: list[bytes] = []
    forwarded: list[bytes] = []
    for name, value in headers:
        lower = name.lower()
        if (
            lower in HOP_BY_HOP
            or lower in _REQUEST_OWN
            or lower in drop
            or (strip and lower in (strip, b"authorization"))
        ):
            if lower == b"x-forwarded-for":
                forwarded_for.append(value.strip())
            elif lower == b"forwarded":
                forwarded.append(value.strip())
            continue
        parts += (name, b": ", value, b"\r\n")
    client = request.client.encode()
    forwarded_for.append(client)
    forwarded.append(_forwarded_for(request.client) + b";proto=http")
    parts += (b"x-forwarded-for: ", b", ".join(forwarded_for), b"\r\n")
    parts += (b"forwarded: ", b", ".join(forwarded), b"\r\n")
    parts += (b"x-request-id: ", request_id.encode(), b"\r\n")
    if request.body or request.method in _BODY_METHODS:
        parts.append(b"content-length: %d\r\n" % len(request.body))
    parts.append(b"\r\n")
    return b"".join(parts)


def pass_through(upstream: UpstreamResponse, request_id: str, method: str, log: dict[str, Any]) -> Response:
    """The upstream's answer as the caller gets it; an upstream's own different request id goes to ``log``."""
    drop = connection_tokens(upstream.headers)
    keep_length = method == "HEAD" or upstream.status == 304
    headers: list[tuple[bytes, bytes]] = []
    for name, value in upstream.headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in drop:
            continue
        if lower in _RESPONSE_OWN:
            if lower == b"x-request-id" and value != request_id.encode():
                log["upstream_request_id"] = value.decode("latin-1")
            if not (keep_length and lower == b"content-length"):
                continue
        headers.append((name, value))
    headers.append((b"x-request-id", request_id.encode()))
    return Response(upstream.status, headers, upstream.body, upstream.stream)


def has_key(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request carries an ``Idempotency-Key`` (a POST or PATCH may then be retried)."""
    return any(name.lower() == b"idempotency-key" for name, _ in headers)
