"""The ledger: every request the simulated upstream received, and what it did with it.

Tests and benchmarks read it to count upstream attempts per logical request (grouped by ``X-Request-Id``)
and duplicated side effects. It never holds a credential: the key column is :func:`fingerprint` of it.

Entries live in a bounded deque (100,000 by default); the counters keep counting past the bound. Writes come
from the server's event-loop thread and reads from any thread, so both go through one lock. A side effect
is a *duplicate* when one was already applied for the same logical request: the same ``Idempotency-Key``,
or, without one, the same ``X-Request-Id``.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Ledger", "LedgerEntry"]

_MAX_LOGICAL_IDS = 100_000


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One request as the upstream saw it."""

    seq: int
    time: float
    method: str
    path: str
    request_id: str | None
    attempt: int | None
    key_fingerprint: str | None
    idempotency_key: str | None
    side_effect_applied: bool
    idempotent_replay: bool
    duplicate_side_effect: bool
    fault: str
    status: int | None
    phase: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class Ledger:
    """A bounded, thread-safe record of requests with running counters."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LedgerEntry] = deque(maxlen=maxlen)
        self._seq = 0
        self._by_fault: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._by_phase: Counter[str] = Counter()
        self._side_effects = 0
        self._replays = 0
        self._duplicates = 0
        self._applied_for: OrderedDict[str, int] = OrderedDict()

    @property
    def maxlen(self) -> int:
        """How many entries are kept."""
        return self._entries.maxlen or 0

    def record(
        self,
        *,
        time: float,
        method: str,
        path: str,
        request_id: str | None = None,
        attempt: int | None = None,
        key_fingerprint: str | None = None,
        idempotency_key: str | None = None,
        side_effect_applied: bool = False,
        idempotent_replay: bool = False,
        fault: str = "ok",
        status: int | None = None,
        phase: str | None = None,
    ) -> LedgerEntry:
        """Append one request; returns the entry (with its sequence number)."""
        with self._lock:
            self._seq += 1
            duplicate = False
            if side_effect_applied:
                self._side_effects += 1
                logical = f"idem:{idempotency_key}" if idempotency_key else (request_id and f"rid:{request_id}")
                if logical:
                    duplicate = logical in self._applied_for
                    self._applied_for[logical] = self._applied_for.get(logical, 0) + 1
                    self._applied_for.move_to_end(logical)
                    if len(self._applied_for) > _MAX_LOGICAL_IDS:
                        self._applied_for.popitem(last=False)
                if duplicate:
                    self._duplicates += 1
            if idempotent_replay:
                self._replays += 1
            entry = LedgerEntry(
                seq=self._seq,
                time=time,
                method=method,
                path=path,
                request_id=request_id,
                attempt=attempt,
                key_fingerprint=key_fingerprint,
                idempotency_key=idempotency_key,
                side_effect_applied=side_effect_applied,
                idempotent_replay=idempotent_replay,
                duplicate_side_effect=duplicate,
                fault=fault,
                status=status,
                phase=phase,
            )
            self._entries.append(entry)
            self._by_fault[fault] += 1
            self._by_status[str(status) if status is not None else "none"] += 1
            self._by_phase[phase or "-"] += 1
            return entry

    def entries(self, *, since: int = 0, limit: int | None = None) -> list[LedgerEntry]:
        """Entries with ``seq > since``, oldest first; the newest ``limit`` of them when given."""
        with self._lock:
            selected = [entry for entry in self._entries if entry.seq > since] if since else list(self._entries)
        return selected[-limit:] if limit is not None and limit >= 0 else selected

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def attempts_by_request_id(self) -> dict[str, int]:
        """How many times each ``X-Request-Id`` reached the upstream (requests without one are left out)."""
        with self._lock:
            counts = Counter(entry.request_id for entry in self._entries if entry.request_id is not None)
        return dict(counts)

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset (not limited by the deque's bound)."""
        with self._lock:
            return {
                "requests": self._seq,
                "kept": len(self._entries),
                "by_fault": dict(self._by_fault),
                "by_status": dict(self._by_status),
                "by_phase": dict(self._by_phase),
                "side_effects_applied": self._side_effects,
                "duplicate_side_effects": self._duplicates,
                "idempotent_replays": self._replays,
            }

    def reset(self) -> None:
        """Forget every entry and counter."""
        with self._lock:
            self._entries.clear()
            self._seq = 0
            self._by_fault.clear()
            self._by_status.clear()
            self._by_phase.clear()
            self._side_effects = self._replays = self._duplicates = 0
            self._applied_for.clear()
