"""Requests/s of httpx with ResilientTransport versus plain httpx, sync and async, against a fast constant server.

    .venv/bin/python bench/transport.py [--requests 500] [--rounds 40] [--seconds 10] [--server httptools]
    .venv/bin/python bench/transport.py --compare-servers     # which constant server is faster, then exit

The upstream is a constant 200 JSON response served from its own process (``_fast_server.serve_constant``:
asyncio + httptools, answering from the parser callback), not the simulator, whose per-request work hid the
transport's overhead. ``--server uvicorn`` serves the same constant from uvicorn (httptools, raw ASGI app).

Four clients, each with one keep-alive connection doing sequential GETs: ``httpx.Client()``,
``httpx.Client(transport=ResilientTransport())``, ``httpx.AsyncClient()`` and
``httpx.AsyncClient(transport=AsyncResilientTransport())``, every upstreamkit default on. The four take turns,
``--rounds`` rounds of ``--requests`` each, every other round in reverse order, so drift on the machine hits
them alike and no client always follows the same one; each figure is the median round; a round stops at
``--seconds`` whatever its count. The server and this client run on a CPU each (``--no-pin`` to leave them to
the OS). Reported: req/s, µs a request, the ratio to the plain client of the same kind (of the medians, and the
median of the rounds' own ratios), the overhead per request in µs, and this process's CPU time per request
(``time.process_time``; the server's is not in it), the figure least moved by other load on a shared machine.
Goal (issue 10): sync ratio at least 0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import httpx

from _fast_server import serve_constant
from _server import child_process
from simulator import serve_uvicorn
from upstreamkit import AsyncResilientTransport, ResilientTransport

SERVERS: dict[str, Callable[..., None]] = {"httptools": serve_constant, "uvicorn": serve_uvicorn}
PLAIN, RESILIENT, ASYNC_PLAIN, ASYNC_RESILIENT = (
    "httpx.Client()",
    "httpx.Client(transport=ResilientTransport())",
    "httpx.AsyncClient()",
    "httpx.AsyncClient(transport=AsyncResilientTransport())",
)


class Round(NamedTuple):
    rate: float  # requests per second of wall time
    cpu: float  # this process's CPU seconds per request (the server runs in another process)


def sync_round(client: httpx.Client, url: str, requests: int, seconds: float) -> Round:
    done = 0
    start, cpu = time.perf_counter(), time.process_time()
    stop_at = start + seconds
    while done < requests and time.perf_counter() < stop_at:
        client.get(url).raise_for_status()
        done += 1
    return Round(done / (time.perf_counter() - start), (time.process_time() - cpu) / done)


async def async_round(client: httpx.AsyncClient, url: str, requests: int, seconds: float) -> Round:
    done = 0
    start, cpu = time.perf_counter(), time.process_time()
    stop_at = start + seconds
    while done < requests and time.perf_counter() < stop_at:
        (await client.get(url)).raise_for_status()
        done += 1
    return Round(done / (time.perf_counter() - start), (time.process_time() - cpu) / done)


def make_client(name: str) -> httpx.Client | httpx.AsyncClient:
    if name == PLAIN:
        return httpx.Client()
    if name == RESILIENT:
        return httpx.Client(transport=ResilientTransport())
    if name == ASYNC_PLAIN:
        return httpx.AsyncClient()
    return httpx.AsyncClient(transport=AsyncResilientTransport())


def measure(jobs: dict[str, tuple[str, str]], args: argparse.Namespace) -> dict[str, list[Round]]:
    """``args.rounds`` interleaved rounds of every job (label -> (url, client name)), each with its own client;
    one :class:`Round` per round."""
    loop = asyncio.new_event_loop()  # one loop for every async round, as a service would run
    clients = {label: make_client(name) for label, (_, name) in jobs.items()}

    def one(label: str, count: int) -> Round:
        client, url = clients[label], jobs[label][0]
        if isinstance(client, httpx.Client):
            return sync_round(client, url, count, args.seconds)
        return loop.run_until_complete(async_round(client, url, count, args.seconds))

    try:
        for label in jobs:
            one(label, 300)  # warm up: the connection, caches, the state per upstream
        rates: dict[str, list[Round]] = {label: [] for label in jobs}
        labels = list(jobs)
        for index in range(args.rounds):
            # Every other round in reverse order (A B C D, D C B A, ...): a client that always ran right after
            # another would inherit its state (caches, the allocator, the CPU's clock) and a steady drift would
            # always favour the one that runs first; over a reversed pair both cancel.
            for label in labels if index % 2 == 0 else reversed(labels):
                rates[label].append(one(label, args.requests))
        return rates
    finally:
        for client in clients.values():
            if isinstance(client, httpx.Client):
                client.close()
            else:
                loop.run_until_complete(client.aclose())
        loop.close()


def compare_servers(args: argparse.Namespace) -> None:
    """Both constant servers at once, the plain clients' rounds interleaved across them."""
    with (
        child_process(serve_constant, name="httptools") as port_a,
        child_process(serve_uvicorn, name="uvicorn") as port_b,
    ):
        ports = {"httptools": port_a, "uvicorn": port_b}
        jobs = {(server, name): (f"http://127.0.0.1:{port}/v1/items", name)
                for server, port in ports.items() for name in (PLAIN, ASYNC_PLAIN)}  # fmt: skip
        rates = measure({f"{server}|{name}": job for (server, name), job in jobs.items()}, args)
    print(f"{args.rounds} interleaved rounds x {args.requests} sequential keep-alive GETs per client\n")
    print("| constant server (own process) | plain httpx.Client req/s (median round) | plain AsyncClient req/s |")
    print("|---|---:|---:|")
    for server in ports:
        sync, async_ = (statistics.median(r.rate for r in rates[f"{server}|{name}"]) for name in (PLAIN, ASYNC_PLAIN))
        print(f"| {server} | {sync:,.0f} | {async_:,.0f} |")


