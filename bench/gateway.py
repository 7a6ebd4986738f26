"""Benchmark: the gateway's data plane against its peers, side by side in one run, with wrk.

    .venv/bin/python bench/gateway.py [--seconds 5] [--rounds 3] [--connections 32] [--threads 2] [--only WORD ...]

Every server forwards ``GET /items`` to the same fast upstream, an nginx ``return 200`` with a small JSON
body. Each runs in its own process; all are started first, then loaded one at a time by ``wrk`` (Debian's
``wrk``: a 1-second warm-up, then ``--seconds``), in ``--rounds`` interleaved rounds whose medians are
reported, because this machine is shared and its load moves under any single run. ``--only WORD ...`` keeps
the rows whose names contain one of the words (``--only aiohttp "proxy_pass" workers``). Rows:

- nginx ``return 200`` itself (no proxy: the ceiling of this machine for this load);
- nginx ``proxy_pass`` with a keep-alive upstream block (one worker);
- a bare aiohttp forwarder (aiohttp server + one aiohttp ``ClientSession``), on asyncio's loop and on uvloop;
- upstreamkit's data plane (``upstreamkit gateway``: httptools server protocol + the pooled upstream layer),
  on asyncio's loop, on uvloop, and on uvloop with the JSON access log written to a file;
- issue 12's "gateway with all policies on": ``upstreamkit gateway --config every-policy.toml`` (uvloop; retry,
  breaker, retry budget, a rate limit far above this load, a static credential injected from an environment
  variable, the JSON access log to a file, and ``stale_if_error`` on the route when the config schema has the
  key), and quick mode with ``--stale-if-error 60`` (degraded mode's cost alone);
- issue 13: ``--workers 2`` (uvloop, quick mode's default policies) with each worker's state in memory, and
  with ``--state redis://`` on a ``redis-server`` this script starts (no persistence, stopped by PID; its CPU
  counts in that row's CPU column); nginx and HAProxy running the config ``upstreamkit gateway export --format
  nginx|haproxy --route /=UPSTREAM`` writes (nginx: one process, the JSON access log to a file; HAProxy: its
  default threads, the log on stdout, into a file);
- uvicorn (httptools, uvloop) with a raw ASGI app forwarding through the same pooled upstream layer (a bare
  forwarder: no request ids, no header rewriting, no judging), and with an ASGI adapter around the
  gateway's own ``Proxy`` (the same work per request as the gateway: only the server side differs).

The table gives each row's ratio to both aiohttp forwarders and its p50 over nginx ``proxy_pass``; below it,
issue 12's goal read off the every-policy row and issue 13's cost of Redis (``--workers 2 --state redis``
against ``--workers 2``: µs of p50, extra p99, CPU). Needs ``wrk`` and ``nginx`` on PATH and the ``bench``
extra (aiohttp, uvicorn) plus uvloop; ``redis-server`` and the ``redis`` extra for the Redis row, ``haproxy``
for its row. A row whose tools are missing is skipped and says so. Loopback only, high ports, configs and
logs in a temporary directory; every process is started here and stopped by its PID; every run is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from _gateway_peers import serve
from _gateway_setup import (
    HOST,
    PATH,
    TOKEN_ENV,
    cpu_seconds,
    every_policy_config,
    exported_engine,
    free_port,
    nginx_conf,
    redis_command,
    running,
    wrk,
)

UPSTREAM_BODY = '{"ok":true,"items":[1,2,3]}'

# Rows the summary reads (names are what --only matches).
NGINX_PROXY = "nginx proxy_pass, keep-alive upstream"
AIOHTTP = "aiohttp forwarder (asyncio loop)"
AIOHTTP_UVLOOP = "aiohttp forwarder (uvloop)"
GATEWAY_UVLOOP = "upstreamkit gateway, uvloop"
EVERY_POLICY = "upstreamkit gateway, uvloop, every policy (config file)"
WORKERS = "upstreamkit gateway --workers 2 (memory state)"
WORKERS_REDIS = "upstreamkit gateway --workers 2 --state redis://"


@dataclass
class Candidate:
    """One server: ``start`` is an argv (``{port}``, ``{redis}`` filled in) or a kind this script builds."""

    name: str
    start: list[str] | str
    needs: tuple[str, ...] = ()
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    name: str
    rps: float | None = None
    cpu_us: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    note: str = ""
    detail: str = ""
    """A sentence printed below the table (what the every-policy config holds, as ``--check`` reads it)."""


def candidates(me: list[str], upstream: str, directory: Path) -> list[Candidate]:
    """Every row, in the table's order."""
    gateway = [sys.executable, "-m", "upstreamkit", "gateway", "--route", f"/={upstream}", "--admin-port", "0"]
    uv = [*gateway, "--port", "{port}", "--loop", "uvloop"]
    return [
        Candidate("nginx return 200 (the upstream itself, no proxy)", "direct"),
        Candidate(NGINX_PROXY, "nginx"),
        Candidate(AIOHTTP, [*me, "--serve", "aiohttp", "{port}", upstream], ("aiohttp",)),
        Candidate(AIOHTTP_UVLOOP, [*me, "--serve", "aiohttp-uvloop", "{port}", upstream], ("aiohttp", "uvloop")),
        Candidate("upstreamkit gateway, asyncio loop", [*gateway, "--port", "{port}", "--loop", "asyncio"]),
        Candidate(GATEWAY_UVLOOP, uv, ("uvloop",)),
        Candidate(
            "upstreamkit gateway, uvloop, access log to a file",
            [*uv, "--access-log", str(directory / "access.jsonl")],
            ("uvloop",),
        ),
        Candidate(EVERY_POLICY, "every-policy", ("uvloop",), env={TOKEN_ENV: secrets.token_urlsafe(24)}),
        Candidate(
            "upstreamkit gateway, uvloop, --stale-if-error 60 (quick mode)",
            [*uv, "--stale-if-error", "60"],
            ("uvloop",),
        ),
        Candidate(WORKERS, [*uv, "--workers", "2"], ("uvloop",), workers=2),
        Candidate(WORKERS_REDIS, [*uv, "--workers", "2", "--state", "{redis}"], ("uvloop", "redis", "redis-server"), 2),
        Candidate("nginx with the exported config", "nginx-export"),
        Candidate("haproxy with the exported config", "haproxy-export", ("haproxy",)),
        Candidate(
            "uvicorn + raw ASGI app over the same pool",
            [*me, "--serve", "uvicorn-asgi", "{port}", upstream],
            ("uvicorn", "uvloop"),
        ),
        Candidate(
            "uvicorn + ASGI adapter around the gateway's Proxy (same work)",
            [*me, "--serve", "uvicorn-proxy", "{port}", upstream],
            ("uvicorn", "uvloop"),
        ),
    ]


