"""``upstreamkit simulate`` as a real process: prints its URLs, serves, stops on SIGINT with exit code 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

pytestmark = pytest.mark.integration


@contextmanager
def _simulate(*arguments: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``upstreamkit simulate ARGUMENTS --port 0`` as a process, with the API base URL it printed; killed at
    the end if it still runs."""
    command = [sys.executable, "-m", "upstreamkit.cli.simulate", *arguments, "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    # A shell that runs the tests as a background job (``make test &``, no job control) ignores SIGINT, and an
    # ignored signal stays ignored across exec: Python would install no KeyboardInterrupt in the child, and
    # Ctrl-C would do nothing. A handled signal is reset to the default on exec, so hold a handler meanwhile.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(r"API\s+(http://127\.0\.0\.1:\d+)/v1/items", line)
            url = match.group(1) if match else None
        assert url is not None, "the simulator never printed its URL"
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_simulate_serves_and_stops_on_ctrl_c() -> None:
    with _simulate("--scenario", "status-600") as (process, url):
        with httpx.Client() as client:
            assert client.get(f"{url}/v1/items").status_code == 600
            assert client.get(f"{url}/__sim/stats").json()["requests"] == 1
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "stopped:" in out
    assert "Traceback" not in err


def test_simulate_timeouts_are_options() -> None:
    with _simulate("--header-timeout", "0.2", "--idle-timeout", "0.2") as (process, url):
        port = int(url.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /v1/items HTTP/1.1\r\nHost: sim\r\n")  # half a request, then nothing
            answer = sock.recv(4096)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert process.returncode == 0
