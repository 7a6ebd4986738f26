"""LoggingHook: one structured, redacted log record per event, through the standard library's logging.

Each record has a message a person can read (``retry 2 of GET https://api.example.com:443 in 0.35s:
rate_limited: backoff (HTTP 429)``) and the event's fields under ``record.upstreamkit`` (a dict, with
``event`` naming the event) for JSON formatters and structlog's stdlib bridge. The events arrive redacted;
everything is redacted again on the way out, because a log line is an exit (DESIGN.md, "Redaction").
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from upstreamkit.core.events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    BreakerStateChanged,
    Event,
    GaveUp,
    RetryScheduled,
    Throttled,
    TokenRefreshed,
)
from upstreamkit.core.redact import redact_text, redact_url

__all__ = ["EXTRA_KEY", "LoggingHook"]

EXTRA_KEY = "upstreamkit"
"""The attribute of the log record that holds the event's fields."""

_EVENT_NAMES: dict[type[Any], str] = {
    AttemptStarted: "attempt_started",
    AttemptSucceeded: "attempt_succeeded",
    AttemptFailed: "attempt_failed",
    RetryScheduled: "retry_scheduled",
    GaveUp: "gave_up",
    BreakerStateChanged: "breaker_state_changed",
    Throttled: "throttled",
    TokenRefreshed: "token_refreshed",
}
# Retry and give-up events carry neither method nor status; the failed attempt before them does.
_MEMORY = 1024


class LoggingHook:
    """Log every event as one record on ``logger`` (default ``logging.getLogger("upstreamkit.events")``).

    Levels: attempts started and succeeded at ``level_ok``; failed attempts, retries, throttling, token
    refreshes and breakers closing at ``level_retry``; give-ups and breakers opening at ``level_fail``.
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        level_ok: int = logging.DEBUG,
        level_retry: int = logging.INFO,
        level_fail: int = logging.WARNING,
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger("upstreamkit.events")
        self.level_ok = level_ok
        self.level_retry = level_retry
        self.level_fail = level_fail
        self._last_failure: OrderedDict[tuple[str, str], AttemptFailed] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LoggingHook(logger={self.logger.name!r})"

    def __call__(self, event: Event) -> None:
        """Log one event."""
        failed = self._remember(event)
        level = self._level(event)
        if not self.logger.isEnabledFor(level):
            return
        self.logger.log(level, _message(event, failed), extra={EXTRA_KEY: event_fields(event)})

    def _level(self, event: Event) -> int:
        if isinstance(event, AttemptStarted | AttemptSucceeded):
            return self.level_ok
        if isinstance(event, GaveUp):
            return self.level_fail
        if isinstance(event, BreakerStateChanged) and event.new == "open":
            return self.level_fail
        return self.level_retry

    def _remember(self, event: Event) -> AttemptFailed | None:
        # The failure that a retry or give-up follows, for the method and status in their messages. Keyed by
        # logical call; a call without a request id (the decorator's) is not remembered, as concurrent calls
        # would share the key. Bounded, so calls that end without a retry or give-up event cannot pile up.
        if isinstance(event, AttemptFailed):
            if event.request_id:
                with self._lock:
                    self._last_failure[event.upstream, event.request_id] = event
                    if len(self._last_failure) > _MEMORY:
                        self._last_failure.popitem(last=False)
            return None
        if isinstance(event, RetryScheduled | GaveUp) and event.request_id:
            with self._lock:
                return self._last_failure.pop((event.upstream, event.request_id), None)
        return None


def event_fields(event: Event) -> dict[str, Any]:
    """The event as a flat dict of JSON-ready, redacted values, with ``event`` naming its type."""
    out: dict[str, Any] = {"event": _EVENT_NAMES.get(type(event), type(event).__name__)}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, str):  # an ErrorKind is a str too: str() gives its plain value
            value = redact_url(value) if f.name == "upstream" else redact_text(str(value))
        out[f.name] = value
    return out


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if abs(value) >= 100 else f"{value:.3g}s"


def _status(status: int | None, *, is_600: bool = False) -> str:
    parts = [] if status is None else [f"HTTP {status}"]
    if is_600 and status != 600:
        parts.append("error 600")
    return f" ({', '.join(parts)})" if parts else ""


def _message(event: Event, failed: AttemptFailed | None) -> str:
    upstream = redact_url(event.upstream)
    method = f"{redact_text(failed.method)} " if failed is not None else ""
    status = _status(failed.status, is_600=failed.is_600) if failed is not None else ""
    text = f"{type(event).__name__} for {upstream}"
    match event:
        case AttemptStarted():
            timeout = "" if event.timeout is None else f" (timeout {_seconds(event.timeout)})"
            text = f"attempt {event.attempt} of {event.method} {upstream} started{timeout}"
        case AttemptSucceeded():
            text = (
                f"attempt {event.attempt} of {event.method} {upstream} succeeded in {_seconds(event.duration)}"
                f" (HTTP {event.status})"
            )
        case AttemptFailed():
            text = (
                f"attempt {event.attempt} of {event.method} {upstream} failed in {_seconds(event.duration)}: "
                f"{event.kind}{_status(event.status, is_600=event.is_600)}"
            )
            if event.explanation:
                text += f": {event.explanation}"
        case RetryScheduled():
            text = f"retry {event.attempt} of {method}{upstream} in {_seconds(event.delay)}: {event.reason}{status}"
        case GaveUp():
            attempts = "1 attempt" if event.attempts == 1 else f"{event.attempts} attempts"
            text = f"gave up on {method}{upstream} after {attempts}: {event.kind}{status}"
            if event.reason:
                text += f": {event.reason}"
            if event.retry_after is not None:
                text += f"; retry after {_seconds(event.retry_after)}"
        case BreakerStateChanged():
            text = f"circuit breaker for {upstream}: {event.old} -> {event.new}"
            if event.reason:
                text += f": {event.reason}"
        case Throttled():
            text = f"request to {upstream} held {_seconds(event.wait)} by a rate limit"
            if event.reason:
                text += f": {event.reason}"
        case TokenRefreshed():
            expires = ""
            if event.expires_at is not None:
                when = datetime.fromtimestamp(event.expires_at, UTC).isoformat(timespec="seconds")
                expires = f", expires {when.replace('+00:00', 'Z')}"
            text = f"token for {upstream} refreshed ({event.fingerprint}{expires})"
            if event.reason:
                text += f": {event.reason}"
    return redact_text(text)