def pin(wanted: bool) -> str:
    """Put the server (the one child process) and this client on CPUs of their own, when there are two: neither
    then waits for the other's core nor migrates, so what is timed is the client's work and one round trip.
    Returns what was done."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    children = multiprocessing.active_children()
    if not wanted or len(cpus) < 2 or len(children) != 1 or children[0].pid is None:
        return "not pinned"
    os.sched_setaffinity(children[0].pid, {cpus[1]})
    os.sched_setaffinity(0, {cpus[0]})
    return f"client on CPU {cpus[0]}, server on CPU {cpus[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="GETs per client per round (default 500)")
    parser.add_argument(
        "--rounds", type=int, default=40, help="interleaved rounds, every other one in reverse order (default 40)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="time cap of one client's round (default 10)")
    parser.add_argument("--server", choices=sorted(SERVERS), default="httptools")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="leave the client and the server where the OS puts them (default: a CPU each)",
    )
    parser.add_argument("--compare-servers", action="store_true", help="plain clients against both servers, then exit")
    args = parser.parse_args()
    if args.compare_servers:
        compare_servers(args)
        return
    with child_process(SERVERS[args.server], name=args.server) as port:
        url = f"http://127.0.0.1:{port}/v1/items"
        pinned = pin(args.pin)
        rates = measure({name: (url, name) for name in (PLAIN, RESILIENT, ASYNC_PLAIN, ASYNC_RESILIENT)}, args)
    print(f"Python {sys.version.split()[0]}, httpx {httpx.__version__}; constant server: {args.server} "
          f"(own process); {args.rounds} rounds x {args.requests} sequential keep-alive GETs per client; "
          f"{pinned}\n")  # fmt: skip
    print("| client | req/s (median round) | µs/request | ratio to plain | ratio, median of rounds | overhead "
          "µs/request | client CPU µs/request | CPU overhead µs/request | rounds min..max req/s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, plain in ((PLAIN, PLAIN), (RESILIENT, PLAIN), (ASYNC_PLAIN, ASYNC_PLAIN), (ASYNC_RESILIENT, ASYNC_PLAIN)):
        rate, base = (statistics.median(r.rate for r in rates[n]) for n in (name, plain))
        cpu, base_cpu = (statistics.median(r.cpu for r in rates[n]) * 1e6 for n in (name, plain))
        # Each round's ratio pairs two runs made seconds apart: steadier than the ratio of medians when the
        # machine's load drifts between rounds. CPU time per request is steadier still on a shared machine.
        paired = statistics.median(m.rate / p.rate for m, p in zip(rates[name], rates[plain], strict=True))
        overhead, cpu_overhead = (
            ("", "") if name == plain else (f"{1e6 / rate - 1e6 / base:+.0f}", f"{cpu - base_cpu:+.0f}")
        )
        spread = f"{min(r.rate for r in rates[name]):,.0f}..{max(r.rate for r in rates[name]):,.0f}"
        print(f"| {name} | {rate:,.0f} | {1e6 / rate:.0f} | {rate / base:.3f} | {paired:.3f} | {overhead} | {cpu:.0f} "
              f"| {cpu_overhead} | {spread} |")  # fmt: skip


if __name__ == "__main__":
    main()
