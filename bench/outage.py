"""Clients through the simulator's incident timeline: what each retry strategy does to a failing upstream.

    .venv/bin/python bench/outage.py [--clients 8] [--time-scale 1.0] [--seed 1]

The incident scenario runs healthy → outage (90 % 503 with Retry-After 2, 10 % slow 504) → partial
recovery (30 % 503) → healthy, 3 s a phase at time scale 1. For each strategy in turn the simulator's
timeline restarts and ``--clients`` threads send logical requests at a steady rate (one every
``--interval`` seconds each, or at once when the previous one took longer) until the timeline's end
(bounded by time and by a request cap): GET /v1/items, and every third request a POST /v1/payments, each
logical request with its own X-Request-Id (sent again on its retries, so the upstream's ledger can count
attempts per logical request).

Strategies, side by side in one run:
- upstreamkit: ``httpx.Client(transport=ResilientTransport())`` with its defaults (POSTs carry an
  Idempotency-Key per logical call, ``auto_idempotency_key=True``);
- tenacity: ``stop_after_attempt(4)``, ``wait_exponential(multiplier=0.1, max=2)``, retrying any
  ``httpx.HTTPError`` or 5xx, POSTs included (as such wrappers are commonly written);
- urllib3: ``Retry(total=3, backoff_factor=0.1, status_forcelist=[502, 503, 504])``, its default
  methods (POST not retried), Retry-After respected.

Reported per strategy: upstream attempts per logical request during the outage phase (attempts the
upstream's ledger saw in that phase over logical requests the clients started in it), success rate over
the whole run, duplicated side effects (a payment applied twice for one logical request), and the time from
the end of the outage phase to the first success any client saw.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import tenacity
import urllib3

from _server import simulator_process
from upstreamkit import ResilientTransport, UpstreamError

PHASE = 3.0  # seconds per phase of the incident scenario at time scale 1


@dataclass
class Tally:
    started: list[float] = field(default_factory=list)  # monotonic start of every logical request
    successes: list[float] = field(default_factory=list)  # monotonic end of every successful one
    lock: threading.Lock = field(default_factory=threading.Lock)


Send = Callable[[str, str, str], bool]  # (method, url, request_id) -> success


def upstreamkit_sender() -> Send:
    client = httpx.Client(transport=ResilientTransport(auto_idempotency_key=True))

    def send(method: str, url: str, request_id: str) -> bool:
        try:
            response = client.request(method, url, headers={"X-Request-Id": request_id}, json={"amount": 1})
        except UpstreamError:
            return False
        return response.status_code < 400

    return send


def tenacity_sender() -> Send:
    client = httpx.Client(timeout=10)

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_exponential(multiplier=0.1, max=2),
        retry=tenacity.retry_if_exception_type(httpx.HTTPError),
        reraise=True,
    )
    def call(method: str, url: str, request_id: str) -> httpx.Response:
        response = client.request(method, url, headers={"X-Request-Id": request_id}, json={"amount": 1})
        if response.status_code >= 500:
            response.raise_for_status()
        return response

    def send(method: str, url: str, request_id: str) -> bool:
        try:
            return call(method, url, request_id).status_code < 400
        except httpx.HTTPError:
            return False

    return send


def urllib3_sender() -> Send:
    pool = urllib3.PoolManager(
        retries=urllib3.Retry(total=3, backoff_factor=0.1, status_forcelist=[502, 503, 504]), timeout=10.0
    )

    def send(method: str, url: str, request_id: str) -> bool:
        try:
            response = pool.request(method, url, headers={"X-Request-Id": request_id}, json={"amount": 1})
        except urllib3.exceptions.HTTPError:
            return False
        return response.status < 400

    return send


def control(base: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"{base}{path}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def drive(base: str, sender: Send, args: argparse.Namespace, duration: float) -> tuple[Tally, float]:
    control(base, "/__sim/reset?timeline=1", "POST")
    tally = Tally()
    start = time.monotonic()
    stop_at = start + duration

    def worker(index: int) -> None:
        # Traffic arrives at a steady rate, as from users: one logical request every --interval seconds,
        # or at once when the previous one took longer (retries and waits hold a client up).
        n = 0
        next_start = start + index * args.interval / args.clients
        while time.monotonic() < stop_at and len(tally.started) < args.cap:
            delay = next_start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_start = max(next_start + args.interval, time.monotonic())
            n += 1
            method, path = ("POST", "/v1/payments") if n % 3 == 0 else ("GET", "/v1/items")
            began = time.monotonic()
            ok = sender(method, f"{base}{path}", f"{index}-{uuid.uuid4().hex}")
            with tally.lock:
                tally.started.append(began)
                if ok:
                    tally.successes.append(time.monotonic())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 60)
    return tally, start


def measure(base: str, name: str, sender: Send, args: argparse.Namespace) -> dict[str, Any]:
    phase = PHASE * args.time_scale
    tally, start = drive(base, sender, args, 4 * phase)
    entries = control(base, "/__sim/ledger")["entries"]
    outage_attempts = sum(1 for e in entries if e.get("phase") == "outage")
    outage_start, outage_end = start + phase, start + 2 * phase
    outage_requests = sum(1 for t in tally.started if outage_start <= t < outage_end)
    applied: defaultdict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.get("side_effect_applied") and entry.get("request_id"):
            applied[entry["request_id"]] += 1
    after = [t for t in tally.successes if t >= outage_end]
    return {
        "strategy": name,
        "attempts_per_request": outage_attempts / outage_requests if outage_requests else float("nan"),
        "success_rate": len(tally.successes) / len(tally.started) if tally.started else 0.0,
        "logical": len(tally.started),
        "duplicates": sum(count - 1 for count in applied.values() if count > 1),
        "recovery": (min(after) - outage_end) if after else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between a client's logical requests")
    parser.add_argument("--cap", type=int, default=50_000, help="at most this many logical requests per strategy")
    parser.add_argument("--only", help="run only the strategies whose name contains this text")
    args = parser.parse_args()
    strategies = {
        "upstreamkit (defaults)": upstreamkit_sender,
        "tenacity (4 attempts, exponential)": tenacity_sender,
        "urllib3 Retry(total=3)": urllib3_sender,
    }
    rows = []
    with simulator_process("incident", seed=args.seed, time_scale=args.time_scale) as base:
        for name, make in strategies.items():
            if args.only and args.only not in name:
                continue
            rows.append(measure(base, name, make(), args))
    print(f"Python {sys.version.split()[0]}; {args.clients} client threads; incident timeline, "
          f"{PHASE * args.time_scale:g} s a phase\n")  # fmt: skip
    print("| strategy | attempts per request (outage) | success rate | logical requests | duplicated side effects "
          "| first success after the outage |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['strategy']} | {row['attempts_per_request']:.2f} | {row['success_rate']:.1%} | {row['logical']} "
            f"| {row['duplicates']} | {row['recovery']:.2f} s |"
        )


if __name__ == "__main__":
    main()
