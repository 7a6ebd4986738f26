"""Retry strategies through a 3 s outage, driven open loop as a web service's requests arrive (issue 10).

    .venv/bin/python bench/outage.py                      # (a) and (b) below, every strategy: ~2.7 minutes
    .venv/bin/python bench/outage.py --all                # (a), (b) and (c): ~4 minutes
    .venv/bin/python bench/outage.py --retry-after 0      # (a) only: open loop, 503 without Retry-After
    .venv/bin/python bench/outage.py --retry-after 1      # (b) only: open loop, 503 with Retry-After: 1
    .venv/bin/python bench/outage.py --closed-loop        # (c) only: closed loop (add --retry-after 1 if wanted)
    .venv/bin/python bench/outage.py --only tenacity      # one strategy (a substring of its name)
    .venv/bin/python bench/outage.py --by-start           # also: calls and attempts by start time, per 0.5 s

Every run of one strategy takes the timeline's 12 s, so the three variants of six strategies need about 4 minutes:
the default prints the two open-loop variants (the issue's goals), ``--all`` adds the closed loop.

The upstream (``_fast_server.serve_timeline``, its own process) is healthy for 3 s, answers every request
503 for 3 s (variant (b): with ``Retry-After: 1``), then is healthy for 6 s; it switches phase by the clock
the benchmark hands it in ``POST /__reset`` and counts the attempts it receives per phase and per logical
call (``X-Request-Id``, which every strategy keeps on its retries).

Open loop (variants (a), (b)): 160 calls a second start on schedule, whether or not earlier calls finished,
each in its own thread (1,920 calls over the 12 s); at most ``--cap`` calls in flight (a call that would pass
it is not started and counts as failed); every thread is joined within ``--join-timeout``. Closed loop
(variant (c)): 8 threads, each starting a call every 50 ms or as soon as its previous call ends, whichever is
later (160 a second while calls are fast).

Strategies, each with one client shared by all its calls (as a web service holds one), side by side:
- upstreamkit defaults: ``httpx.Client(transport=ResilientTransport())``;
- upstreamkit fail-fast: ``ResilientTransport(policy=RetryPolicy(fail_fast=True))``;
- tenacity: ``stop_after_attempt(4)``, ``wait_exponential(multiplier=0.1, max=2)``, retrying ``httpx.HTTPError``
  and 5xx (``raise_for_status``), around ``httpx.Client()``;
- stamina: ``stamina.retry(on=httpx.HTTPError)`` with its defaults (10 attempts, 45 s, backoff 0.1 s to 5 s
  with jitter), around ``httpx.Client()``; its retry hooks (Prometheus counter, log line) are switched off;
- urllib3: ``PoolManager(retries=Retry(total=3, backoff_factor=0.1, status_forcelist=[502, 503, 504]),
  maxsize=10)`` (10 as requests' adapter has it), Retry-After respected (its default);
- plain httpx: ``httpx.Client()``, no retries.

Per strategy: success % over all calls; upstream attempts per call started during the outage (every attempt,
in any phase, of the calls whose actual start fell in the outage window, over the number of those calls); attempts
the upstream received during the outage phase; time from recovery to the first success; calls failed that
started 0.5 s or more after recovery; peak calls in flight; p50/p99 call latency; the commonest failures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import stamina
import stamina.instrumentation
import tenacity
import urllib3

from _fast_server import serve_timeline
from _server import child_process
from upstreamkit import ResilientTransport, RetryPolicy, UpstreamError

HEALTHY, OUTAGE, RECOVERED = 3.0, 3.0, 6.0
TOTAL = HEALTHY + OUTAGE + RECOVERED
RECOVERY = HEALTHY + OUTAGE  # seconds from the start of the timeline
LATE = 0.5  # calls started this long after recovery must not fail (issue 10)


@dataclass
class Strategy:
    send: Callable[[str, str], int]  # (url, request id) -> final status; raises when the strategy gives up
    close: Callable[[], None]


def upstreamkit_strategy(policy: RetryPolicy | None = None) -> Strategy:
    client = httpx.Client(transport=ResilientTransport(policy=policy))
    return Strategy(lambda url, rid: client.get(url, headers={"X-Request-Id": rid}).status_code, client.close)


def upstreamkit_fail_fast() -> Strategy:
    return upstreamkit_strategy(RetryPolicy(fail_fast=True))


def tenacity_strategy() -> Strategy:
    client = httpx.Client()

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_exponential(multiplier=0.1, max=2),
        retry=tenacity.retry_if_exception_type(httpx.HTTPError),
        reraise=True,
    )
    def send(url: str, rid: str) -> int:
        response = client.get(url, headers={"X-Request-Id": rid})
        if response.status_code >= 500:
            response.raise_for_status()
        return response.status_code

    return Strategy(send, client.close)


def stamina_strategy() -> Strategy:
    client = httpx.Client()

    @stamina.retry(on=httpx.HTTPError)
    def send(url: str, rid: str) -> int:
        response = client.get(url, headers={"X-Request-Id": rid})
        response.raise_for_status()
        return response.status_code

    return Strategy(send, client.close)


def urllib3_strategy() -> Strategy:
    retries = urllib3.Retry(total=3, backoff_factor=0.1, status_forcelist=[502, 503, 504])
    pool = urllib3.PoolManager(retries=retries, maxsize=10, timeout=10.0)
    return Strategy(lambda url, rid: pool.request("GET", url, headers={"X-Request-Id": rid}).status, pool.clear)


def plain_strategy() -> Strategy:
    client = httpx.Client()
    return Strategy(lambda url, rid: client.get(url, headers={"X-Request-Id": rid}).status_code, client.close)


STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "upstreamkit defaults": upstreamkit_strategy,
    "upstreamkit fail-fast": upstreamkit_fail_fast,
    "tenacity (4 attempts, exponential)": tenacity_strategy,
    "stamina (defaults)": stamina_strategy,
    "urllib3 Retry(total=3)": urllib3_strategy,
    "plain httpx (no retries)": plain_strategy,
}


@dataclass(slots=True)
class Call:
    request_id: str
    scheduled: float  # seconds from the timeline's start
    started: float
    ended: float
    ok: bool
    failure: str | None


@dataclass
class Run:
    strategy: Strategy
    url: str
    t0: float  # time.monotonic() at the timeline's start
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    peak: int = 0
    not_started: int = 0
    unfinished: int = 0
    late_start: float = 0.0  # the open loop's worst lag behind its schedule, seconds


def failure_name(exc: Exception) -> str:
    if isinstance(exc, UpstreamError):
        return str(exc.kind)
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def one_call(run: Run, request_id: str, scheduled: float) -> None:
    with run.lock:
        run.in_flight += 1
        run.peak = max(run.peak, run.in_flight)
    started = time.monotonic() - run.t0
    failure: str | None = None
    try:
        status = run.strategy.send(run.url, request_id)
        if status >= 400:
            failure = f"HTTP {status}"
    except Exception as exc:  # noqa: BLE001 - any exception is the call failing; its name is what the table shows
        failure = failure_name(exc)
    ended = time.monotonic() - run.t0
    with run.lock:
        run.in_flight -= 1
        run.calls.append(Call(request_id, scheduled, started, ended, failure is None, failure))


def open_loop(run: Run, prefix: str, args: argparse.Namespace) -> None:
    """``args.rate`` calls a second for the whole timeline, each in its own thread, started on schedule."""
    t0 = run.t0
    threads: list[threading.Thread] = []
    for index in range(int(args.rate * TOTAL)):
        scheduled = index / args.rate
        delay = t0 + scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        run.late_start = max(run.late_start, time.monotonic() - t0 - scheduled)
        request_id = f"{prefix}-{index}"
        if run.in_flight >= args.cap:
            run.not_started += 1
            with run.lock:
                run.calls.append(Call(request_id, scheduled, scheduled, scheduled, ok=False, failure="not started"))
            continue
        thread = threading.Thread(target=one_call, args=(run, request_id, scheduled), daemon=True)
        thread.start()
        threads.append(thread)
    join(threads, run, args.join_timeout)


def closed_loop(run: Run, prefix: str, args: argparse.Namespace) -> None:
    """``args.threads`` threads, each starting a call every ``threads / rate`` s or when its last one ends."""
    t0 = run.t0
    interval = args.threads / args.rate

    def worker(index: int) -> None:
        next_start = index * interval / args.threads
        for n in range(int(TOTAL / interval) + 1):  # bounded: never more calls than the schedule holds
            delay = t0 + next_start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic() - t0
            if now >= TOTAL:
                return
            next_start = max(next_start + interval, now)
            one_call(run, f"{prefix}-{index}-{n}", now)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    join(threads, run, TOTAL + args.join_timeout)


def join(threads: list[threading.Thread], run: Run, timeout: float) -> None:
    """Join every thread within ``timeout`` s in all; the ones still running are counted (they are daemons)."""
    give_up_at = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, give_up_at - time.monotonic()))
    run.unfinished = sum(thread.is_alive() for thread in threads)


def control(base: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"{base}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(base: str, name: str, strategy: Strategy, retry_after: int, args: argparse.Namespace) -> dict[str, Any]:
    prefix = "".join(ch for ch in name if ch.isalnum())[:12]
    t0 = time.monotonic() + 0.2  # the schedule starts a moment after the reset reaches the server
    query = f"start={t0!r}&healthy={HEALTHY}&outage={OUTAGE}&recovered={RECOVERED}"
    control(base, f"/__reset?{query}" + (f"&retry_after={retry_after}" if retry_after else ""), "POST")
    began = time.monotonic()
    run = Run(strategy, f"{base}/v1/items", t0)
    (closed_loop if args.closed_loop else open_loop)(run, prefix, args)
    wall = time.monotonic() - began
    stats = control(base, "/__stats")
    attempts: dict[str, int] = stats["calls"]
    # Calls are placed by when they actually started, not when the schedule wanted them: on a loaded machine the
    # open loop can fall behind, and what a call meets is the upstream's phase at its real start.
    in_outage = [c for c in run.calls if HEALTHY <= c.started < RECOVERY]
    first_success = min((c.ended for c in run.calls if c.ok and c.ended >= RECOVERY), default=float("nan"))
    latencies = [c.ended - c.started for c in run.calls if c.failure != "not started"]
    failures = Counter(c.failure for c in run.calls if not c.ok)
    return {
        "strategy": name,
        "calls": len(run.calls),
        # A call still running at the join timeout counts as failed (it is not in run.calls).
        "success": sum(c.ok for c in run.calls) / (len(run.calls) + run.unfinished) if run.calls else float("nan"),
        "attempts_per_outage_call": (
            sum(attempts.get(c.request_id, 0) for c in in_outage) / len(in_outage) if in_outage else float("nan")
        ),
        "outage_calls": len(in_outage),
        "outage_phase_attempts": stats["phases"].get("outage", 0),
        "recovery": first_success - RECOVERY,
        "failed_late": sum(not c.ok for c in run.calls if c.started >= RECOVERY + LATE),
        "late_calls": sum(c.started >= RECOVERY + LATE for c in run.calls),
        "peak": run.peak,
        "p50": percentile(latencies, 0.5) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "failures": ", ".join(f"{kind} {count}" for kind, count in failures.most_common(2)),
        "by_start": [
            (start / 2, *(sum(values) for values in zip(*cells, strict=True)))
            for start in range(int(TOTAL * 2))
            if (cells := [(1, attempts.get(c.request_id, 0)) for c in run.calls if int(c.started * 2) == start])
        ],
        # A handful of failures is worth seeing one by one (when it started, how it ended, after what attempts).
        "few_failures": [
            f"started {c.started:.2f} s, failed {c.ended:.2f} s with {c.failure} after "
            f"{attempts.get(c.request_id, 0)} attempts"
            for c in run.calls
            if not c.ok
        ][: 5 if 0 < len(run.calls) - sum(c.ok for c in run.calls) <= 5 else 0],
        "unfinished": run.unfinished,
        "not_started": run.not_started,
        # Attempts the upstream saw that no call of this run claims by its X-Request-Id: a strategy that dropped
        # or changed the id on a retry (or a straggler from the strategy before).
        "unattributed": sum(stats["phases"].values()) - sum(attempts.get(c.request_id, 0) for c in run.calls),
        "lag": run.late_start,
        "wall": wall,
    }


def print_table(title: str, rows: list[dict[str, Any]], *, by_start: bool = False) -> None:
    print(f"\n### {title}\n")
    print("| strategy | success | attempts per call started in the outage | attempts in the outage phase "
          "| recovery to first success | failed, started ≥ 0.5 s after recovery | peak in flight | p50 ms "
          "| p99 ms | commonest failures |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['strategy']} | {row['success']:.1%} | {row['attempts_per_outage_call']:.2f} "
            f"({row['outage_calls']} calls) "
            f"| {row['outage_phase_attempts']} | {row['recovery']:.2f} s | {row['failed_late']} of {row['late_calls']} "
            f"| {row['peak']} | {row['p50']:.1f} | {row['p99']:.0f} | {row['failures'] or '-'} |"
        )
    notes = [
        f"{r['strategy']}: {r['unfinished']} calls unfinished at the join timeout" for r in rows if r.get("unfinished")
    ]
    notes += [
        f"{r['strategy']}: {r['not_started']} calls not started (--cap in flight)" for r in rows if r.get("not_started")
    ]
    notes += [f"{r['strategy']}: a call {failure}" for r in rows for failure in r.get("few_failures", [])]
    notes += [f"{r['strategy']}: {r['unattributed']} attempts reached the upstream without one of this run's "
              "request ids" for r in rows if r.get("unattributed")]  # fmt: skip
    notes += [f"{r['strategy']}: the open loop ran up to {r['lag'] * 1000:.0f} ms behind schedule"
              for r in rows if r.get("lag", 0) > 0.05]  # fmt: skip
    if notes:
        print()
    for note in notes:
        print(f"- {note}")
    if by_start:
        print("\nUpstream attempts by the calls started in each half second (calls/attempts):\n")
        print("| strategy | " + " | ".join(f"{t / 2:g} s" for t in range(int(TOTAL * 2))) + " |")
        print("|---|" + "---:|" * int(TOTAL * 2))
        for row in rows:
            print(f"| {row['strategy']} | " + " | ".join(f"{n}/{a}" for _, n, a in row["by_start"]) + " |")


VARIANTS = {
    "a": ("(a) open loop, 503 without Retry-After", 0, False),
    "b": ("(b) open loop, 503 with Retry-After: 1", 1, False),
    "c": ("(c) closed loop, 503 without Retry-After", 0, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retry-after", type=int, help="only the open loop, with this Retry-After (0: none)")
    parser.add_argument("--closed-loop", action="store_true", help="only the closed loop")
    parser.add_argument("--all", action="store_true", help="variants (a), (b) and (c) (default: (a) and (b))")
    parser.add_argument("--only", help="run only the strategies whose name contains this text")
    parser.add_argument("--by-start", action="store_true", help="also: attempts by the calls started each 0.5 s")
    parser.add_argument("--rate", type=float, default=160.0, help="calls started a second (default 160)")
    parser.add_argument("--threads", type=int, default=8, help="closed loop: client threads (default 8)")
    parser.add_argument("--cap", type=int, default=5000, help="open loop: most calls in flight (default 5000)")
    parser.add_argument("--join-timeout", type=float, default=60.0, help="seconds to wait for calls after the last")
    args = parser.parse_args()
    # Quiet peers: urllib3 warns on every connection it discards from a full pool; stamina logs and counts
    # every retry. Neither is the strategy being measured.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    stamina.instrumentation.set_on_retry_hooks([])
    if args.retry_after is not None or args.closed_loop:
        retry_after = args.retry_after or 0
        title = f"{'closed' if args.closed_loop else 'open'} loop, 503 " + (
            f"with Retry-After: {retry_after}" if retry_after else "without Retry-After"
        )
        variants = [(title, retry_after, args.closed_loop)]
    else:
        variants = [VARIANTS[key] for key in ("abc" if args.all else "ab")]
    names = [name for name in STRATEGIES if not args.only or args.only in name]
    print(f"Python {sys.version.split()[0]}; timeline: healthy {HEALTHY:g} s, 503 {OUTAGE:g} s, healthy "
          f"{RECOVERED:g} s; {args.rate:g} calls/s open loop, or {args.threads} threads closed loop")  # fmt: skip
    with child_process(serve_timeline, name="timeline server") as port:
        base = f"http://127.0.0.1:{port}"
        for title, retry_after, closed in variants:
            args.closed_loop = closed
            rows = []
            for name in names:
                strategy = STRATEGIES[name]()
                try:
                    rows.append(measure(base, name, strategy, retry_after, args))
                finally:
                    strategy.close()
                print(f"  {title} · {name}: {rows[-1]['wall']:.1f} s", file=sys.stderr)
                time.sleep(0.5)  # let the previous strategy's connections close before the next reset
            print_table(title, rows, by_start=args.by_start)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