def missing(needs: tuple[str, ...]) -> str | None:
    """The first of ``needs`` not installed: a program (``redis-server``, ``haproxy``) or a Python module."""
    for need in needs:
        program = need in ("redis-server", "haproxy")
        if (shutil.which(need) is None) if program else (importlib.util.find_spec(need) is None):
            return need
    return None


def command_of(
    candidate: Candidate, directory: Path, upstream: str, port: int, redis_url: str
) -> tuple[list[str], str]:
    """The command that starts ``candidate`` on ``port`` (its config file written first), and what ``--check``
    said of that file's route ("" without a file)."""
    start = candidate.start
    if start == "nginx":
        conf = nginx_conf(
            directory,
            "proxy",
            f"upstream backend {{ server {upstream.removeprefix('http://')}; keepalive 64; }}"
            f" server {{ listen {HOST}:{port}; location / {{ proxy_pass http://backend;"
            ' proxy_http_version 1.1; proxy_set_header Connection ""; } }',
        )
        return ["nginx", "-c", str(conf), "-e", "stderr"], ""
    if start in ("nginx-export", "haproxy-export"):
        return exported_engine(str(start).removesuffix("-export"), directory, upstream, port), ""
    if start == "every-policy":
        path, checked = every_policy_config(directory, upstream, port, candidate.env)
        return [sys.executable, "-m", "upstreamkit", "gateway", "--config", str(path)], checked
    return [part.replace("{port}", str(port)).replace("{redis}", redis_url) for part in start], ""


Sample = tuple[float, float, float, int, float]
"""One wrk run of one row: req/s, p50 ms, p99 ms, errors, server CPU µs a request."""


