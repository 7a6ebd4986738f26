"""LoggingHook: one record per event, a readable message, the fields under ``record.upstreamkit``."""

from __future__ import annotations

import logging

import pytest

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
from upstreamkit.errors import ErrorKind
from upstreamkit.telemetry import LoggingHook
from upstreamkit.telemetry.logging import EXTRA_KEY

API = "https://api.example.com:443"
LOGGER = "tests.telemetry.logging"


@pytest.fixture
def hook() -> LoggingHook:
    return LoggingHook(logging.getLogger(LOGGER))


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == LOGGER]


def _failed(attempt: int = 1, request_id: str = "req-1") -> AttemptFailed:
    return AttemptFailed(
        API,
        request_id,
        "GET",
        attempt,
        ErrorKind.RATE_LIMITED,
        429,
        is_600=False,
        duration=0.12,
        explanation="Too Many",
        at=1.0,
    )


def test_retry_message_names_method_status_and_delay(hook: LoggingHook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    hook(_failed(attempt=2))
    hook(RetryScheduled(API, "req-1", 2, 0.35, "rate_limited: backoff", 1.0))
    failed, retry = _records(caplog)
    assert failed.levelno == logging.INFO
    assert failed.getMessage() == (
        "attempt 2 of GET https://api.example.com:443 failed in 0.12s: rate_limited (HTTP 429): Too Many"
    )
    assert retry.levelno == logging.INFO
    assert retry.getMessage() == "retry 2 of GET https://api.example.com:443 in 0.35s: rate_limited: backoff (HTTP 429)"
    fields = getattr(retry, EXTRA_KEY)
    assert fields == {
        "event": "retry_scheduled",
        "upstream": API,
        "request_id": "req-1",
        "attempt": 2,
        "delay": 0.35,
        "reason": "rate_limited: backoff",
        "at": 1.0,
    }


def test_retry_without_a_remembered_failure_still_reads(hook: LoggingHook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    hook(RetryScheduled(API, "", 1, 12.5, "upstream_outage: backoff", 1.0))
    (record,) = _records(caplog)
    assert record.getMessage() == "retry 1 of https://api.example.com:443 in 12.5s: upstream_outage: backoff"


def test_levels_per_event(hook: LoggingHook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    events: list[tuple[Event, int]] = [
        (AttemptStarted(API, "r", "GET", 1, 5.0, 0.0), logging.DEBUG),
        (AttemptSucceeded(API, "r", "GET", 1, 200, 0.05, 0.05), logging.DEBUG),
        (_failed(), logging.INFO),
        (RetryScheduled(API, "r", 1, 0.1, "rate_limited: backoff", 1.0), logging.INFO),
        (GaveUp(API, "r", 3, ErrorKind.UPSTREAM_OUTAGE, None, "attempts exhausted", 2.0), logging.WARNING),
        (BreakerStateChanged(API, "closed", "open", "5 consecutive failures", 2.0), logging.WARNING),
        (BreakerStateChanged(API, "open", "half_open", "probe interval elapsed", 9.0), logging.INFO),
        (Throttled(API, "r", 0.25, "client limit 10/s", 3.0), logging.INFO),
        (TokenRefreshed(API, "refreshed", "sha256:0123abcd", None, 4.0), logging.INFO),
    ]
    for event, _ in events:
        hook(event)
    assert [r.levelno for r in _records(caplog)] == [level for _, level in events]
    names = [getattr(r, EXTRA_KEY)["event"] for r in _records(caplog)]
    assert names == [
        "attempt_started", "attempt_succeeded", "attempt_failed", "retry_scheduled", "gave_up",
        "breaker_state_changed", "breaker_state_changed", "throttled", "token_refreshed",
    ]  # fmt: skip


def test_messages_of_the_other_events(hook: LoggingHook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    hook(AttemptStarted(API, "r", "POST", 1, 5.0, 0.0))
    hook(AttemptSucceeded(API, "r", "POST", 1, 201, 0.042, 0.05))
    hook(
        AttemptFailed(
            API,
            "g",
            "GET",
            3,
            ErrorKind.UPSTREAM_600,
            200,
            is_600=True,
            duration=0.3,
            explanation="body code 600",
            at=1.0,
        )
    )
    hook(GaveUp(API, "g", 3, ErrorKind.UPSTREAM_600, 30.0, "attempts exhausted", 2.0))
    hook(BreakerStateChanged(API, "closed", "open", "5 consecutive failures", 2.0))
    hook(Throttled(API, "r", 0.25, "client limit 10/s", 3.0))
    hook(TokenRefreshed(API, "auth_expired", "sha256:0123abcd", 1_700_000_000.0, 4.0))
    assert [r.getMessage() for r in _records(caplog)] == [
        "attempt 1 of POST https://api.example.com:443 started (timeout 5s)",
        "attempt 1 of POST https://api.example.com:443 succeeded in 0.042s (HTTP 201)",
        (
            "attempt 3 of GET https://api.example.com:443 failed in 0.3s: upstream_600 (HTTP 200, error 600): "
            "body code 600"
        ),
        (
            "gave up on GET https://api.example.com:443 after 3 attempts: upstream_600 (HTTP 200, error 600): "
            "attempts exhausted; retry after 30s"
        ),
        "circuit breaker for https://api.example.com:443: closed -> open: 5 consecutive failures",
        "request to https://api.example.com:443 held 0.25s by a rate limit: client limit 10/s",
        "token for https://api.example.com:443 refreshed (sha256:0123abcd, expires 2023-11-14T22:13:20Z): auth_expired",
    ]


def test_extra_is_json_ready(hook: LoggingHook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    hook(_failed())
    fields = getattr(_records(caplog)[0], EXTRA_KEY)
    assert fields["kind"] == "rate_limited"
    assert type(fields["kind"]) is str  # not the enum: JSON formatters write the plain value
    assert fields["status"] == 429
    assert fields["is_600"] is False


def test_disabled_level_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    hook = LoggingHook(logging.getLogger(LOGGER))
    hook(AttemptStarted(API, "r", "GET", 1, None, 0.0))
    hook(_failed())
    assert _records(caplog) == []


def test_custom_levels_and_default_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="upstreamkit.events")
    hook = LoggingHook(level_ok=logging.INFO, level_retry=logging.WARNING, level_fail=logging.ERROR)
    hook(AttemptSucceeded(API, "r", "GET", 1, 200, 0.01, 0.01))
    hook(GaveUp(API, "r", 1, ErrorKind.AUTH_INVALID, None, "not retryable", 0.02))
    levels = [r.levelno for r in caplog.records if r.name == "upstreamkit.events"]
    assert levels == [logging.INFO, logging.ERROR]
    assert "upstreamkit.events" in repr(hook)


def test_failure_memory_is_bounded(hook: LoggingHook) -> None:
    for n in range(5000):
        hook(_failed(request_id=f"req-{n}"))
    assert len(hook._last_failure) <= 1024  # the bound is the point of the test
