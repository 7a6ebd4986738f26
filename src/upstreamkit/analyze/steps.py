"""From a log line's fields to one event row: a chain of small steps with one signature (after structlog).

Each step takes the event being built (a dict) and returns it, changed, or None to drop the line as
unparsable. :func:`chain` builds the steps for one format; :data:`COLUMNS` is the row the engine stores.
No step raises on any input: values of the wrong type or shape become None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from upstreamkit.analyze.formats import LogFormat, is_request, lookup
from upstreamkit.analyze.logsignatures import signature_of_line
from upstreamkit.core.classify import classify
from upstreamkit.core.redact import fingerprint
from upstreamkit.errors import ErrorKind

__all__ = ["COLUMNS", "Step", "chain", "normalize_path", "run_chain", "status_kinds"]

Step = Callable[[dict[str, Any]], dict[str, Any] | None]

COLUMNS: tuple[str, ...] = (
    "ts",
    "endpoint",
    "method",
    "upstream",
    "status",
    "upstream_status",
    "kind",
    "failed",
    "is_request",
    "duration_ms",
    "upstream_ms",
    "credential",
    "gateway",
    "client",
    "message",
    "file",
)
"""The events table's columns, in order."""

_TEXT_LIMIT = 512
_KINDS = frozenset(kind.value for kind in ErrorKind)
# Statuses that are a failure of the upstream call (or of the caller's right to make it); the rest are not.
_FAILING_4XX = frozenset({401, 407, 429})


def _text(value: object) -> str | None:
    """A short printable string, or None for absent values (nginx writes ``-``)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)[:_TEXT_LIMIT]
    if text in {"", "-"}:
        return None
    if text.isprintable():  # the common case, checked in C; the character loop only for the rare line
        return text
    return "".join(char if char.isprintable() else "?" for char in text)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 999 else None
    if isinstance(value, str):
        # nginx's $upstream_status lists every attempt ("502, 200"): the last one is the answer
        last = value.rsplit(",", 1)[-1].strip().rsplit(":", 1)[-1].strip()
        if last.isascii() and last.isdigit() and len(last) <= 3:
            return int(last)
    return None


def _float(value: object, scale: float = 1.0) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.rsplit(",", 1)[-1].strip()
        if len(value) > 32:
            return None
    try:
        number = float(value) * scale  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


@cache
def _status_kind(status: int) -> str | None:
    if status < 500 and status not in _FAILING_4XX:
        return None
    return str(classify(status).kind)


@cache
def status_kinds() -> dict[int, str]:
    """Every status (0-999) that is a failure, and its kind: what a line with no better evidence is read as."""
    return {status: kind for status in range(1000) if (kind := _status_kind(status)) is not None}


_ID = re.compile(
    r"(?<=/)(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # uuid
    r"|[0-9]+|[0-9a-fA-F]{16,}|[A-Za-z0-9_-]{24,})(?=/|$)"
)


def normalize_path(path: str) -> str:
    """The path without query, with numeric ids, uuids and long hex or opaque ids as ``{id}``."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    return _ID.sub("{id}", path)


def _parse_time(text: object, time_format: str) -> float | None:
    if time_format == "epoch":
        epoch = _float(text)
        return epoch if epoch is not None and epoch < 1e11 else None  # seconds; later than year 5000 is not
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        moment = (
            datetime.fromisoformat(text) if time_format == "rfc3339" else datetime.strptime(text, time_format)  # noqa: DTZ007 - a zoneless time is local (TZ)
        )
        epoch = moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return epoch if math.isfinite(epoch) else None


def chain(  # noqa: PLR0915 - the steps read top to bottom as one chain; each is small
    fmt: LogFormat, *, credential_field: str | None = None, file_index: int = 0
) -> tuple[Step, ...]:
    """The steps that turn one line of ``fmt`` (its fields, from :func:`~formats.parse_line`) into an event."""
    fields = dict(fmt.fields)
    if credential_field:
        fields["credential"] = credential_field.lstrip("$")
    last_time: list[tuple[str, float | None]] = [("", None)]
    flags_log = fmt.flags[1] if fmt.flags else None

    def columns(raw: dict[str, Any]) -> dict[str, Any] | None:
        event = {column: lookup(raw, name) for column, name in fields.items()}
        event["_time"] = raw.get(fmt.time_field)
        event["is_request"] = is_request(raw, fmt)
        event["_flags"] = raw.get(fmt.flags[0]) if fmt.flags else None
        return event

    def timestamp(event: dict[str, Any]) -> dict[str, Any] | None:
        text = event.pop("_time")
        if not isinstance(text, str):  # an epoch number: nothing to cache
            text = repr(text) if isinstance(text, (int, float)) and not isinstance(text, bool) else None
        cached_text, cached = last_time[0]
        if text != cached_text:  # many lines share a second: parse each distinct text once
            cached = _parse_time(text, fmt.time_format)
            last_time[0] = (text if isinstance(text, str) else "", cached)
        if cached is None:
            return None
        event["ts"] = cached
        return event

    def request_line(event: dict[str, Any]) -> dict[str, Any]:
        request = _text(event.pop("request", None))
        if request and event.get("endpoint") is None:
            parts = request.split(" ")
            if len(parts) >= 2:
                target = parts[1]
                if "://" in target:  # absolute form (ALB logs the whole URL): the path is what identifies
                    target = "/" + target.partition("://")[2].partition("/")[2]
                event["method"], event["endpoint"] = parts[0], target
        return event

    def values(event: dict[str, Any]) -> dict[str, Any]:
        for column in ("endpoint", "method", "upstream", "client", "message", "kind"):
            event[column] = _text(event.get(column))
        if event["endpoint"] is not None:
            event["endpoint"] = normalize_path(event["endpoint"])
        upstream = event["upstream"]
        if upstream is not None and "://" in upstream:  # nginx names the URL; the upstream is its origin
            scheme, _, rest = upstream.partition("://")
            event["upstream"] = f"{scheme}://{rest.split('/', 1)[0]}"
        event["status"] = _int(event.get("status"))
        event["upstream_status"] = _int(event.get("upstream_status"))
        for column in ("duration_ms", "upstream_ms"):
            event[column] = _float(event.get(column), fmt.scale.get(column, 1.0))
        gateway, region = _text(event.pop("gateway", None)), _text(event.pop("region", None))
        event["gateway"] = f"{gateway}/{region}" if gateway and region else gateway or region
        return event

    def credential(event: dict[str, Any]) -> dict[str, Any]:
        value = event.get("credential")
        text = value if isinstance(value, str) and value not in {"", "-"} else None
        if text is not None and not (text.startswith("sha256:") and len(text) <= 40):
            text = fingerprint(text)  # never store a credential, only its fingerprint
        event["credential"] = _text(text)
        return event

    def kind(event: dict[str, Any]) -> dict[str, Any]:
        given = event.get("kind")
        flags = event.pop("_flags", None)
        if given not in _KINDS:
            given = None
            flags_text = flags if isinstance(flags, str) else None
            signature = signature_of_line(event.get("message"), flags_text, event["status"], flags_log)
            if signature is not None:
                given = signature.kind.value
            elif event["status"] is not None:
                given = _status_kind(event["status"])
        event["kind"] = given
        event["failed"] = given is not None
        event["file"] = file_index
        return event

    return (columns, timestamp, request_line, values, credential, kind)


def run_chain(steps: tuple[Step, ...], raw: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The event row for one line's fields, or None when a step dropped it."""
    event = dict(raw)
    for step in steps:
        result = step(event)
        if result is None:
            return None
        event = result
    return tuple(event.get(column) for column in COLUMNS)
