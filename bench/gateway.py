"""Benchmark: the gateway's data plane against its peers, side by side in one run, with wrk.

    .venv/bin/python bench/gateway.py [--seconds 5] [--rounds 3] [--connections 32] [--threads 2] [--only WORD ...]

Every server forwards ``GET /items`` to the same fast upstream, an nginx ``return 200`` with a small JSON
body. Each runs in its own process; all are started first, then loaded one at a time by ``wrk`` (Debian's
``wrk``: a 1-second warm-up, then ``--seconds``), in ``--rounds`` interleaved rounds whose medians are
reported, because this machine is shared and its load moves under any single run. Rows:

- nginx ``return 200`` itself (no proxy: the ceiling of this machine for this load);
- nginx ``proxy_pass`` with a keep-alive upstream block (one worker);
- a bare aiohttp forwarder (aiohttp server + one aiohttp ``ClientSession``), on asyncio's loop and on uvloop;
- upstreamkit's data plane (``upstreamkit gateway``: httptools server protocol + the pooled upstream layer),
  on asyncio's loop, on uvloop, and on uvloop with the JSON access log written to a file;
- uvicorn (httptools, uvloop) with a raw ASGI app forwarding through the same pooled upstream layer (a bare
  forwarder: no request ids, no header rewriting, no judging), and with an ASGI adapter around the
  gateway's own ``Proxy`` (the same work per request as the gateway: only the server side differs).

Needs ``wrk`` and ``nginx`` on PATH and the ``bench`` extra (aiohttp, uvicorn) plus uvloop; a row whose
tools are missing is skipped and says so. Loopback only, high ports, configs and logs in a temporary
directory; every process is started here and stopped by its PID; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
PATH = "/items"
UPSTREAM_BODY = '{"ok":true,"items":[1,2,3]}'
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


# --- the forwarders that are not upstreamkit's command (run as: gateway.py --serve NAME PORT UPSTREAM) ------


def serve_aiohttp(port: int, upstream: str, *, uvloop_on: bool) -> None:
    """A bare aiohttp forwarder: the request's method, path, headers and body in; the response out."""
    from aiohttp import ClientSession, TCPConnector, web  # noqa: PLC0415 - the bench extra

    hop = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}

    async def handler(request: web.Request) -> web.Response:
        session: ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        async with session.request(
            request.method, upstream + request.path_qs, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in hop}
            return web.Response(status=answer.status, body=body, headers=out)

    async def session_context(app: web.Application) -> Iterator[None]:  # type: ignore[misc]
        app["session"] = ClientSession(connector=TCPConnector(limit=256))
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{tail:.*}", handler)
    if uvloop_on:
        import uvloop  # noqa: PLC0415

        uvloop.install()
    web.run_app(app, host=HOST, port=port, access_log=None, print=None)


async def read_asgi_request(scope: dict, receive) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def,type-arg]
    """The raw request target and the whole body of an ASGI HTTP request."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b""), body


def serve_uvicorn_asgi(port: int, upstream: str) -> None:
    """uvicorn (httptools, uvloop) with a raw ASGI app forwarding through upstreamkit's pooled upstream layer."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415 - the bench extra

    from upstreamkit.gateway.proxy import HOP_BY_HOP  # noqa: PLC0415
    from upstreamkit.gateway.upstream import UpstreamPool  # noqa: PLC0415

    parts = urlsplit(upstream)
    origin = ("http", parts.hostname or HOST, parts.port or 80)
    host_header = parts.netloc.encode()
    pool = UpstreamPool()
    own = HOP_BY_HOP | {b"host", b"content-length"}

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def,type-arg]
        target, body = await read_asgi_request(scope, receive)
        head = [scope["method"].encode(), b" ", target, b" HTTP/1.1\r\nhost: ", host_header, b"\r\n"]
        for name, value in scope["headers"]:
            if name not in own:
                head += (name, b": ", value, b"\r\n")
        if body:
            head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"\r\n")
        connection = pool.checkout(origin) or await pool.connect(origin, 5.0)
        answer = await connection.request(b"".join(head), body, head_only=False, timeout=30.0, connect_ms=None)
        pool.checkin(origin, connection, reusable=answer.keep_alive)
        headers = [(n.lower(), v) for n, v in answer.headers if n.lower() not in own]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    uvicorn.run(
        app, host=HOST, port=port, loop="uvloop", http="httptools", lifespan="off", access_log=False, log_level="error"
    )


