"""Error envelopes in response bodies: "600" codes, and the words that name a cause.

Gateways and APIs wrap failures in JSON of a few common shapes (``{"code": 600, "error": "..."}``,
``{"error": {"code": 600, "message": "..."}}``, ``{"errors": [...]}``, Apigee's ``{"fault": {...}}``).
This module finds a 600 in them and reads their words: ``gateway_timeout``, ``token expired`` and so on.

Every function here is total, in linear time, for any input: a body of any bytes decoded any way (lone
surrogates included, which ``json.loads`` gives for ``"\\ud800"``), any nesting depth, any size. Limits:

- :func:`decode_json` decodes at most :data:`JSON_SIZE_LIMIT` characters (64 KiB, what classification
  reads of a body; at its worst, text of many tiny containers, measuring the depth and decoding take about
  10 ms each) and at most :data:`JSON_DEPTH_LIMIT` levels of nesting (64); beyond either it answers ``None``, as for
  any text that is not JSON. The depth is measured on the text, before decoding, without recursion; so
  nothing it returns can overflow the stack of a recursive reader.
- :func:`reason_kind` reads the first :data:`REASON_SCAN_LIMIT` characters (64 KiB) of the text.
- :func:`envelope_text` returns well-formed text (lone surrogates become U+FFFD).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from itertools import accumulate
from typing import Any

from upstreamkit.core._text import well_formed
from upstreamkit.errors import ErrorKind

__all__ = [
    "JSON_DEPTH_LIMIT",
    "JSON_SIZE_LIMIT",
    "REASON_SCAN_LIMIT",
    "decode_json",
    "envelope_text",
    "find_600",
    "reason_kind",
]

#: The longest text :func:`decode_json` decodes, in characters (64 KiB); longer text is not read.
JSON_SIZE_LIMIT = 65_536
#: The deepest nesting :func:`decode_json` returns; error envelopes are two or three levels deep.
JSON_DEPTH_LIMIT = 64
#: How many characters of a text :func:`reason_kind` reads: the words that name a cause come first.
REASON_SCAN_LIMIT = 65_536

_CODE_600 = 600

# --- words that name a cause, in 600 envelopes and other free-form error text ------------------------------

_SEP = r"[\s_.-]?"
# The patterns are lower case and searched in lower-cased text: the engine is about ten times faster
# without re.IGNORECASE.
_REASONS: tuple[tuple[re.Pattern[str], ErrorKind], ...] = tuple(
    (re.compile(pattern), kind)
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
    """The kind that free-form error text names, first rule wins; None when it names none.

    Reads the first :data:`REASON_SCAN_LIMIT` characters.
    """
    text = text[:REASON_SCAN_LIMIT].lower()
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
    """The body decoded as JSON when it looks like JSON (an object or an array); None otherwise.

    Also None for text longer than :data:`JSON_SIZE_LIMIT` and for JSON nested deeper than
    :data:`JSON_DEPTH_LIMIT`. Strings keep what the JSON says, lone surrogates included.
    """
    if len(text) > JSON_SIZE_LIMIT:
        return None
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    # Counting openers bounds the depth from above (brackets inside strings only add to the count): the
    # exact measure is needed only for text with many containers.
    if stripped.count("[") + stripped.count("{") > JSON_DEPTH_LIMIT and _nesting(stripped) > JSON_DEPTH_LIMIT:
        return None
    try:
        return json.loads(stripped)
    # The C decoder recurses once per level: RecursionError is still possible when the caller's own stack is
    # already deep.
    except (ValueError, RecursionError):
        return None


_JSON_STRING_RE = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS_RE = re.compile(r"[^\[\]{}]++")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _nesting(text: str) -> int:
    """How deep the brackets of JSON text nest, strings left out: exact for valid JSON, linear, no recursion."""
    brackets = _NOT_BRACKETS_RE.sub("", _JSON_STRING_RE.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


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
    return well_formed(" | ".join(dict.fromkeys(words)))


def find_600(payload: Any) -> bool:
    """True when a decoded body carries error 600 in one of the shapes gateways use."""
    for envelope in _envelopes(payload):
        if any(_is_600(envelope.get(key)) for key in _CODE_KEYS):
            return True
        error = envelope.get("error")
        if isinstance(error, str) and error.strip().lower() in _600_WORDS:
            return True
    return False
