"""Events: what the resilient client did, as frozen, slotted dataclasses delivered to hooks.

Every event names the ``upstream`` (scheme://host:port, the key of per-upstream state) and the logical
call's ``request_id``. Times are monotonic seconds from the client's clock (``at``), except where a field
says otherwise. Texts are redacted before an event is built; hooks may log them as they are.

A hook is anything with ``__call__(event: Event) -> None`` (:class:`Hook`); telemetry backends
(logging, Prometheus, OpenTelemetry) live in :mod:`upstreamkit.telemetry` and import their libraries lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias

from upstreamkit.errors import ErrorKind

__all__ = [
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "BreakerStateChanged",
    "Event",
    "GaveUp",
    "Hook",
    "RetryScheduled",
    "Throttled",
    "TokenRefreshed",
]


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """An attempt is about to be sent."""

    upstream: str
    request_id: str
    method: str
    attempt: int
    timeout: float | None
    at: float


@dataclass(frozen=True, slots=True)
class AttemptSucceeded:
    """An attempt got a response that is not a failure."""

    upstream: str
    request_id: str
    method: str
    attempt: int
    status: int
    duration: float
    at: float


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """An attempt failed; ``kind`` says how, ``is_600`` whether it reached the client as "error 600"."""

    upstream: str
    request_id: str
    method: str
    attempt: int
    kind: ErrorKind
    status: int | None
    is_600: bool
    duration: float
    explanation: str
    at: float


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """The policy decided to try again after ``delay`` seconds."""

    upstream: str
    request_id: str
    attempt: int
    """The attempt that failed; the next one is ``attempt + 1``."""
    delay: float
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The logical call failed for good; ``kind`` is the error raised (or returned) to the caller."""

    upstream: str
    request_id: str
    attempts: int
    kind: ErrorKind
    retry_after: float | None
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class BreakerStateChanged:
    """A circuit breaker moved between closed, open and half_open."""

    upstream: str
    old: str
    new: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Throttled:
    """The client held a request back to stay within a rate limit (its own or one the upstream announced)."""

    upstream: str
    request_id: str
    wait: float
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class TokenRefreshed:
    """Credentials were refreshed; ``fingerprint`` identifies the new token without revealing it."""

    upstream: str
    reason: str
    fingerprint: str
    expires_at: float | None
    """Wall-clock epoch seconds, when known."""
    at: float


Event: TypeAlias = (
    AttemptStarted
    | AttemptSucceeded
    | AttemptFailed
    | RetryScheduled
    | GaveUp
    | BreakerStateChanged
    | Throttled
    | TokenRefreshed
)


class Hook(Protocol):
    """Receives every event. Must not raise (exceptions from hooks are logged and swallowed) and should be fast."""

    def __call__(self, event: Event) -> None:
        """Handle one event."""
        ...