def measure(ports: dict[str, int], pids: dict[str, list[int]], rows: list[Row], args: argparse.Namespace) -> None:
    """``args.rounds`` interleaved rounds of wrk over every started row; each row gets its medians."""
    samples: dict[str, list[Sample]] = {}
    for _ in range(args.rounds):
        for row in rows:
            if row.name not in ports:
                continue
            try:
                # CPU of the server's processes (warm-up included, same for all): the figure a busy, shared
                # machine disturbs least, since time spent waiting for a core is not counted.
                before = sum(cpu_seconds(pid) for pid in pids[row.name])
                result = wrk(ports[row.name], args.seconds, args.connections, args.threads)
                used = sum(cpu_seconds(pid) for pid in pids[row.name]) - before
            except (subprocess.SubprocessError, AttributeError, ValueError) as exc:
                row.note = f"failed: {exc}"
                continue
            served = result[0] * (args.seconds + 1)  # approximately, warm-up included
            samples.setdefault(row.name, []).append((*result, used / served * 1e6 if served else 0.0))
    for row in rows:
        runs = samples.get(row.name)
        if runs:
            row.rps = statistics.median(r[0] for r in runs)
            row.p50_ms = statistics.median(r[1] for r in runs)
            row.p99_ms = statistics.median(r[2] for r in runs)
            row.errors = sum(r[3] for r in runs)
            row.cpu_us = statistics.median(r[4] for r in runs)


