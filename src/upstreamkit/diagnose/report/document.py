"""The report as one redacted JSON document: the single place where a diagnosis is made safe to show.

Every output (``--json``, report.md, the terminal report, the support bundle) is rendered from
:func:`report_to_json`'s result, never from the raw :class:`~upstreamkit.diagnose.model.Report`, so redaction
has one choke point: URLs through ``redact_url``, headers through ``redact_headers``, bodies through
``redact_body`` (then clipped), facts through ``redact_json``, and every free-text string (details, lines,
evidence, fixes, errors, the checklist) through ``redact_text`` as a last line of defence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from http import HTTPStatus
from typing import Any

from upstreamkit._version import __version__
from upstreamkit.core.headers import find_request_id
from upstreamkit.core.redact import (
    fingerprint,
    is_secret_name,
    redact_body,
    redact_headers,
    redact_json,
    redact_text,
    redact_url,
)
from upstreamkit.diagnose._text import valid_text
from upstreamkit.diagnose.model import Cause, Exchange, PhaseResult, Report
from upstreamkit.knowledge import kind_info

__all__ = [
    "BODY_LIMIT",
    "cause_title",
    "dumps",
    "iso_utc",
    "report_to_json",
    "request_text",
    "response_text",
    "verdict",
]

BODY_LIMIT = 64 * 1024
"""Characters of each (redacted) body a report keeps."""
_REDACT_LIMIT = 1024 * 1024
"""Bytes of a body that are redacted at all (the http phase reads no more than this)."""
_CUT_MARGIN = 4096
"""Characters dropped after a body cut at :data:`_REDACT_LIMIT`: longer than any credential."""


def iso_utc(epoch: float | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a ``Z`` (``2024-06-10T08:00:01.250Z``); None for None or 0."""
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cause_title(cause: Cause) -> str:
    """The cause's title, else the knowledge base's title for its kind, else the kind itself."""
    if cause.title:
        return cause.title
    try:
        return kind_info(cause.kind).title
    except (KeyError, ValueError):
        return str(cause.kind)


def verdict(document: Mapping[str, Any]) -> str:
    """One line: ``HEALTHY``, ``INCOMPLETE`` (a check could not finish, no cause found), or the most likely
    cause with its likelihood (and the unfinished checks, if any)."""
    causes = document.get("causes") or []
    unfinished = ", ".join(document.get("unfinished") or [])
    if not causes:
        if unfinished:
            return f"INCOMPLETE: no cause found, but {unfinished} could not finish its check"
        return "HEALTHY: no cause found"
    top = causes[0]
    line = f"{top['title']} ({top['kind']}), likelihood {top['likelihood']:.0%}"
    return f"{line}; {unfinished} could not finish its check" if unfinished else line


def report_to_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready dict with every secret replaced by its fingerprint.

    ``json.dumps`` always succeeds on the result: facts that are not JSON values are converted.
    """
    document: dict[str, Any] = {
        "version": __version__,
        "url": redact_url(report.url),
        "method": report.method,
        "healthy": report.healthy,
        "incomplete": report.incomplete,
        "unfinished": report.unfinished,
        "started": iso_utc(report.started),
        "total_ms": _ms(report.total_ms),
        "request_id": redact_text(report.request_id) if report.request_id else None,
        "phases": [_phase(phase) for phase in report.phases],
        "causes": [_cause(cause) for cause in sorted(report.causes, key=lambda c: -c.likelihood)],
        "exchanges": [_exchange(exchange) for exchange in report.exchanges],
        "checklist": [redact_text(str(line)) for line in report.checklist],
    }
    document["verdict"] = verdict(document)
    # Every output encodes the document as UTF-8 (the terminal, report.md, the bundle): no lone surrogates.
    return valid_text(document)  # type: ignore[no-any-return]


def _ms(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 1)


def _phase(phase: PhaseResult) -> dict[str, Any]:
    return {
        "name": phase.name,
        "ok": phase.ok,
        "status": phase.status,
        "ms": _ms(phase.ms),
        "detail": redact_text(phase.detail),
        "error": redact_text(phase.error) if phase.error is not None else None,
        "facts": {str(key): _fact(str(key), value) for key, value in phase.facts.items()},
        "lines": [redact_text(str(line)) for line in phase.lines],
    }


def _cause(cause: Cause) -> dict[str, Any]:
    data = cause.to_json()
    data["title"] = redact_text(cause_title(cause))
    data["likelihood"] = min(1.0, max(0.0, float(data["likelihood"])))
    data["evidence"] = [redact_text(str(line)) for line in data["evidence"]]
    data["fix"] = redact_text(str(data["fix"]))
    data["more_fixes"] = [{**fix, "fix": redact_text(str(fix["fix"]))} for fix in data["more_fixes"]]
    return _plain(data)  # type: ignore[no-any-return]


def _fact(key: str, value: Any) -> Any:
    """One fact, redacted. Keys are namespaced (``credentials.present``), so the secret-name rule looks at
    the last segment only: applied to the whole key, ``credentials.`` would hide every credentials fact."""
    plain = _plain(value)
    leaf = key.rsplit(".", 1)[-1]
    if not is_secret_name(leaf):
        return redact_json(plain)
    if plain is None or isinstance(plain, bool | int | float):
        return plain  # counts, flags and times under a secret-sounding name (token_expires_in) are no secret
    if isinstance(plain, str):
        return plain if _is_fingerprint(plain) else fingerprint(plain)
    return redact_json({leaf: plain})[leaf]


def _is_fingerprint(text: str) -> bool:
    return text.startswith("sha256:") and len(text) == 15 and all(c in "0123456789abcdef" for c in text[7:])


def _plain(value: Any) -> Any:
    """``value`` as plain JSON: containers as dicts and lists, bytes decoded, non-finite floats as None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _exchange(exchange: Exchange) -> dict[str, Any]:
    found = find_request_id(exchange.response_headers) if exchange.response_headers else None
    request_body, request_cut = _body(exchange.request_body, _content_type(exchange.request_headers))
    response_body, response_cut = _body(exchange.response_body, _content_type(exchange.response_headers))
    return {
        "method": exchange.method,
        "url": redact_url(exchange.url),
        "started": iso_utc(exchange.started),
        "http_version": exchange.http_version,
        "status": exchange.status,
        "reason": _reason(exchange.status),
        "request_headers": [list(pair) for pair in redact_headers(exchange.request_headers)],
        "request_body": request_body,
        "request_body_truncated": request_cut,
        "response_headers": [list(pair) for pair in redact_headers(exchange.response_headers)],
        "response_body": response_body,
        "response_body_truncated": response_cut,
        "response_bytes": len(exchange.response_body or b""),
        "ttfb_ms": _ms(exchange.ttfb_ms),
        "total_ms": _ms(exchange.total_ms),
        "error": redact_text(exchange.error) if exchange.error else None,
        "error_kind": str(exchange.error_kind) if exchange.error_kind else None,
        "request_id": redact_text(found[1]) if found else None,
    }


