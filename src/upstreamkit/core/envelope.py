"""Error envelopes in response bodies: "600" codes, and the words that name a cause.

Gateways and APIs wrap failures in JSON of a few common shapes (``{"code": 600, "error": "..."}``,
``{"error": {"code": 600, "message": "..."}}``, ``{"errors": [...]}``, Apigee's ``{"fault": {...}}``).
This module finds a 600 in them and reads their words: ``gateway_timeout``, ``token expired`` and so on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from upstreamkit.errors import ErrorKind

__all__ = ["decode_json", "envelope_text", "find_600", "reason_kind"]

_CODE_600 = 600

# --- words that name a cause, in 600 envelopes and other free-form error text ------------------------------

_SEP = r"[\s_.-]?"
_REASONS: tuple[tuple[re.Pattern[str], ErrorKind], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (rf"connect(?:ion)?{_SEP}time{_SEP}?out|etimedout", ErrorKind.CONNECTION_TIMEOUT),
        (
            (
                rf"gateway{_SEP}time{_SEP}?out|upstream{_SEP}(?:request{_SEP})?time{_SEP}?out|timed{_SEP}out"
                rf"|time{_SEP}?out|deadline{_SEP}exceeded"
            ),
            ErrorKind.HTTP_RESPONSE_TIMEOUT,
        ),
        (
            (
                rf"(?:token|session|credential|jwt|signature){_SEP}(?:has{_SEP})?(?:is{_SEP})?expired"
                rf"|expired{_SEP}(?:access{_SEP})?(?:token|session|credential)|token{_SEP}expir"
            ),
            ErrorKind.AUTH_EXPIRED,
        ),
        (rf"rate{_SEP}limit|throttl|too{_SEP}many{_SEP}requests|quota|ratelimited", ErrorKind.RATE_LIMITED),
        (
            (
                rf"invalid{_SEP}(?:access{_SEP})?(?:token|key|api{_SEP}key|credentials?|auth|session)"
                rf"|unauthori[sz]ed|bad{_SEP}credentials|not{_SEP}authed|unauthenticated"
            ),
            ErrorKind.AUTH_INVALID,
        ),
        (rf"forbidden|permission{_SEP}denied|access{_SEP}denied", ErrorKind.AUTH_FORBIDDEN),
        (rf"name{_SEP}resolution|dns|could{_SEP}not{_SEP}resolve|nxdomain", ErrorKind.DNS_ERROR),
        (rf"connection{_SEP}refused|econnrefused", ErrorKind.CONNECTION_REFUSED),
        (
            rf"connection{_SEP}(?:reset|closed|terminated)|econnreset|socket{_SEP}hang{_SEP}up",
            ErrorKind.CONNECTION_TERMINATED,
        ),
        (
            rf"certificate|ssl{_SEP}(?:handshake|error)|tls{_SEP}(?:handshake|error)",
            ErrorKind.TLS_CERTIFICATE_ERROR,
        ),
        (
            (
                rf"service{_SEP}unavailable|unavailable|outage|overloaded|maintenance|no{_SEP}healthy{_SEP}upstream"
                rf"|bad{_SEP}gateway"
            ),
            ErrorKind.UPSTREAM_OUTAGE,
        ),
        (
            rf"payload{_SEP}too{_SEP}large|entity{_SEP}too{_SEP}large|validation|malformed|invalid{_SEP}(?:json|body|request)",
            ErrorKind.PAYLOAD_REJECTED,
        ),
    )
)


def reason_kind(text: str) -> ErrorKind | None:
    """The kind that free-form error text names, first rule wins; None when it names none."""
    for pattern, kind in _REASONS:
        if pattern.search(text):
            return kind
    return None


# --- JSON envelopes --------------------------------------------------------------------------------------

_CODE_KEYS = (
    "code",
    "status",
    "errorCode",
    "error_code",
    "statusCode",
    "status_code",
    "errcode",
    "errno",
    "ret",
    "retcode",
    "error",
)
_TEXT_KEYS = (
    "error",
    "message",
    "msg",
    "reason",
    "detail",
    "details",
    "description",
    "error_description",
    "errorMessage",
    "error_message",
    "errmsg",
    "type",
    "title",
    "status",
    "code",
    "errorCode",
)
_600_WORDS = frozenset({"upstream_error", "gateway_timeout"})


def decode_json(text: str) -> Any:
    """The body decoded as JSON when it looks like JSON; None otherwise."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _is_600(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == _CODE_600
    return isinstance(value, str) and value.strip() == "600"


def _envelopes(payload: Any) -> Iterator[Mapping[str, Any]]:
    """The objects an error envelope may be: the body, its "error" object, the first of "errors"."""
    if isinstance(payload, list) and payload and isinstance(payload[0], Mapping):
        payload = payload[0]
    if not isinstance(payload, Mapping):
        return
    yield payload
    inner = payload.get("error")
    if isinstance(inner, Mapping):
        yield inner
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        yield errors[0]
    fault = payload.get("fault")
    if isinstance(fault, Mapping):
        yield fault


def envelope_text(payload: Any) -> str:
    """The human words of an error envelope (error, message, reason, detail ...), joined by " | "."""
    words: list[str] = []
    for envelope in _envelopes(payload):
        for key in _TEXT_KEYS:
            value = envelope.get(key)
            if isinstance(value, str) and value.strip() and value.strip() != "600":
                words.append(value.strip())
    return " | ".join(dict.fromkeys(words))


def find_600(payload: Any) -> bool:
    """True when a decoded body carries error 600 in one of the shapes gateways use."""
    for envelope in _envelopes(payload):
        if any(_is_600(envelope.get(key)) for key in _CODE_KEYS):
            return True
        error = envelope.get("error")
        if isinstance(error, str) and error.strip().lower() in _600_WORDS:
            return True
    return False