def report(rows: list[Row], args: argparse.Namespace, env_note: str) -> None:
    """The table, then what it says about issue 12's goal and issue 13's cost of Redis."""
    by_name = {row.name: row for row in rows if row.rps is not None}
    aiohttp, aiohttp_uv, nginx = (by_name.get(name) for name in (AIOHTTP, AIOHTTP_UVLOOP, NGINX_PROXY))
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, GET {PATH}, one run of {args.rounds} interleaved"
        f" rounds (medians); {env_note}"
    )
    print(
        "| server | req/s | p50 ms | p99 ms | errors | ratio to aiohttp (asyncio) | ratio to aiohttp (uvloop)"
        " | p50 over nginx proxy_pass, ms | server CPU µs/req |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if row.rps is None or row.p50_ms is None or row.p99_ms is None or row.cpu_us is None:
            print(f"| {row.name} | - | - | - | - | - | - | - | - | {row.note}")
            continue
        cells = [
            f"{row.rps:,.0f}", f"{row.p50_ms:.2f}", f"{row.p99_ms:.2f}", str(row.errors),
            _ratio(row, aiohttp), _ratio(row, aiohttp_uv),
            f"{row.p50_ms - nginx.p50_ms:+.2f}" if nginx and nginx.p50_ms is not None else "-", f"{row.cpu_us:.0f}",
        ]  # fmt: skip
        print(f"| {row.name} | {' | '.join(cells)} |" + (f" {row.note}" if row.note else ""))
    below = summary(by_name, args.connections) + [row.detail for row in rows if row.detail]
    if below:
        print("\n" + "\n".join(below))


def _ratio(row: Row, base: Row | None) -> str:
    return f"{row.rps / base.rps:.2f}" if base is not None and base.rps and row.rps is not None else "-"


def summary(by_name: dict[str, Row], connections: int) -> list[str]:
    """Issue 12's goal on the every-policy row, and issue 13's Redis and workers figures, as sentences."""
    lines: list[str] = []
    every, aiohttp, nginx = (by_name.get(name) for name in (EVERY_POLICY, AIOHTTP, NGINX_PROXY))
    if every is not None and every.rps and every.p50_ms is not None and every.p99_ms is not None:
        parts = [f"p99 {every.p99_ms:.2f} ms ({'met' if every.p99_ms <= 10 else 'NOT met'}: ≤ 10 ms)"]
        if aiohttp is not None and aiohttp.rps:
            ratio = every.rps / aiohttp.rps
            parts.insert(
                0, f"{ratio:.2f}x the aiohttp forwarder (asyncio loop) ({'met' if ratio >= 1.6 else 'NOT met'}: ≥ 1.6x)"
            )
        if nginx is not None and nginx.p50_ms is not None:
            parts.append(f"{(every.p50_ms - nginx.p50_ms) * 1000:+.0f} µs over nginx proxy_pass at p50")
        lines.append(
            f"Issue 12, the gateway with every policy on, at {connections} connections"
            + ("" if connections == 32 else " (the goal is stated at 32)")
            + ": "
            + "; ".join(parts)
            + "."
        )
    memory, shared, single = (by_name.get(name) for name in (WORKERS, WORKERS_REDIS, GATEWAY_UVLOOP))
    if memory is not None and shared is not None:
        lines.append(
            "Issue 13, the cost of Redis per request (--workers 2 --state redis against --workers 2, memory state):"
            f" p50 {_us(shared.p50_ms, memory.p50_ms)}, p99 {_us(shared.p99_ms, memory.p99_ms)},"
            f" CPU {_us(shared.cpu_us, memory.cpu_us, scale=1)} a request (redis-server's included),"
            f" req/s ratio {_ratio(shared, memory)}."
        )
    if memory is not None and single is not None:
        lines.append(f"--workers 2 (memory state) against one process on uvloop: req/s ratio {_ratio(memory, single)}.")
    return lines


def _us(value: float | None, base: float | None, scale: float = 1000.0) -> str:
    """``value - base`` in µs (``scale``: µs per unit of the values)."""
    return f"{(value - base) * scale:+.0f} µs" if value is not None and base is not None else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="Rounds over all servers; medians are reported.")
    parser.add_argument("--only", nargs="*", default=None, help="Run only the rows whose names contain these words.")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "UPSTREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        kind, port, upstream = args.serve
        serve(kind, int(port), upstream)
        return
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH (Debian: apt-get install -y wrk nginx)")
    directory = Path(tempfile.mkdtemp(prefix="upstreamkit-bench-gateway-"))
    try:
        run(args, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def start_redis(
    stack: contextlib.ExitStack[bool | None], chosen: list[Candidate], directory: Path
) -> tuple[str, list[int], str]:
    """A redis-server for the Redis row when it is chosen and can run: its URL and PID, or why it did not start."""
    if not any(c.name == WORKERS_REDIS and missing(c.needs) is None for c in chosen):
        return "", [], ""
    port = free_port()
    try:
        redis = stack.enter_context(running(redis_command(port, directory), port, directory / "redis.log"))
    except RuntimeError as exc:
        return "", [], f"redis-server failed to start: {exc}"
    return f"redis://{HOST}:{port}/0", [redis.pid], ""


def run(args: argparse.Namespace, directory: Path) -> None:
    """Start the upstream and every selected server, measure them in rounds, print the report."""
    up_port = free_port()
    upstream = f"http://{HOST}:{up_port}"
    me = [sys.executable, str(Path(__file__).resolve())]
    chosen = [c for c in candidates(me, upstream, directory) if not args.only or any(w in c.name for w in args.only)]
    rows = [Row(candidate.name) for candidate in chosen]
    up_conf = nginx_conf(
        directory,
        "upstream",
        f"server {{ listen {HOST}:{up_port}; default_type application/json;"
        f" location / {{ return 200 '{UPSTREAM_BODY}'; }} }}",
    )
    env_note = f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at start"
    with contextlib.ExitStack() as stack:
        upstream_process = stack.enter_context(
            running(["nginx", "-c", str(up_conf), "-e", "stderr"], up_port, directory / "up.log")
        )
        redis_url, redis_pids, redis_failed = start_redis(stack, chosen, directory)
        ports: dict[str, int] = {}
        pids: dict[str, list[int]] = {}
        # Every server is started once and left idle while the others are loaded: rounds interleave them,
        # so a burst of load from other programs on this shared machine spreads over all rows alike.
        for index, (candidate, row) in enumerate(zip(chosen, rows, strict=True)):
            absent = missing(candidate.needs)
            if absent is not None:
                row.note = f"skipped: {absent} not installed"
                continue
            if candidate.name == WORKERS_REDIS and not redis_url:
                row.note = redis_failed
                continue
            if candidate.start == "direct":
                ports[row.name], pids[row.name] = up_port, [upstream_process.pid]
                continue
            port = free_port()
            log = directory / f"{index}.log"
            try:
                argv, said = command_of(candidate, directory, upstream, port, redis_url)
                started = running(argv, port, log, env=candidate.env, workers=candidate.workers)
                pids[row.name] = [stack.enter_context(started).pid]
            except RuntimeError as exc:
                row.note = f"failed to start: {exc}"
                continue
            if candidate.name == WORKERS_REDIS:
                pids[row.name] += redis_pids
                row.note = "CPU includes redis-server's"
            elif said:
                row.detail = f"{row.name}, as `--check` reads the file: {said.split('(', 1)[-1].rstrip(')')}."
            ports[row.name] = port
        measure(ports, pids, rows, args)
    logged = directory / "every-policy-access.jsonl"
    for row in rows:
        if row.name == EVERY_POLICY and row.detail and logged.exists():
            with logged.open("rb") as lines:
                row.detail += f" Its access log holds {sum(1 for _ in lines):,} lines."
    report(rows, args, env_note)


if __name__ == "__main__":
    main()
