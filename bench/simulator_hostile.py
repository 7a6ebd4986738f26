"""Benchmark: the simulator's memory and time to refuse under hostile clients.

    .venv/bin/python bench/simulator_hostile.py [--cap-mib 256] [--seconds 30]
    .venv/bin/python bench/simulator_hostile.py --parse-path

``--parse-path`` instead measures what the limits and timers cost a well-behaved client: the CPU time per
keep-alive request of one ``Connection`` fed whole requests by hand (a stub transport, a constant handler),
best of 5 rounds of 200,000.

The simulator (healthy, plus ``/v1/big`` answering 64 KiB; default ``ServerLimits``) runs in a child process;
this process is the hostile client, on loopback. For each case the child's peak RSS is reset
(``/proc/PID/clear_refs``, Linux) and read back afterwards (``VmHWM``), so the figure is the peak during that
case alone. Each stream is bounded: it stops when the server answers, after ``--cap-mib`` MiB, or after
``--seconds`` seconds, whichever comes first.

Cases:
- endless header lines: ``X-Filler: aaa...`` lines, forever;
- one endless header value: ``X-Endless: aaaa...`` with no line end;
- endless request line: ``GET /aaaa...`` with no line end;
- endless chunked body: a POST whose chunks never end (the body is kept up to the 16 MiB limit, by design);
- unread responses: pipelined GETs for 64 KiB responses from a client that never reads (the server must stop
  reading and answering; it drops the connection after ``idle_timeout``, 15 s, beyond this case's end).

Reported per case: the answer, the bytes the client got into the socket before it, the time from the first
byte to the answer, the child's RSS before the case and its peak during it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import select
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from upstreamkit.simulator import Simulator, parse_scenario
from upstreamkit.simulator._http import Connection as HTTPConnection
from upstreamkit.simulator._wire import Reply, Request

HOST = "127.0.0.1"
MIB = 1024 * 1024
CHUNK = 64 * 1024


BIG = 64 * 1024  # the body of GET /v1/big: a small request for a large response

SCENARIO = f"""
name = "healthy-with-big"
[[phases]]
name = "p"
[phases.routes."/v1/big"]
faults = [{{ kind = "status", status = 200, body = "{"x" * BIG}", content_type = "text/plain" }}]
"""


def serve(pipe: Connection) -> None:
    with Simulator(parse_scenario(SCENARIO), host=HOST, port=0, ledger_size=1000) as sim:
        pipe.send(sim.port)
        pipe.recv()


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # "5": reset the peak RSS (VmHWM) to the current RSS


@dataclass
class Outcome:
    answer: str
    sent: int
    seconds: float


def stream(port: int, head: bytes, filler: bytes, cap: int, seconds: float) -> Outcome:
    """Send ``head``, then ``filler`` until the server answers, or ``cap`` bytes, or ``seconds``."""
    sent = 0
    with socket.create_connection((HOST, port), timeout=5) as sock:
        began = time.perf_counter()
        sock.sendall(head)
        sent += len(head)
        answered = False
        while sent < cap and time.perf_counter() - began < seconds:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answered = True
                break
            try:
                sock.sendall(filler)
            except OSError:
                answered = True
                break
            sent += len(filler)
        elapsed = time.perf_counter() - began
        try:
            first = sock.recv(256) if answered else b""
        except OSError as exc:
            first = f"({type(exc).__name__})".encode()
    status = first.split(b"\r\n", 1)[0].decode("latin-1") if first else "no answer (capped)"
    return Outcome(status, sent, elapsed)


def unread_responses(port: int, cap: int, seconds: float) -> Outcome:
    """Pipelined GETs for 64 KiB responses, never reading one, until the socket stays unwritable for half a
    second (the server stopped reading) or the caps."""
    request = f"GET /v1/big HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    batch = request * (CHUNK // len(request))
    sent = 0
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.settimeout(0)
        began = time.perf_counter()
        blocked = False
        while sent < cap and time.perf_counter() - began < seconds:
            _, writable, _ = select.select([], [sock], [], 0.5)
            if not writable:
                blocked = True
                break
            try:
                sent += sock.send(batch)
            except BlockingIOError:
                continue
        elapsed = time.perf_counter() - began - (0.5 if blocked else 0.0)
    return Outcome("server stopped reading" if blocked else "never blocked (capped)", sent, elapsed)


class _StubTransport(asyncio.Transport):
    """Accepts every write at once: only the server's own parse-and-dispatch path is measured."""

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (HOST, 1) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        del data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def parse_path_cost(rounds: int = 5, requests: int = 200_000) -> float:
    """Best CPU seconds per request of one keep-alive connection's parse-and-dispatch path."""

    def handler(request: Request, connection: HTTPConnection) -> Reply:
        del request, connection
        return Reply(200, b'{"ok":true}')

    async def measure() -> float:
        connection = HTTPConnection(handler, set())
        connection.connection_made(_StubTransport())
        data = f"GET /v1/items HTTP/1.1\r\nHost: {HOST}\r\nAccept: */*\r\n\r\n".encode()
        best = float("inf")
        for _ in range(rounds):
            began = time.thread_time()
            for _ in range(requests):
                connection.data_received(data)
            best = min(best, (time.thread_time() - began) / requests)
            await asyncio.sleep(0)
        return best

    return asyncio.run(measure())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cap-mib", type=int, default=256, help="bytes cap per case, MiB (default 256)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time cap per case (default 30)")
    parser.add_argument("--parse-path", action="store_true", help="measure the keep-alive parse path instead")
    args = parser.parse_args()
    if args.parse_path:
        print(f"parse-and-dispatch path: {parse_path_cost() * 1e6:.2f} µs per request (CPU time, best of 5)")
        return 0
    if not Path("/proc/self/clear_refs").exists():
        print("needs Linux /proc (clear_refs, VmHWM)", file=sys.stderr)
        return 2
    cap, seconds = args.cap_mib * MIB, args.seconds
    request_head = b"GET /v1/items HTTP/1.1\r\nHost: sim\r\n"
    line = b"X-Filler: " + b"a" * 50 + b"\r\n"
    cases: list[tuple[str, Callable[[int], Outcome]]] = [
        ("endless header lines", lambda port: stream(port, request_head, line * (CHUNK // len(line)), cap, seconds)),
        (
            "one endless header value",
            lambda port: stream(port, request_head + b"X-Endless: ", b"a" * CHUNK, cap, seconds),
        ),
        ("endless request line", lambda port: stream(port, b"GET /", b"a" * CHUNK, cap, seconds)),
        (
            "endless chunked body",
            lambda port: stream(
                port,
                b"POST /v1/items HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"%x\r\n" % (CHUNK - 8) + b"b" * (CHUNK - 8) + b"\r\n",
                cap,
                seconds,
            ),
        ),
        ("unread responses", lambda port: unread_responses(port, cap, seconds)),
    ]
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve, args=(child,), daemon=True)
    process.start()
    rows = []
    try:
        if not parent.poll(30):
            raise RuntimeError("the simulator did not start")
        port = parent.recv()
        pid = process.pid
        assert pid is not None
        for name, case in cases:
            time.sleep(0.5)  # let the previous case's connection close
            _reset_peak(pid)
            before = _status_kib(pid, "VmRSS")
            outcome = case(port)
            peak = _status_kib(pid, "VmHWM")
            rows.append((name, outcome, before / 1024, peak / 1024))
        parent.send("stop")
    finally:
        process.join(15)
        if process.is_alive():
            process.terminate()
            process.join(5)
    print(f"{'case':26} {'answer':40} {'sent MiB':>9} {'ms':>8} {'RSS MiB':>8} {'peak MiB':>9} {'growth':>7}")
    print("-" * 113)
    for name, outcome, before, peak in rows:
        print(
            f"{name:26} {outcome.answer[:40]:40} {outcome.sent / MIB:9.2f} {outcome.seconds * 1000:8.1f}"
            f" {before:8.1f} {peak:9.1f} {peak - before:7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
