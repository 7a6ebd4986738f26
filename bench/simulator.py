"""Benchmark: responses per second of the simulator's healthy route under a bounded keep-alive load.

    .venv/bin/python bench/simulator.py [--requests 30000] [--connections 8] [--seconds 10] [--client raw]

Each server runs in its own process (so it has a core to itself, as it would beside the code under test);
the load comes from this process: ``--connections`` threads, each with one keep-alive ``http.client``
connection, sharing ``--requests`` GETs and stopping at ``--seconds`` whatever the count. Peers in the same
run, on the same load: the standard library's ``ThreadingHTTPServer`` answering a constant, and uvicorn
(httptools, a raw ASGI constant) when it is installed (it is not an upstreamkit dependency). Ratios are
against the simulator. Loopback only; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import multiprocessing as mp
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

from upstreamkit.simulator import Simulator

HOST = "127.0.0.1"
PATH = "/v1/items"
BODY = b'{"ok":true,"method":"GET","path":"/v1/items","query":{}}'


# --- servers (each runs in a child process; sends its port, serves until told to stop) ---------------


def serve_simulator(pipe: Connection) -> None:
    with Simulator("healthy", host=HOST, port=0) as sim:
        pipe.send(sim.port)
        pipe.recv()
        pipe.send(sim.stats()["requests"])


class _ConstantHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle plus delayed ACKs cost 40 ms a response.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        del format, args


def serve_stdlib(pipe: Connection) -> None:
    server = ThreadingHTTPServer((HOST, 0), _ConstantHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pipe.send(server.server_address[1])
    pipe.recv()
    server.shutdown()
    server.server_close()
    pipe.send(None)


def serve_uvicorn(pipe: Connection) -> None:
    import uvicorn  # noqa: PLC0415 - an optional peer, not an upstreamkit dependency

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host=HOST, port=port, http="httptools", loop="asyncio", log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    pipe.send(port)
    pipe.recv()
    server.should_exit = True
    thread.join(10)
    pipe.send(None)


# --- load -------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    responses: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.responses / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class RawConnection:
    """A minimal keep-alive client (one prepared request, Content-Length framing only): less client CPU per
    request than http.client, so the server's own ceiling shows on a 2-core machine."""

    REQUEST = f"GET {PATH} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: bench\r\n\r\n".encode()

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self) -> int:
        self.sock.sendall(self.REQUEST)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            self.buffer = rest
            self._fill()
            rest = self.buffer
        self.buffer = rest[length:]
        return int(head[9:12])

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buffer += data

    def close(self) -> None:
        self.sock.close()


class StdlibConnection:
    """One keep-alive ``http.client`` connection, reopened after an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=5)

    def get(self) -> int:
        try:
            self.conn.request("GET", PATH)
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
            return 0
        return response.status

    def close(self) -> None:
        self.conn.close()


def load(
    port: int, requests: int, connections: int, seconds: float, client: str = "http.client"
) -> tuple[int, int, float, list[float]]:
    """``requests`` GETs over ``connections`` keep-alive connections, stopping at ``seconds``."""
    per_thread = [requests // connections + (1 if i < requests % connections else 0) for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    start = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        conn = RawConnection(port) if client == "raw" else StdlibConnection(port)
        mine = latencies[index]
        start.wait()
        try:
            for _ in range(per_thread[index]):
                began = time.perf_counter()
                if began > deadline[0]:
                    break
                if conn.get() != 200:
                    errors[index] += 1
                    continue
                mine.append(time.perf_counter() - began)
        except OSError:
            errors[index] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = [value for chunk in latencies for value in chunk]
    return len(flat), sum(errors), elapsed, flat


def run(name: str, target: Callable[[Connection], None], args: argparse.Namespace) -> Result:
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child,), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError(f"{name} did not start")
        port = parent.recv()
        load(port, min(500, args.requests), args.connections, 5, args.client)  # warm-up
        responses, errors, seconds, latencies = load(port, args.requests, args.connections, args.seconds, args.client)
        parent.send("stop")
        if parent.poll(15):
            parent.recv()
    finally:
        process.join(15)
        if process.is_alive():
            process.terminate()
            process.join(5)
    return Result(name, responses, errors, seconds, latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30_000, help="GETs per server (default 30000)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time cap per server (default 10)")
    parser.add_argument(
        "--client",
        choices=["http.client", "raw"],
        default="http.client",
        help="load generator: the stdlib client, or a minimal raw-socket one that leaves the server more CPU",
    )
    args = parser.parse_args()

    servers: list[tuple[str, Callable[[Connection], None]]] = [
        ("upstreamkit simulator (healthy)", serve_simulator),
        ("http.server ThreadingHTTPServer", serve_stdlib),
    ]
    if importlib.util.find_spec("uvicorn") is not None and importlib.util.find_spec("httptools") is not None:
        servers.append(("uvicorn + httptools (raw ASGI)", serve_uvicorn))
    else:
        print("(uvicorn not installed: that peer is skipped)")

    results = [run(name, target, args) for name, target in servers]
    base = results[0].rate or 1.0
    print(
        f"GET {PATH} · {args.client} · {args.connections} keep-alive connections · up to {args.requests} requests or "
        f"{args.seconds:g} s per server · Python {sys.version.split()[0]} · {mp.cpu_count()} cores"
    )
    header = (
        f"{'server':34} {'responses':>9} {'errors':>6} {'seconds':>7} {'resp/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        print(
            f"{result.name:34} {result.responses:>9} {result.errors:>6} {result.seconds:>7.2f} {result.rate:>8.0f} "
            f"{result.percentile(0.5):>7.2f} {result.percentile(0.99):>7.2f} {result.rate / base:>6.2f}"
        )
    median = statistics.median(results[0].latencies) * 1000 if results[0].latencies else float("nan")
    print(f"simulator median latency {median:.2f} ms; ratio = responses/s relative to the simulator")
    return 0 if results[0].errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
