"""Run the real nginx and HAProxy (Debian packages) for a test: a config text, loopback ports, logs in a folder.

::

    port = free_port()
    with start_nginx(tmp_path / "nginx", nginx_conf(tmp_path / "nginx", http=f"server {{ listen 127.0.0.1:{port}; }}"),
                     ports=[port]) as nginx:
        ...                                    # talk to 127.0.0.1:port
    nginx.logs["error"].read_text()            # logs stay readable after the stop

Each engine runs in the foreground from its own folder (config, pid, temp paths, logs), is waited for until
every given port accepts a connection, and is stopped by its PID (SIGTERM, then SIGKILL) when the ``with``
ends or :meth:`Engine.stop` is called: never a system service, never a process this module did not start.
A missing binary is a failure naming the Debian package (no skips).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "Engine",
    "binary",
    "free_port",
    "haproxy_cfg",
    "nginx_conf",
    "package_version",
    "start_engine",
    "start_haproxy",
    "start_nginx",
    "wait_listening",
]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
_PACKAGES = {"nginx": "nginx", "haproxy": "haproxy"}


def binary(name: str) -> str:
    """The path of ``name`` (``/usr/sbin`` included, which a user's PATH may lack); fails naming the package."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        package = _PACKAGES.get(name, name)
        raise AssertionError(f"{name} is not installed: apt-get install -y {package} (scripts/system-packages.sh)")
    return found


def package_version(name: str) -> str:
    """The Debian package version of ``name`` (``1.22.1-9+deb12u11``), or its own version line without dpkg."""
    dpkg_query = shutil.which("dpkg-query")
    if dpkg_query is not None:
        done = subprocess.run(
            [dpkg_query, "-W", "-f=${Version}", _PACKAGES.get(name, name)],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    flag = "-v" if name in ("nginx", "haproxy") else "--version"
    version = subprocess.run([binary(name), flag], capture_output=True, text=True, check=False, timeout=10)
    return (version.stdout + version.stderr).strip().splitlines()[0]


def free_port() -> int:
    """A loopback port nothing listens on (the kernel's choice, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_listening(ports: Sequence[int], process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT_S) -> None:
    """Return once every port accepts a TCP connection; raise when the process exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", waiting[0])) == 0:
                waiting.pop(0)
                continue
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on 127.0.0.1:{waiting[0]} after {timeout:g} s")
        time.sleep(0.02)  # bounded by the deadline: a start-up wait, not time logic


@dataclass(slots=True)
class Engine:
    """A started engine: its process, its folder, its ports and its log files by name."""

    name: str
    process: subprocess.Popen[bytes]
    folder: Path
    ports: tuple[int, ...]
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def port(self) -> int:
        """The first port (the one most tests talk to)."""
        return self.ports[0]

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:PORT/path`` on the first port."""
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after :data:`STOP_TIMEOUT_S`; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)

    def lines(self, log: str) -> list[str]:
        """The non-blank lines of one log (empty when the engine never wrote it)."""
        path = self.logs[log]
        if not path.exists():
            return []
        return [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_engine(name: str, argv: Sequence[str], folder: Path, ports: Sequence[int], logs: dict[str, Path]) -> Engine:
    """Start ``argv`` in ``folder`` (its stdout and stderr to ``folder/stdout.log`` and ``stderr.log``, the logs
    named ``stdout`` and ``stderr``) and wait until every port listens; stopped at once if it does not."""
    folder.mkdir(parents=True, exist_ok=True)
    stdout, stderr = folder / "stdout.log", folder / "stderr.log"
    env = {**os.environ, "HOME": str(folder)}
    with stdout.open("wb") as out, stderr.open("wb") as err:  # the child keeps its own descriptors
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, cwd=folder, env=env)
    engine = Engine(name, process, folder, tuple(ports), {**logs, "stdout": stdout, "stderr": stderr})
    try:
        wait_listening(ports, process)
    except BaseException:
        engine.stop()
        raise
    return engine


def nginx_conf(folder: Path, http: str, *, error_level: str = "info") -> str:
    """A whole ``nginx.conf`` for a foreground nginx kept inside ``folder``: the ``http`` block's body is yours.

    The error log is ``folder/logs/error.log`` at ``error_level`` (``info`` shows "client closed connection"
    lines too; ``error`` keeps upstream failures only)."""
    for sub in ("logs", "scratch"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    scratch = folder / "scratch"
    return f"""
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log {error_level};
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {scratch}/body; proxy_temp_path {scratch}/proxy;
    fastcgi_temp_path {scratch}/fcgi; uwsgi_temp_path {scratch}/uwsgi; scgi_temp_path {scratch}/scgi;
{http}
}}
"""


def start_nginx(folder: Path, config: str, ports: Sequence[int]) -> Engine:
    """nginx in the foreground from ``config`` (written to ``folder/nginx.conf``); logs ``error`` and every
    ``folder/logs/*.log`` the config writes, by file stem (``access``, ``upstreaminfo`` ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(config, encoding="utf-8")
    argv = [binary("nginx"), "-p", str(folder), "-c", str(conf)]
    test = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, check=False, timeout=20)
    if test.returncode != 0:
        raise AssertionError(f"nginx -t refused the config: {test.stderr.strip()}")
    engine = start_engine("nginx", argv, folder, ports, {})
    engine.logs.update(_logs(folder / "logs"))
    engine.logs.setdefault("error", folder / "logs" / "error.log")
    return engine


def haproxy_cfg(
    body: str, *, timeouts: str = "timeout connect 1s\n    timeout client 10s\n    timeout server 1s"
) -> str:
    """A whole ``haproxy.cfg``: logs to stdout in raw format (the ``stdout`` log), HTTP mode, ``httplog``
    (``dontlognull``: the readiness probe's empty connection is not a line);
    ``body`` holds the frontends and backends."""
    return f"""
global
    log stdout format raw local0 info
defaults
    mode http
    log global
    option httplog
    option dontlognull
    {timeouts}
{body}
"""


def start_haproxy(folder: Path, config: str, ports: Sequence[int]) -> Engine:
    """HAProxy in the foreground (``-db``) from ``config`` (written to ``folder/haproxy.cfg``); its log lines
    are the ``stdout`` log when the config logs to stdout (:func:`haproxy_cfg` does)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "haproxy.cfg"
    cfg.write_text(config, encoding="utf-8")
    haproxy = binary("haproxy")
    check = subprocess.run(
        [haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, check=False, timeout=20
    )
    if check.returncode != 0:
        raise AssertionError(f"haproxy -c refused the config: {(check.stdout + check.stderr).strip()}")
    return start_engine("haproxy", [haproxy, "-db", "-f", str(cfg)], folder, ports, {})


def _logs(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.glob("*.log")):
        yield path.stem, path
