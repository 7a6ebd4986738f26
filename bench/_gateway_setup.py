"""Processes, config files and measurements for ``bench/gateway.py``: free ports, a server started and stopped by
its PID, the nginx configs of the upstream and of the hand-written proxy, the gateway's every-policy TOML file, the
nginx and HAProxy configs ``upstreamkit gateway export`` writes (all in the bench's temporary directory), one wrk
run, and a process's CPU time from /proc."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"
PATH = "/items"
"""What wrk asks every server for."""
TOKEN_ENV = "UPSTREAMKIT_BENCH_TOKEN"  # noqa: S105 - a variable's name, not its value
"""The environment variable the every-policy config's static credential is read from (set for that child only)."""
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
_UPSTREAMKIT = [sys.executable, "-m", "upstreamkit"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def last_line(path: Path) -> str:
    """The last non-empty line of a log (why a server did not start), shortened."""
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()[:200]
    return ""


def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path, workers: int) -> None:
    """Until ``port`` accepts a connection and, with ``workers`` > 1, the log names that many workers listening
    (with ``SO_REUSEPORT`` the first worker accepts before the second one listens)."""
    deadline = time.monotonic() + _START_TIMEOUT
    listening = False
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reason = last_line(log)
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}: {reason}")
        if not listening:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
                listening = True
        if listening and (workers <= 1 or len(re.findall(r"^worker \d+ pid", log.read_text(), re.M)) >= workers):
            return
        time.sleep(0.05)
    raise RuntimeError(f"not ready on {port} within {_START_TIMEOUT:g} s: {last_line(log)}")


@contextlib.contextmanager
def running(
    command: list[str], port: int, log: Path, *, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` started with its output in ``log``, ready on ``port``; SIGTERM by PID at the end (then SIGKILL)."""
    environment = {**os.environ, **env} if env else None
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)  # noqa: S603 - ours
        try:
            wait_ready(port, process, log, workers)
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(_STOP_TIMEOUT)


def redis_command(port: int, directory: Path) -> list[str]:
    """Debian's ``redis-server`` on loopback ``port``, without persistence, its working folder ``directory``."""
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        HOST,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


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


# Issue 12's "the gateway with all policies on": every policy of the schema on the one upstream. The rate limit
# is far above what this machine serves (the limiter's work on every request, never a refusal); the static
# credential is added to every request from an environment variable; the JSON access log goes to a file; the
# route keeps the last good response of a GET to serve for 60 s on a failure (RFC 5861 stale-if-error).
_EVERY_POLICY = """\
# Written by bench/gateway.py: every policy on, in front of the bench's upstream.
[gateway]
host = "{host}"
port = {port}
admin_port = 0
name = "bench"
access_log = "{access_log}"
loop = "uvloop"

[upstreams.bench]
url = "{upstream}"
retry = {{ attempts = 3, per_try_timeout = "5s", deadline = "15s", backoff = {{ base = "100ms", max = "2s" }} }}
breaker = {{ consecutive_failures = 5, failure_rate = 0.5, window = "30s", min_calls = 10, open_for = "500ms" }}
budget = {{ percent = 0.2, min_per_second = 1.0 }}
rate_limit = {{ rate = 1000000, burst = 100000 }}
credentials = {{ type = "static", header = "Authorization", value = "Bearer {{secret}}", secret_env = "{env}" }}

[[routes]]
prefix = "/"
upstream = "bench"
stale_if_error = "60s"
"""


def every_policy_config(directory: Path, upstream: str, port: int, env: dict[str, str]) -> tuple[Path, str]:
    """The every-policy TOML file, checked with ``gateway --config FILE --check``; and the route's line of that
    check (what the gateway says it will do: attempts, breaker, budget, rate, credential, stale-if-error).
    Raises RuntimeError with the command's error line when the file is refused."""
    path = directory / "every-policy.toml"
    text = _EVERY_POLICY.format(
        host=HOST, port=port, access_log=directory / "every-policy-access.jsonl", upstream=upstream, env=TOKEN_ENV
    )
    path.write_text(text, encoding="utf-8")
    check = subprocess.run(  # noqa: S603 - our own command
        [*_UPSTREAMKIT, "gateway", "--config", str(path), "--check"],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **env},
    )  # fmt: skip
    if check.returncode != 0:
        raise RuntimeError(f"--check refused the config: {(check.stderr.strip().splitlines() or ['?'])[-1]}")
    route = [line.strip() for line in check.stdout.splitlines() if line.strip().startswith("/ ")]
    return path, route[0] if route else ""


def exported_engine(engine: str, directory: Path, upstream: str, port: int) -> list[str]:
    """Write ``upstreamkit gateway export --format ENGINE --route /=UPSTREAM`` into its own folder and return the
    command that runs the engine on it in the foreground (nginx: the JSON access log to a file there)."""
    folder = directory / f"{engine}-export"
    folder.mkdir(exist_ok=True)
    (folder / "scratch").mkdir(exist_ok=True)  # nginx makes its temp paths' last part only, not this parent
    conf = folder / ("nginx.conf" if engine == "nginx" else "haproxy.cfg")
    command = [
        *_UPSTREAMKIT, "gateway", "export", "--format", engine, "--route", f"/={upstream}", "--host", HOST,
        "--port", str(port), "--runtime-dir", str(folder), "--output", str(conf),
    ]  # fmt: skip
    if engine == "nginx":
        command += ["--access-log", str(folder / "access.jsonl")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - ours
    if done.returncode != 0:
        raise RuntimeError(f"export failed: {(done.stderr.strip().splitlines() or ['(no message)'])[-1]}")
    if engine == "nginx":
        return ["nginx", "-p", str(folder), "-e", "stderr", "-c", str(conf)]
    return ["haproxy", "-db", "-f", str(conf)]


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
