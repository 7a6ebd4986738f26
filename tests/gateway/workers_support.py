"""``upstreamkit gateway`` as a real process (the command, as users run it), for the workers and shared-state
tests: started on free ports, its announce lines read from stderr, stopped by PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["GatewayProcess"]

_READY_TIMEOUT = 20.0
_MAIN = re.compile(
    r"upstreamkit gateway on http://127\.0\.0\.1:(\d+)  \((?:admin http://127\.0\.0\.1:(\d+)|(\d+) workers)"
)
_WORKER = re.compile(r"worker (\d+) pid (\d+): admin http://127\.0\.0\.1:(\d+)")


class GatewayProcess:
    """One ``upstreamkit gateway`` command on free ports (``--port 0 --admin-port 0``)."""

    def __init__(self, tmp_path: Path, *args: str, workers: int = 1, wait: bool = True) -> None:
        """Start the command; ``wait=False`` returns at once (start several, then :meth:`wait_ready` each)."""
        self.stderr_path = tmp_path / f"gateway-{time.monotonic_ns()}.err"
        ports = [] if "--config" in args else ["--port", "0", "--admin-port", "0"]  # a file says its own ports
        command = [sys.executable, "-m", "upstreamkit", "gateway", *ports, *args]
        if workers > 1 and "--config" not in args:
            command += ["--workers", str(workers)]
        self.workers = workers
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        self.port = 0
        self.admin: dict[int, tuple[int, int]] = {}  # worker index -> (pid, admin port)
        if wait:
            self.wait_ready()

    def lines(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self, *, worker_lines: int | None = None) -> None:
        """Until the command says where it listens (and, with workers, each worker: ``worker_lines`` of them)."""
        wanted = worker_lines if worker_lines is not None else (self.workers if self.workers > 1 else 0)
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:  # bounded by the deadline
            text = self.lines()
            main = _MAIN.search(text)
            workers = _WORKER.findall(text)
            if main and len(workers) >= wanted:
                self.port = int(main.group(1))
                if main.group(2):
                    self.admin = {0: (self.process.pid, int(main.group(2)))}
                for index, pid, admin in workers:
                    self.admin[int(index)] = (int(pid), int(admin))  # the newest line of a worker wins
                return
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited with {self.process.returncode}:\n{text}")
            time.sleep(0.05)
        raise AssertionError(f"the gateway did not start:\n{self.lines()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def status(self, worker: int = 0) -> dict[str, Any]:
        document: dict[str, Any] = httpx.get(f"http://127.0.0.1:{self.admin[worker][1]}/status", timeout=5).json()
        return document

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the command (by PID) and wait for its exit code; killed if it outlives ``timeout``."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                raise
        return self.process.returncode