def serve_uvicorn_proxy(port: int, upstream: str) -> None:
    """uvicorn (httptools, uvloop) with an ASGI adapter around the gateway's own ``Proxy``: the same work per
    request as ``upstreamkit gateway`` (routing, request ids, header rewriting, judging), only the server differs."""
    import uvicorn  # noqa: PLC0415 - the bench extra

    from upstreamkit.gateway.config import GatewaySettings  # noqa: PLC0415
    from upstreamkit.gateway.proxy import Proxy  # noqa: PLC0415
    from upstreamkit.gateway.routes import parse_route  # noqa: PLC0415
    from upstreamkit.gateway.server import Request  # noqa: PLC0415
    from upstreamkit.gateway.upstream import UpstreamPool  # noqa: PLC0415

    proxy = Proxy(GatewaySettings(routes=(parse_route(f"/={upstream}"),)), UpstreamPool(), None)

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def,type-arg]
        target, body = await read_asgi_request(scope, receive)
        client = scope["client"][0] if scope.get("client") else ""
        request = Request(scope["method"], target, list(scope["headers"]), body, client, keep_alive=True)
        response = await proxy.handle(request)
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        await send({"type": "http.response.body", "body": response.body})

    uvicorn.run(
        app, host=HOST, port=port, loop="uvloop", http="httptools", lifespan="off", access_log=False, log_level="error"
    )


# --- nginx ------------------------------------------------------------------------------------------------


def nginx_conf(directory: Path, name: str, server_block: str) -> Path:
    """An nginx config with one worker, its pid, logs and temp paths in ``directory``."""
    temp = directory / f"{name}-temp"
    temp.mkdir(exist_ok=True)
    conf = directory / f"{name}.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {directory / name}.pid;
