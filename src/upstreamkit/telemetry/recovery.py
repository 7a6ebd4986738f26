"""Time-to-recover and the recent 600 rate, per upstream, from attempt outcomes and their times.

An *incident* starts at the first failed attempt after a success (or at the first failure ever seen) and
ends at the next successful attempt; its time-to-recover is the time between the two. The tracker is pure:
it never reads a clock, every time comes from the caller (an event's ``at``), so the Prometheus and
OpenTelemetry hooks and the outage benchmark share one definition and tests run on made-up times.

Hooks may be called from many threads, and two threads' events can arrive out of order. The tracker
orders by the times it is given, not by arrival: a failure older than the upstream's last success cannot
open an incident, and a success older than the incident's first failure cannot close it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from upstreamkit.core.events import AttemptFailed, AttemptSucceeded, Event
from upstreamkit.errors import ErrorKind

__all__ = ["Recovery", "RecoveryTracker"]


@dataclass(frozen=True, slots=True)
class Recovery:
    """One incident, from its first failure to the success that ended it."""

    upstream: str
    started: float
    recovered: float
    failures: int
    """Failed attempts seen during the incident (from every caller, not one logical call)."""

    @property
    def seconds(self) -> float:
        """The time-to-recover."""
        return self.recovered - self.started


@dataclass(slots=True)
class _Upstream:
    window: deque[bool]
    count_600: int = 0
    last_success: float | None = None
    incident_start: float | None = None
    incident_failures: int = 0
    last_recovery: Recovery | None = None
    recoveries: int = 0
    total_recovery_seconds: float = 0.0


class RecoveryTracker:
    """Incidents and the share of recent attempts that were "error 600", per upstream.

    Feed it with :meth:`failure` and :meth:`success`, or hand it events (it is a :class:`~upstreamkit.core.events.Hook`
    itself); read :meth:`last_recovery`, :meth:`recoveries`, :meth:`rate_600` and :meth:`in_incident`.

    Args:
        window: how many recent attempts per upstream :meth:`rate_600` looks at.
        ignore_kinds: failures of these kinds neither start an incident nor count in it (they still count
            as attempts for the 600 rate). Empty by default: every failed attempt is a failure.
        max_upstreams: how many upstreams are tracked; beyond it the least recently seen one outside an
            incident is forgotten (a webhook sender calls thousands of hosts once each).
    """

    def __init__(
        self, *, window: int = 100, ignore_kinds: Iterable[ErrorKind | str] = (), max_upstreams: int = 1024
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if max_upstreams < 1:
            raise ValueError(f"max_upstreams must be >= 1, got {max_upstreams}")
        self.max_upstreams = max_upstreams
        self.window = window
        self.ignore_kinds = frozenset(str(kind) for kind in ignore_kinds)
        self._upstreams: dict[str, _Upstream] = {}
        self._lock = threading.Lock()

    # --- input -----------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Take an event: attempts count, everything else is ignored."""
        self.observe(event)

    def observe(self, event: Event) -> Recovery | None:
        """Feed an attempt's outcome; return the incident it ended, if it ended one."""
        if isinstance(event, AttemptSucceeded):
            return self.success(event.upstream, event.at)
        if isinstance(event, AttemptFailed):
            self.failure(event.upstream, event.at, is_600=event.is_600, kind=event.kind)
        return None

    def failure(self, upstream: str, at: float, *, is_600: bool = False, kind: ErrorKind | str | None = None) -> None:
        """A failed attempt at time ``at``."""
        with self._lock:
            state = self._state(upstream)
            self._push(state, is_600=is_600)
            if kind is not None and str(kind) in self.ignore_kinds:
                return
            if state.last_success is not None and at < state.last_success:
                return  # older than a success already seen: the upstream had recovered since
            if state.incident_start is None:
                state.incident_start = at
                state.incident_failures = 1
            else:
                state.incident_start = min(state.incident_start, at)
                state.incident_failures += 1

    def success(self, upstream: str, at: float) -> Recovery | None:
        """A successful attempt at time ``at``; returns the incident it ended, if any."""
        with self._lock:
            state = self._state(upstream)
            self._push(state, is_600=False)
            if state.last_success is None or at > state.last_success:
                state.last_success = at
            start = state.incident_start
            if start is None or at < start:
                return None  # no incident, or this success happened before the incident's first failure
            recovery = Recovery(upstream, start, at, state.incident_failures)
            state.incident_start = None
            state.incident_failures = 0
            state.last_recovery = recovery
            state.recoveries += 1
            state.total_recovery_seconds += recovery.seconds
            return recovery

    # --- output ----------------------------------------------------------------------------------------

    def upstreams(self) -> list[str]:
        """Every upstream seen so far, sorted."""
        with self._lock:
            return sorted(self._upstreams)

    def in_incident(self, upstream: str) -> bool:
        """True between an incident's first failure and the success that ends it."""
        with self._lock:
            state = self._upstreams.get(upstream)
            return state is not None and state.incident_start is not None

    def incident_started(self, upstream: str) -> float | None:
        """When the current incident's first failure happened, or None when there is no incident."""
        with self._lock:
            state = self._upstreams.get(upstream)
            return None if state is None else state.incident_start

    def last_recovery(self, upstream: str) -> Recovery | None:
        """The most recent incident that ended."""
        with self._lock:
            state = self._upstreams.get(upstream)
            return None if state is None else state.last_recovery

    def recoveries(self, upstream: str) -> int:
        """How many incidents ended."""
        with self._lock:
            state = self._upstreams.get(upstream)
            return 0 if state is None else state.recoveries

    def total_recovery_seconds(self, upstream: str) -> float:
        """The sum of every ended incident's time-to-recover (divide by :meth:`recoveries` for the mean)."""
        with self._lock:
            state = self._upstreams.get(upstream)
            return 0.0 if state is None else state.total_recovery_seconds

    def rate_600(self, upstream: str) -> float | None:
        """The fraction of the last ``window`` attempts that failed as "error 600"; None before any attempt."""
        with self._lock:
            state = self._upstreams.get(upstream)
            if state is None or not state.window:
                return None
            return state.count_600 / len(state.window)

    # --- internals -------------------------------------------------------------------------------------

    def _state(self, upstream: str) -> _Upstream:
        states = self._upstreams
        state = states.pop(upstream, None)  # re-inserted last: the dict's order is the recency order
        if state is None:
            if len(states) >= self.max_upstreams:
                oldest = next((name for name, s in states.items() if s.incident_start is None), None)
                if oldest is not None:
                    del states[oldest]
            state = _Upstream(window=deque(maxlen=self.window))
        states[upstream] = state
        return state

    @staticmethod
    def _push(state: _Upstream, *, is_600: bool) -> None:
        window = state.window
        if len(window) == window.maxlen and window[0]:
            state.count_600 -= 1
        window.append(is_600)
        if is_600:
            state.count_600 += 1
