"""What shared state in Redis costs a request: the transport with the memory store versus RedisStateStore.

    .venv/bin/python bench/state.py [--requests 3000] [--rounds 7] [--seconds 10]

The upstream is the constant 200 server of ``bench/transport.py`` (``_fast_server.serve_constant``, own process);
Redis is Debian's ``redis-server`` on a free loopback port, without persistence, started and stopped by this
script. Four clients, one keep-alive connection each, sequential GETs, rounds interleaved so that drift on the
machine hits them alike: ``ResilientTransport()`` (memory), ``ResilientTransport(store=RedisStateStore...)``
(its thread syncs every 20 ms), and their async twins (redis.asyncio, a task on the same loop). Reported per
client: µs a request (median round), p50 and p99 µs of single requests (all rounds pooled), the extra µs and
extra p99 over the memory peer of the same kind, and the ratio.

Then the round trip itself, the cost a design with one round trip per request would add to every request:
``sync_once`` (one pipelined EVALSHA per upstream) timed for 1 and for 100 upstreams.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _fast_server import serve_constant
from _server import child_process
from upstreamkit import AsyncResilientTransport, ResilientTransport
from upstreamkit.state.redis import RedisStateStore
from upstreamkit.state.testing import RedisServer

MEMORY, REDIS, ASYNC_MEMORY, ASYNC_REDIS = "sync, memory", "sync, redis", "async, memory", "async, redis"


def _round(run: object, requests: int, seconds: float) -> tuple[float, float, list[float]]:
    """(µs a request over the round, this process's CPU µs a request, each request's µs)."""
    latencies: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    stop_at = start + seconds
    if isinstance(run, httpx.Client):
        while len(latencies) < requests and time.perf_counter() < stop_at:
            t = time.perf_counter()
            run.get("/v1/items").raise_for_status()
            latencies.append((time.perf_counter() - t) * 1e6)
    n = max(len(latencies), 1)
    return (time.perf_counter() - start) * 1e6 / n, (time.process_time() - cpu) * 1e6 / n, latencies


async def _around(client: httpx.AsyncClient, requests: int, seconds: float) -> tuple[float, float, list[float]]:
    latencies: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    stop_at = start + seconds
    while len(latencies) < requests and time.perf_counter() < stop_at:
        t = time.perf_counter()
        (await client.get("/v1/items")).raise_for_status()
        latencies.append((time.perf_counter() - t) * 1e6)
    n = max(len(latencies), 1)
    return (time.perf_counter() - start) * 1e6 / n, (time.process_time() - cpu) * 1e6 / n, latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


Results = dict[str, tuple[list[float], list[float], list[float]]]
"""label -> (µs a request per round, CPU µs a request per round, every request's µs)."""


def measure(base: str, redis_url: str, args: argparse.Namespace) -> Results:
    loop = asyncio.new_event_loop()
    sync_store = RedisStateStore.from_url(redis_url)

    async_store = RedisStateStore.from_url(redis_url, asyncio=True)

    async def make_async() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        store = async_store
        return (
            httpx.AsyncClient(base_url=base, transport=AsyncResilientTransport()),
            httpx.AsyncClient(base_url=base, transport=AsyncResilientTransport(store=store)),
        )

    async_memory, async_redis = loop.run_until_complete(make_async())
    clients: dict[str, httpx.Client | httpx.AsyncClient] = {
        MEMORY: httpx.Client(base_url=base, transport=ResilientTransport()),
        REDIS: httpx.Client(base_url=base, transport=ResilientTransport(store=sync_store)),
        ASYNC_MEMORY: async_memory,
        ASYNC_REDIS: async_redis,
    }

    def one(label: str, count: int) -> tuple[float, float, list[float]]:
        client = clients[label]
        if isinstance(client, httpx.Client):
            return _round(client, count, args.seconds)
        return loop.run_until_complete(_around(client, count, args.seconds))

    results: Results = {label: ([], [], []) for label in clients}
    try:
        for label in clients:
            one(label, 300)  # warm up: connections, the state per upstream, the first syncs
        for _ in range(args.rounds):
            for label in clients:
                mean, cpu, latencies = one(label, args.requests)
                results[label][0].append(mean)
                results[label][1].append(cpu)
                results[label][2].extend(latencies)
        assert sync_store.backend_up, "the sync store never reached Redis"
        assert async_store.backend_up, "the async store never reached Redis"
        return results
    finally:
        for client in clients.values():
            if isinstance(client, httpx.Client):
                client.close()
            else:
                loop.run_until_complete(client.aclose())
        sync_store.close()
        loop.run_until_complete(async_store.aclose())
        loop.close()


def round_trip(redis_url: str, upstreams: int, count: int = 2000) -> float:
    """µs of one ``sync_once`` (one pipelined round trip) with ``upstreams`` upstreams kept."""
    store = RedisStateStore.from_url(redis_url, timeout=1.0)
    store._driver = object()  # type: ignore[assignment]
    for i in range(upstreams):
        store.get(f"http://upstream-{i}:80", 0.0)
    for _ in range(50):
        store.sync_once()
    start = time.perf_counter()
    for _ in range(count):
        assert store.sync_once()
    spent = (time.perf_counter() - start) * 1e6 / count
    store.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="GETs per client per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time cap of one client's round (default 10)")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is missing: install the Debian package redis-server")
    with tempfile.TemporaryDirectory() as directory, child_process(serve_constant, name="constant") as port:
        server = RedisServer(Path(directory)).start()
        try:
            results = measure(f"http://127.0.0.1:{port}", server.url, args)
            trips = {n: round_trip(server.url, n, 2000 if n == 1 else 300) for n in (1, 100)}
        finally:
            server.kill()
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds x {args.requests} sequential keep-alive GETs per "
          "client; machine shared with other agents' work\n")  # fmt: skip
    print("| client | µs/request (median round) | p50 µs | p99 µs | CPU µs/request | extra µs | extra p99 µs "
          "| extra CPU µs | ratio (req/s) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, peer in ((MEMORY, MEMORY), (REDIS, MEMORY), (ASYNC_MEMORY, ASYNC_MEMORY), (ASYNC_REDIS, ASYNC_MEMORY)):
        mean, base = statistics.median(results[label][0]), statistics.median(results[peer][0])
        cpu, base_cpu = statistics.median(results[label][1]), statistics.median(results[peer][1])
        p99, base_p99 = _p(results[label][2], 0.99), _p(results[peer][2], 0.99)
        extras = ("", "", "") if label == peer else (
            f"{mean - base:+.1f}", f"{p99 - base_p99:+.0f}", f"{cpu - base_cpu:+.1f}"
        )  # fmt: skip
        print(f"| {label} | {mean:.0f} | {_p(results[label][2], 0.5):.0f} | {p99:.0f} | {cpu:.0f} | "
              f"{' | '.join(extras)} | {base / mean:.3f} |")  # fmt: skip
    print("\n| one sync (one pipelined round trip) | µs |\n|---|---:|")
    for n, spent in trips.items():
        print(f"| {n} upstream{'s' if n > 1 else ''} | {spent:.0f} |")


if __name__ == "__main__":
    main()
