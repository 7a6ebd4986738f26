"""The demo's second act: the resilient client, with its defaults, through the simulator's incident timeline.

The callers' view is the point: with the defaults a call that meets the open breaker waits for its probe
(within the call's deadline) instead of failing, so the table shows calls finishing late but succeeding.

Eight client threads send a logical request every 100 ms each (GET /v1/items; every third a POST
/v1/payments with an automatic idempotency key) while the upstream goes healthy → outage → partial recovery
→ healthy. What the client saw is set against what the upstream received (the simulator's ledger), second by
second: logical requests, upstream attempts, successes, failures, and the breaker's transitions.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.table import Table

from upstreamkit import ResilientTransport, UpstreamError
from upstreamkit.core.events import BreakerStateChanged, Event
from upstreamkit.simulator import LedgerEntry, Simulator

CLIENTS = 8
INTERVAL = 0.1
SUCCESS_BAR = 0.95
"""The demo fails when fewer calls than this succeed through the incident (100% is usual)."""


@dataclass(slots=True)
class IncidentResult:
    """What the run showed, and whether it kept the client's promises."""

    logical: int = 0
    successes: int = 0
    attempts: int = 0
    outage_logical: int = 0
    outage_attempts: int = 0
    duplicates: int = 0
    transitions: list[tuple[float, str, str, str]] = field(default_factory=list)
    problem: str = ""

    @property
    def ok(self) -> bool:
        """No duplicated side effect, and the clients succeed again by the end."""
        return not self.problem


@dataclass(slots=True)
class _Calls:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[tuple[float, float, bool, str]] = field(default_factory=list)  # (start, end offsets, success, outcome)


def _drive(sim: Simulator, client: httpx.Client, calls: _Calls, t0: float, duration: float) -> None:
    def worker(index: int) -> None:
        next_start, n = t0 + index * INTERVAL / CLIENTS, 0
        while (now := time.monotonic()) < t0 + duration and n < duration / INTERVAL + 1:
            if next_start > now:
                time.sleep(next_start - now)
            next_start = max(next_start + INTERVAL, time.monotonic())
            n += 1
            began = time.monotonic() - t0
            try:
                if n % 3 == 0:
                    response = client.post(sim.url("/v1/payments"), json={"amount": 1250, "currency": "EUR"})
                else:
                    response = client.get(sim.url("/v1/items"))
                ok, outcome = response.status_code < 400, str(response.status_code)
            except UpstreamError as exc:
                ok, outcome = False, str(exc.kind)
            with calls.lock:
                calls.calls.append((began, time.monotonic() - t0, ok, outcome))

    threads = [threading.Thread(target=worker, args=(i,), name=f"demo-client-{i}") for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 30)


@dataclass(slots=True)
class _Seconds:
    """Per-second counts: calls started, upstream attempts, successes and failures as callers got them."""

    started: Counter[int] = field(default_factory=Counter)
    attempts: Counter[int] = field(default_factory=Counter)
    good: Counter[int] = field(default_factory=Counter)
    failed: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)


def _phase_at(phases: list[tuple[str, float]], offset: float) -> str:
    current = phases[0][0]
    for name, start in phases:
        if offset >= start:
            current = name
    return current


def _tally(
    result: IncidentResult, calls: _Calls, entries: list[LedgerEntry], wall0: float, phases: list[tuple[str, float]],
    seconds: int,
) -> _Seconds:  # fmt: skip
    counts = _Seconds()
    for began, ended, ok, outcome in calls.calls:
        counts.started[min(int(began), seconds - 1)] += 1
        second = min(int(ended), seconds - 1)  # successes and failures count when the caller gets them
        if ok:
            counts.good[second] += 1
        else:
            counts.failed[second] += 1
            counts.outcomes[outcome] += 1
        if _phase_at(phases, began) == "outage":
            result.outage_logical += 1
    for entry in entries:
        counts.attempts[min(max(int(entry.time - wall0), 0), seconds - 1)] += 1
        if entry.phase == "outage":
            result.outage_attempts += 1
    result.logical, result.successes, result.attempts = len(calls.calls), counts.good.total(), len(entries)
    # Attempts per logical request are shown, not judged: with callers held by Retry-After only a handful of
    # calls start during the outage, too few for a ratio to pass or fail on (bench/outage.py measures it).
    if result.duplicates:
        result.problem = f"{result.duplicates} duplicated side effects"
    elif counts.good[seconds - 1] == 0:
        result.problem = "the client did not recover before the end"
    elif result.successes < SUCCESS_BAR * result.logical:
        # Callers wait for the breaker's probe within their deadline instead of failing: nearly every call
        # succeeds through the incident (bench/outage.py measures it against the peers).
        result.problem = f"only {result.successes / result.logical:.0%} of calls succeeded (bar {SUCCESS_BAR:.0%})"
    return counts


def _show(console: Console, result: IncidentResult, counts: _Seconds, phases: list[tuple[str, float]]) -> None:
    table = Table(title="2. survive: the resilient client (defaults) through an incident", title_justify="left")
    for name in ("s", "upstream phase", "calls started", "upstream attempts", "succeeded", "failed", ""):
        table.add_column(name, justify="left" if name in ("upstream phase", "") else "right")
    for second in range(max(counts.started, default=0) + 1):
        good, failed = counts.good[second], counts.failed[second]
        bar = "[green]" + "█" * (good // 4) + "[/][red]" + "█" * (failed // 4) + "[/]"
        table.add_row(
            str(second), _phase_at(phases, second + 0.5), str(counts.started[second]), str(counts.attempts[second]),
            str(good), str(failed), bar,
        )  # fmt: skip
    console.print(table)
    per = result.outage_attempts / result.outage_logical if result.outage_logical else 0.0
    console.print(
        f"{result.logical} logical requests, {result.attempts} upstream attempts, {result.successes} successes "
        f"({result.successes / max(result.logical, 1):.0%}); during the outage {per:.2f} attempts per logical "
        f"request; duplicated side effects: {result.duplicates}."
    )
    if counts.outcomes:
        console.print(
            "failures as the callers saw them: " + ", ".join(f"{k} x{v}" for k, v in counts.outcomes.most_common())
        )
    for at, old, new, reason in result.transitions:
        console.print(f"  breaker at {at:5.1f} s: {old} → [bold]{new}[/] ({reason})")


def run_incident(console: Console, *, duration: float = 12.0) -> IncidentResult:
    """Run the clients through the incident, print the second-by-second table; return the figures."""
    result = IncidentResult()
    calls = _Calls()
    t0 = 0.0

    def hook(event: Event) -> None:
        if isinstance(event, BreakerStateChanged):
            result.transitions.append((time.monotonic() - t0, event.old, event.new, event.reason))

    scale = duration / 12.0  # the built-in timeline is 4 phases of 3 s
    with Simulator("incident", seed=1, time_scale=scale) as sim:
        with httpx.Client(transport=ResilientTransport(hooks=[hook], auto_idempotency_key=True)) as client:
            sim.reset(timeline=True)
            wall0, t0 = time.time(), time.monotonic()
            with console.status(f"the incident: {CLIENTS} clients for {duration:g} s ..."):
                _drive(sim, client, calls, t0, duration)
        entries = sim.ledger.entries()
        result.duplicates = int(sim.stats()["duplicate_side_effects"])
        phases = [(p.name, p.start * scale) for p in sim.scenario.phases]
    counts = _tally(result, calls, entries, wall0, phases, int(duration + 0.999))
    _show(console, result, counts, phases)
    return result
