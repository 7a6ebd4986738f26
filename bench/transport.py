"""Requests/s of httpx.Client with ResilientTransport versus the plain transport, in one run.

    .venv/bin/python bench/transport.py [--requests 5000] [--rounds 5] [--seconds 20]

Sequential keep-alive GETs to the simulator's healthy route (the simulator in its own process). The two
clients take turns, ``--rounds`` rounds of ``--requests`` each, so drift on the machine hits both alike; the
figure is the median round. Bounded by count and by ``--seconds`` per round. Goal: at least 0.9 of plain.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import httpx

from _server import simulator_process
from upstreamkit import ResilientTransport


def run(client: httpx.Client, url: str, requests: int, seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    stop_at = start + seconds
    while done < requests and time.perf_counter() < stop_at:
        client.get(url).raise_for_status()
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with simulator_process("healthy") as base:
        url = f"{base}/v1/items"
        clients = {
            "httpx.Client (plain HTTPTransport)": httpx.Client(),
            "httpx.Client + ResilientTransport (defaults)": httpx.Client(transport=ResilientTransport()),
        }
        rates: dict[str, list[float]] = {name: [] for name in clients}
        for client in clients.values():
            run(client, url, 200, 5)  # warm up: connection, caches
        for _ in range(args.rounds):
            for name, client in clients.items():
                rates[name].append(run(client, url, args.requests, args.seconds))
        for client in clients.values():
            client.close()
    plain = statistics.median(rates["httpx.Client (plain HTTPTransport)"])
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds x {args.requests} sequential keep-alive GETs\n")
    print("| client | req/s (median round) | µs/request | ratio to plain |")
    print("|---|---:|---:|---:|")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"| {name} | {rate:,.0f} | {1e6 / rate:.0f} | {rate / plain:.2f} |")


if __name__ == "__main__":
    main()