def _content_type(headers: Sequence[tuple[str, str]]) -> str | None:
    return next((value for name, value in headers if name.lower() == "content-type"), None)


def _reason(status: int | None) -> str:
    if status is None:
        return ""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _body(body: bytes | None, content_type: str | None) -> tuple[str | None, bool]:
    """The body redacted, then clipped to :data:`BODY_LIMIT` characters; and whether it was clipped."""
    if body is None:
        return None, False
    raw = bytes(body)
    cut = len(raw) > _REDACT_LIMIT
    text = _redacted_body(raw[:_REDACT_LIMIT], content_type)
    if cut:
        # The raw cut may split a secret (a cut-off "password": "hun... matches no rule), and redaction
        # keeps text in place: drop the tail where such a fragment can sit.
        text = text[: max(len(text) - _CUT_MARGIN, 0)]
    if len(text) > BODY_LIMIT:
        return text[:BODY_LIMIT], True
    return text, cut


def _redacted_body(raw: bytes, content_type: str | None) -> str:
    """``redact_body``, falling back to free-text redaction, then to a placeholder: a body that no redactor
    can read (nested 10,000 deep, say) is never shown unredacted, and never stops the report."""
    attempts: tuple[Callable[[], str], ...] = (
        lambda: redact_body(raw, content_type),
        lambda: redact_text(raw.decode("utf-8", "replace")),
    )
    failure = ""
    for attempt in attempts:
        try:
            return attempt()
        except Exception as exc:  # noqa: BLE001 - see the docstring
            failure = type(exc).__name__
    return f"[{len(raw)} bytes not shown: they could not be redacted ({failure})]"


# --- plain-text request and response, for report.md and the bundle --------------------------------------


def request_text(exchange: Mapping[str, Any]) -> str:
    """An exchange's request as sent (from :func:`report_to_json`'s ``exchanges``): request line, headers, body."""
    version = exchange.get("http_version") or "HTTP/1.1"
    lines = [f"{exchange['method']} {exchange['url']} {version}"]
    lines += [f"{name}: {value}" for name, value in exchange["request_headers"]]
    return _with_body(lines, exchange.get("request_body"), truncated=bool(exchange.get("request_body_truncated")))


def response_text(exchange: Mapping[str, Any]) -> str:
    """An exchange's response as received: status line, headers, body; or the transport error."""
    if exchange.get("status") is None:
        error = exchange.get("error") or "no response"
        kind = f" [{exchange['error_kind']}]" if exchange.get("error_kind") else ""
        return f"(no response: {error}{kind})\n"
    version = exchange.get("http_version") or "HTTP/1.1"
    lines = [f"{version} {exchange['status']} {exchange.get('reason') or ''}".rstrip()]
    lines += [f"{name}: {value}" for name, value in exchange["response_headers"]]
    return _with_body(lines, exchange.get("response_body"), truncated=bool(exchange.get("response_body_truncated")))


def _with_body(lines: list[str], body: str | None, *, truncated: bool) -> str:
    text = "\n".join(lines) + "\n"
    if body:
        text += "\n" + body + ("\n" if not body.endswith("\n") else "")
        if truncated:
            text += f"[... cut at {BODY_LIMIT // 1024} KiB]\n"
    return text


def dumps(document: Mapping[str, Any]) -> str:
    """The document as indented JSON text (UTF-8 kept readable)."""
    return json.dumps(document, indent=2, ensure_ascii=False)