error_log {directory / name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_requests 1000000;
    {server_block}
}}
"""
    )
    return conf


# --- running ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    rps: float | None = None
    cpu_us: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    note: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = _START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} within {timeout:g} s")


@contextlib.contextmanager
def running(command: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - our own commands
        try:
            wait_listening(port, process)
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(_STOP_TIMEOUT)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (nginx's worker), from /proc; 0 off Linux."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            own, parent = int(stat.parent.name), int(fields[1])
            if pid in (own, parent):
                total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(port: int, seconds: int, connections: int, threads: int) -> tuple[float, float, float, int]:
    """Requests/s, p50 ms, p99 ms and errors (non-2xx plus socket errors) of one wrk run."""
    url = f"http://{HOST}:{port}{PATH}"
    base = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "--timeout", "5s"]
    subprocess.run([*base, "-d1s", url], capture_output=True, timeout=20, check=False)  # noqa: S603 - warm-up
    done = subprocess.run(  # noqa: S603
        [*base, f"-d{seconds}s", url], capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s*(\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return rps, p50, p99, errors


def main() -> None:  # noqa: PLR0915 - one table, one row after another
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
        if kind == "uvicorn-asgi":
            serve_uvicorn_asgi(int(port), upstream)
        elif kind == "uvicorn-proxy":
            serve_uvicorn_proxy(int(port), upstream)
        else:
            serve_aiohttp(int(port), upstream, uvloop_on=kind == "aiohttp-uvloop")
        return
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH (Debian: apt-get install -y wrk nginx)")

    have = {name: importlib.util.find_spec(name) is not None for name in ("aiohttp", "uvicorn", "uvloop")}
    directory = Path(tempfile.mkdtemp(prefix="upstreamkit-bench-gateway-"))
    up_port = free_port()
    upstream = f"http://{HOST}:{up_port}"
    me = [sys.executable, str(Path(__file__).resolve())]
    gateway = [sys.executable, "-m", "upstreamkit", "gateway", "--route", f"/={upstream}", "--admin-port", "0"]
    access_log = str(directory / "access.jsonl")
    candidates: list[tuple[str, list[str] | str, str | None]] = [
        ("nginx return 200 (the upstream itself, no proxy)", "direct", None),
        ("nginx proxy_pass, keep-alive upstream", "nginx", None),
        ("aiohttp forwarder (asyncio loop)", [*me, "--serve", "aiohttp", "{port}", upstream], "aiohttp"),
        ("aiohttp forwarder (uvloop)", [*me, "--serve", "aiohttp-uvloop", "{port}", upstream], "aiohttp"),
        ("upstreamkit gateway, asyncio loop", [*gateway, "--port", "{port}", "--loop", "asyncio"], None),
        ("upstreamkit gateway, uvloop", [*gateway, "--port", "{port}", "--loop", "uvloop"], "uvloop"),
        (
            "upstreamkit gateway, uvloop, access log to a file",
            [*gateway, "--port", "{port}", "--loop", "uvloop", "--access-log", access_log],
            "uvloop",
        ),
        ("uvicorn + raw ASGI app over the same pool", [*me, "--serve", "uvicorn-asgi", "{port}", upstream], "uvicorn"),
        (
            "uvicorn + ASGI adapter around the gateway's Proxy (same work)",
            [*me, "--serve", "uvicorn-proxy", "{port}", upstream],
            "uvicorn",
        ),
    ]
    rows: list[Row] = []
    up_conf = nginx_conf(
        directory,
        "upstream",
        f"server {{ listen {HOST}:{up_port}; default_type application/json;"
        f" location / {{ return 200 '{UPSTREAM_BODY}'; }} }}",
    )
    env_note = f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at start"
    samples: dict[str, list[tuple[float, float, float, int, float]]] = {}
    with contextlib.ExitStack() as stack:
        upstream_process = stack.enter_context(
            running(["nginx", "-c", str(up_conf), "-e", "stderr"], up_port, directory / "up.log")
        )
        ports: dict[str, int] = {}
        pids: dict[str, int] = {}
        # Every server is started once and left idle while the others are loaded: rounds interleave them,
        # so a burst of load from other programs on this shared machine spreads over all rows alike.
        for name, command, needs in candidates:
            if args.only and not any(word in name for word in args.only):
                continue
            row = Row(name)
            rows.append(row)
            if needs is not None and not have.get(needs, False):
                row.note = f"skipped: {needs} not installed"
                continue
            if command == "direct":
                ports[name] = up_port
                pids[name] = upstream_process.pid
                continue
            port = free_port()
            if command == "nginx":
                conf = nginx_conf(
                    directory,
                    "proxy",
                    f"upstream backend {{ server {HOST}:{up_port}; keepalive 64; }}"
                    f" server {{ listen {HOST}:{port}; location / {{ proxy_pass http://backend;"
                    ' proxy_http_version 1.1; proxy_set_header Connection ""; } }',
                )
                argv = ["nginx", "-c", str(conf), "-e", "stderr"]
            else:
                argv = [part.replace("{port}", str(port)) for part in command]
            try:
                pids[name] = stack.enter_context(running(argv, port, directory / f"{len(rows)}.log")).pid
            except RuntimeError as exc:
                row.note = f"failed to start: {exc}"
                continue
            ports[name] = port
        for _ in range(args.rounds):
            for row in rows:
                if row.name not in ports:
                    continue
                try:
                    # CPU of the server's process (warm-up included, same for all): the figure a busy,
                    # shared machine disturbs least, since time spent waiting for a core is not counted.
                    before = cpu_seconds(pids[row.name])
                    result = wrk(ports[row.name], args.seconds, args.connections, args.threads)
                    used = cpu_seconds(pids[row.name]) - before
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
    base = next((r.rps for r in rows if r.name.startswith("aiohttp forwarder (asyncio") and r.rps), None)
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, GET {PATH}, one run of {args.rounds} interleaved"
        f" rounds (medians); {env_note}"
    )
    print("| server | req/s | p50 ms | p99 ms | errors | ratio to aiohttp forwarder | server CPU µs/req |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if row.rps is None:
            print(f"| {row.name} | - | - | - | - | {row.note} | - |")
            continue
        ratio = f"{row.rps / base:.2f}" if base else "-"
        print(
            f"| {row.name} | {row.rps:,.0f} | {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.errors} | {ratio}"
            f" | {row.cpu_us:.0f} |" + (f" {row.note}" if row.note else "")
        )
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
