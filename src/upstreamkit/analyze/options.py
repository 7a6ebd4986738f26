"""What ``analyze`` is asked to do, read from the command line: formats, window, bucket, the user's events.

Every malformed value raises :class:`AnalyzeUsageError` with a one-line message naming the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from upstreamkit.analyze.formats import LogFormat
from upstreamkit.core.redact import redact_text

__all__ = [
    "AnalyzeOptions",
    "AnalyzeUsageError",
    "UserEvent",
    "parse_bucket",
    "parse_moment",
    "read_user_events",
    "rfc3339",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_BUCKET = re.compile(r"([0-9]{1,9})(ms|s|m|h|d)")
MAX_USER_EVENTS = 10_000


class AnalyzeUsageError(Exception):
    """A mistake in the command line or an input named on it: one line for the user, exit code 2."""


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A line of ``--events``: a deploy, a config change ... at a moment."""

    ts: float
    text: str


@dataclass(frozen=True, slots=True)
class AnalyzeOptions:
    """The analysis's settings (defaults are the command's)."""

    format: str = "auto"
    custom_format: LogFormat | None = None
    """``--log-format`` compiled."""
    credential_field: str | None = None
    since: float | None = None
    until: float | None = None
    bucket_s: float = 60.0
    user_events: tuple[UserEvent, ...] = field(default_factory=tuple)


def parse_bucket(text: str) -> float:
    """``250ms``, ``30s``, ``1m``, ``1h``, ``1d`` → seconds."""
    match = _BUCKET.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise AnalyzeUsageError(f"--bucket {text!r} is not a duration such as 250ms, 30s, 1m, 1h")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_moment(text: str, what: str = "time") -> float:
    """An RFC 3339 time (a zoneless one is local time, ``TZ`` respected) → epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise AnalyzeUsageError(f"{what} {text!r} is not an RFC 3339 time such as 2026-11-28T14:00:00Z") from None


def rfc3339(epoch: float) -> str:
    """``2026-11-28T14:00:00.123Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_user_events(path: str) -> tuple[UserEvent, ...]:
    """The ``--events`` file: one ``RFC3339 text`` per line; blank lines and ``#`` comments skipped."""
    try:
        content = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AnalyzeUsageError(f"--events {path}: cannot be read ({exc.strerror or exc})") from None
    events: list[UserEvent] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        moment, _, text = line.strip().partition(" ")
        ts = parse_moment(moment, f"--events {path} line {number}:")
        events.append(UserEvent(ts, redact_text(text.strip()[:500])))
        if len(events) > MAX_USER_EVENTS:
            raise AnalyzeUsageError(f"--events {path}: more than {MAX_USER_EVENTS} events")
    return tuple(sorted(events, key=lambda event: event.ts))
