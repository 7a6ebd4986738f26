"""Phase "body": what the last response body says — a 600 envelope, an error code and message, an HTML page.

Whether a body carries error 600 is :func:`upstreamkit.core.envelope.find_600`'s call (the shapes live
there, once); this phase only says *where* in the body the 600 sits, by asking ``find_600`` about each part.
Error names and messages are read from the common shapes: ``error``, ``error.message``, ``message``,
``detail``, ``title``, ``errors[0].message``, ``error_description``, Apigee's ``fault.faultstring``, AWS's
``Message``/``__type``; HTML error pages give their ``<title>``.

Facts:

- ``body.content_type`` (str | None): the response's Content-Type.
- ``body.json`` (bool): the body is a JSON object or array.
- ``body.json_error`` (str | None): the Content-Type says JSON but the body does not parse (cut short?).
- ``body.is_600`` (bool): the body carries error 600.
- ``body.envelope`` (str | None): where the 600 sits: ``"code"``, ``"status"``, ``"errorCode"``, ``"error"``
  (the word ``upstream_error``), ``"error.code"``, ``"errors[0].code"``, ``"fault.code"`` ...
- ``body.error`` (str | None): the error code or name the body gives (``invalid_token``, ``upstream_error``).
- ``body.message`` (str | None): the human message (redacted, at most 200 characters).
- ``body.reason_kind`` (str | None): the taxonomy kind the body's words name (``token expired`` →
  ``auth_expired``), per :func:`upstreamkit.core.envelope.reason_kind`.
- ``body.html_title`` (str | None): the ``<title>`` of an HTML body.
- ``body.size`` (int): bytes of the body looked at.

Status: failed when the body reports an error (a 600, an error code, or a message in a 4xx/5xx answer),
ok otherwise; skipped when no exchange got a response.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from upstreamkit.core.envelope import decode_json, envelope_text, find_600, reason_kind
from upstreamkit.core.redact import redact_text
from upstreamkit.diagnose.model import Exchange, PhaseResult, PhaseStatus, ProbeContext

__all__ = ["error_of", "last_response", "message_of", "probe"]

_MESSAGE_LIMIT = 200
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)

# (path, ...) read in order; the first non-empty string (or number, for codes) wins.
_ERROR_PATHS: tuple[tuple[str, ...], ...] = (
    ("error",),
    ("error", "code"),
    ("error", "type"),
    ("error", "status"),
    ("errors", "0", "code"),
    ("errors", "0", "type"),
    ("fault", "detail", "errorcode"),
    ("__type",),
    ("Code",),
    ("code",),
    ("errorCode",),
    ("error_code",),
    ("type",),
)
_MESSAGE_PATHS: tuple[tuple[str, ...], ...] = (
    ("error", "message"),
    ("message",),
    ("error_description",),
    ("detail",),
    ("errors", "0", "message"),
    ("errors", "0", "detail"),
    ("fault", "faultstring"),
    ("Message",),
    ("errorMessage",),
    ("error_message",),
    ("msg",),
    ("title",),
    ("error",),
)
# Numbers and words that are not an error's name: an HTTP status echoed in "code", a problem type URI's default.
_NOT_A_NAME = frozenset({"about:blank"})
_ERROR_CONTAINERS = frozenset({"error", "errors", "fault"})


def _at(document: Any, path: tuple[str, ...]) -> Any:
    current = document
    for part in path:
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def error_of(document: Any, *, success: bool = False) -> str | None:
    """The error code or name a decoded JSON body gives (``invalid_token``), or None.

    ``success``: the status was 2xx/3xx, where ``code`` or ``type`` may be ordinary data (an order's type),
    so only the error containers (``error``, ``errors``, ``fault``) count.
    """
    if isinstance(document, list) and document:
        document = document[0]
    for path in _ERROR_PATHS:
        if success and path[0] not in _ERROR_CONTAINERS:
            continue
        value = _at(document, path)
        if isinstance(value, str) and value.strip() and value.strip() not in _NOT_A_NAME:
            return value.strip()[:_MESSAGE_LIMIT]
        # A number names an error unless it is an echoed HTTP status (600 is not one).
        numeric = isinstance(value, int) and not isinstance(value, bool)
        if numeric and path[-1] in ("code", "errorCode", "error_code", "Code") and not 100 <= value <= 599:
            return str(value)
    return None


def message_of(document: Any, error: str | None = None) -> str | None:
    """The human message of a decoded JSON body (not the same text as ``error``), redacted and clipped."""
    if isinstance(document, list) and document:
        document = document[0]
    for path in _MESSAGE_PATHS:
        value = _at(document, path)
        if isinstance(value, str) and value.strip() and (value.strip() != error or path == ("error",)):
            return _clip(value)
    return None


def _clip(text: str) -> str:
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _where_600(document: Any) -> str | None:
    """Which part of the body holds the 600, asking :func:`find_600` about one key at a time."""
    if isinstance(document, list) and document:
        document = document[0]
    if not isinstance(document, Mapping):
        return None
    for key, value in document.items():
        if not isinstance(value, Mapping | list) and find_600({key: value}):
            return str(key)
    for container in ("error", "errors", "fault"):
        inner = document.get(container)
        first = inner[0] if isinstance(inner, list) and inner else inner
        if not isinstance(first, Mapping):
            continue
        prefix = f"{container}[0]" if isinstance(inner, list) else container
        for key, value in first.items():
            if not isinstance(value, Mapping | list) and find_600({key: value}):
                return f"{prefix}.{key}"
    return "body" if find_600(document) else None


def last_response(exchanges: list[Exchange]) -> Exchange | None:
    """The last exchange that got a response (status known), or None."""
    return next((exchange for exchange in reversed(exchanges) if exchange.status is not None), None)


def _json_error(text: str, content_type: str | None) -> str | None:
    if "json" not in (content_type or "").lower() or not text.strip():
        return None
    try:
        json.loads(text)
    except ValueError as exc:
        return _clip(str(exc))
    except RecursionError:
        return "it nests deeper than the JSON decoder goes"
    return None


def probe(ctx: ProbeContext) -> PhaseResult:
    """Read the last response body for a 600 envelope, an error name and message, or an HTML title."""
    began = time.perf_counter()
    exchange = last_response(ctx.exchanges)
    if exchange is None:
        return ctx.skip("body", "skipped: no response to read")
    content_type = exchange.response_header("content-type")
    text = exchange.response_body.decode("utf-8", "replace")
    document = decode_json(text)
    is_json = document is not None
    failing = exchange.status is not None and exchange.status >= 400
    is_600 = is_json and find_600(document)
    error = error_of(document, success=not failing and not is_600) if is_json else None
    message = message_of(document, error) if is_json else None
    title = None
    if not is_json and ("html" in (content_type or "").lower() or text.lstrip()[:1] == "<"):
        found = _TITLE.search(text)
        title = _clip(html.unescape(found.group(1))) if found else None
        message = message or title
    words = envelope_text(document) if is_json else (title or "")
    named = reason_kind(words) if words else None
    facts: dict[str, Any] = {
        "body.content_type": content_type,
        "body.json": is_json,
        "body.json_error": None if is_json else _json_error(text, content_type),
        "body.is_600": is_600,
        "body.envelope": _where_600(document) if is_600 else None,
        "body.error": redact_text(error) if error else None,
        "body.message": message,
        "body.reason_kind": None if named is None else str(named),
        "body.html_title": title,
        "body.size": len(exchange.response_body),
    }
    reports_error = is_600 or error is not None or (failing and message is not None)
    status: PhaseStatus = "failed" if reports_error else "ok"
    parts: list[str] = []
    if is_600:
        parts.append(f"error 600 in the body ({facts['body.envelope']})")
    if error is not None:
        parts.append(f"error {facts['body.error']}")
    if message is not None and message != facts["body.error"]:
        parts.append(f'"{message}"')
    if facts["body.json_error"]:
        parts.append(f"{content_type} that does not parse: {facts['body.json_error']}")
    if not parts:
        kind = "JSON" if is_json else (content_type or "untyped").split(";")[0]
        parts.append("empty body" if not text.strip() else f"{kind} body, no error in it")
    detail = "; ".join(parts)
    lines = [f"{name}: {value}" for name, value in facts.items() if value not in (None, False, "")]
    ctx.log.append(f"body: {detail}")
    return PhaseResult("body", status, (time.perf_counter() - began) * 1000, detail, facts, lines)
