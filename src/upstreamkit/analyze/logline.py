"""One gateway log line read the way ``analyze`` reads it, for ``explain --log-line``: its format, its fields
and the knowledge base's signature for it, as an :class:`~upstreamkit.core.outcome.Outcome`.

The format is found as ``analyze --format auto`` finds a file's (:func:`~formats.detect_format`, with a
``--log-format`` tried first), the fields are read by :func:`~formats.parse_line`, and the signature comes from
:func:`~logsignatures.signature_of_line`: the same data and the same matcher as the analysis, so a line
``explain`` reads one way cannot be counted another way by ``analyze``. An access-log line that names no
cause is read by its status, as the analysis reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upstreamkit.analyze.formats import MAX_LINE, LogFormat, detect_format, lookup, parse_line
from upstreamkit.analyze.logsignatures import LogSignature, signature_of_line
from upstreamkit.analyze.steps import _status_kind  # the analysis's rule for a status that is the only evidence
from upstreamkit.core.classify import classify
from upstreamkit.core.outcome import Outcome, make_outcome
from upstreamkit.core.redact import redact_text
from upstreamkit.errors import Hop

__all__ = ["LogLine", "read_log_line"]

# The fields worth showing, in this order: the event column, then the words explain shows it under.
_SHOWN = (
    ("message", "message"),
    ("request", "request"),
    ("endpoint", "endpoint"),
    ("status", "status"),
    ("upstream_status", "upstream status"),
    ("upstream", "upstream"),
    ("client", "client"),
)
_PRODUCERS = {"nginx": "nginx", "haproxy": "HAProxy", "envoy": "Envoy", "caddy": "Caddy", "alb": "AWS ALB"}


@dataclass(frozen=True, slots=True)
class LogLine:
    """A log line as read: its format's name, the fields shown (redacted), the signature, the outcome."""

    format: str
    fields: dict[str, str]
    signature: LogSignature | None
    outcome: Outcome

    def to_dict(self) -> dict[str, Any]:
        """The ``log_line`` object of ``explain --json``."""
        return {
            "format": self.format,
            "fields": dict(self.fields),
            "signature": self.signature.id if self.signature else None,
        }


def _status(value: object) -> int | None:
    text = str(value).rsplit(",", 1)[-1].strip() if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) == 3 else None


def _shown(raw: Mapping[str, Any], fmt: LogFormat) -> dict[str, str]:
    shown: dict[str, str] = {"time": redact_text(str(raw.get(fmt.time_field, "")))}
    for column, words in _SHOWN:
        name = fmt.fields.get(column)
        value = lookup(raw, name) if name else None
        if value not in (None, "", "-"):
            shown[words] = redact_text(str(value))[:500]
    if fmt.flags:
        flags = raw.get(fmt.flags[0])
        if flags:
            shown["flags"] = redact_text(str(flags))
    return shown


def _message(raw: Mapping[str, Any], fmt: LogFormat) -> str | None:
    """The line's message field, unredacted, cut where the analysis's event row cuts it (512 characters):
    signatures match the text the analysis matches."""
    name = fmt.fields.get("message")
    value = lookup(raw, name) if name else None
    return value[:512] if isinstance(value, str) and value not in ("", "-") else None


def _producer(fmt: LogFormat, signature: LogSignature | None) -> str:
    if signature is not None:
        return signature.producer
    return next((name for prefix, name in _PRODUCERS.items() if fmt.name.startswith(prefix)), fmt.name)


def read_log_line(line: str, custom: LogFormat | None = None) -> LogLine | None:
    """``line`` read as a gateway log line; None when it is a line of no known format (nor of ``custom``) and
    holds no phrase a log signature knows (a bare phrase, or a line of a log without a format here, such as
    HAProxy's server-state lines, is read as ``text``)."""
    line = line[:MAX_LINE].strip("\r\n")
    fmt = detect_format([line], custom)
    raw = parse_line(line, fmt) if fmt is not None else None
    if fmt is None or raw is None:
        signature = signature_of_line(line[:512], None, None, None)
        if signature is None:
            return None
        fields = {"message": redact_text(line)[:500]}
        return LogLine("text", fields, signature, _outcome(fields, signature, None, signature.producer))
    fields = _shown(raw, fmt)
    status = _status(lookup(raw, fmt.fields["status"])) if "status" in fmt.fields else None
    flags = fields.get("flags")
    signature = signature_of_line(_message(raw, fmt), flags, status, fmt.flags[1] if fmt.flags else None)
    return LogLine(fmt.name, fields, signature, _outcome(fields, signature, status, _producer(fmt, signature)))


def _outcome(fields: dict[str, str], signature: LogSignature | None, status: int | None, producer: str) -> Outcome:
    evidence = tuple(f"{name}: {value}" for name, value in fields.items())
    if signature is not None:
        return make_outcome(
            signature.kind,
            signature.explanation or f"{producer} logged: {fields.get('message') or fields.get('flags')}",
            hop=Hop.GATEWAY,
            status=status,
            producer=producer,
            signature=signature.id,
            source=signature.source,
            fix=signature.fix,
            evidence=evidence,
        )
    if status is not None and _status_kind(status) is not None:  # no phrase or flag names a cause: the status
        by_status = classify(status)
        return Outcome(
            ok=by_status.ok,
            kind=by_status.kind,
            retryable=by_status.retryable,
            request_sent=by_status.request_sent,
            explanation=f"{producer} logged status {status}; the line names no cause. {by_status.explanation}",
            status=status,
            hop=by_status.hop,
            producer=producer,
            evidence=evidence,
        )
    return Outcome(
        ok=True,
        kind=None,
        retryable=False,
        request_sent=False,
        explanation="A log line that names no failure the knowledge base knows"
        + (f" (status {status} is not a failed upstream call)." if status is not None else "."),
        status=status,
        producer=producer,
        evidence=evidence,
    )
