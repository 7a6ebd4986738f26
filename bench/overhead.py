"""Per-call overhead of retry decorators and circuit breakers, side by side in one run.

    .venv/bin/python bench/overhead.py [--calls 100000] [--repeats 5]

Three paths, each the median of ``--repeats`` runs of ``--calls`` calls, minus the cost of calling the bare
function:
- success: a wrapped no-op;
- fail-twice: a function that raises ``ConnectionError`` twice, then returns; every library configured
  for zero waits (upstreamkit never sleeps for a zero delay; the others call ``time.sleep(0)``);
- breaker: a closed circuit breaker around a no-op (upstreamkit's decorator with a breaker vs pybreaker).

Peers: tenacity, stamina, backoff, pybreaker (``pip install -e '.[bench]'``). Bounded: calls x repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import backoff
import pybreaker
import stamina
import tenacity

import upstreamkit
from upstreamkit.core.backoff import Backoff
from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.retry import RetryPolicy


def noop() -> int:
    return 1


def make_flaky() -> Callable[[], int]:
    state = {"n": 0}

    def flaky() -> int:
        state["n"] += 1
        if state["n"] % 3:
            raise ConnectionError("[Errno 104] Connection reset by peer")
        return 1

    return flaky


def per_call(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    """Median seconds per call."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs)


def success_peers() -> dict[str, Callable[[], Any]]:
    return {
        "upstreamkit.retry": upstreamkit.retry(noop),
        "tenacity": tenacity.retry(stop=tenacity.stop_after_attempt(3), reraise=True)(noop),
        "stamina": stamina.retry(on=ConnectionError, attempts=3)(noop),
        "backoff": backoff.on_exception(backoff.expo, ConnectionError, max_tries=3)(noop),
    }


def failing_peers() -> dict[str, Callable[[], Any]]:
    zero = RetryPolicy(attempts=3, backoff=Backoff(base=0.0, jitter="none"), deadline=None)
    return {
        # Budget off: a function failing twice on every call would (rightly) spend any retry budget.
        "upstreamkit.retry": upstreamkit.retry(policy=zero, budget=None)(make_flaky()),
        "tenacity": tenacity.retry(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_none(), reraise=True)(
            make_flaky()
        ),
        "stamina": stamina.retry(on=ConnectionError, attempts=3, wait_initial=0, wait_max=0, wait_jitter=0)(
            make_flaky()
        ),
        "backoff": backoff.on_exception(backoff.constant, ConnectionError, max_tries=3, interval=0, jitter=None)(
            make_flaky()
        ),
    }


def breaker_peers() -> dict[str, Callable[[], Any]]:
    return {
        "upstreamkit.retry + breaker": upstreamkit.retry(budget=None, breaker=BreakerConfig())(noop),
        "pybreaker": pybreaker.CircuitBreaker(fail_max=5, reset_timeout=5)(noop),
    }


def table(title: str, peers: dict[str, Callable[[], Any]], calls: int, repeats: int, base: float) -> list[str]:
    costs = {name: max(per_call(fn, calls, repeats) - base, 1e-9) for name, fn in peers.items()}
    best = costs[next(iter(peers))]
    lines = [f"### {title}", "", "| library | overhead µs/call | ratio to upstreamkit |", "|---|---:|---:|"]
    lines += [f"| {name} | {cost * 1e6:.2f} | {cost / best:.2f} |" for name, cost in costs.items()]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    base = per_call(noop, args.calls, args.repeats)
    fail_calls = max(args.calls // 10, 1000)
    out = [f"bare call: {base * 1e9:.0f} ns; Python {sys.version.split()[0]}", ""]
    out += table("success path (wrapped no-op)", success_peers(), args.calls, args.repeats, base)
    out += table("fail twice, then succeed (zero waits)", failing_peers(), fail_calls, args.repeats, base)
    out += table("closed circuit breaker", breaker_peers(), args.calls, args.repeats, base)
    print("\n".join(out))


if __name__ == "__main__":
    main()
