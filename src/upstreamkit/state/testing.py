"""A real ``redis-server`` on a free loopback port, for tests of shared state (upstreamkit's and users' own).

Use the fixture from a ``conftest.py``::

    from upstreamkit.state.testing import redis_server  # noqa: F401

    def test_shared(redis_server):
        store = RedisStateStore.from_url(redis_server.url)

The server runs with no persistence (``--save '' --appendonly no``) in the test's ``tmp_path`` and is
stopped by PID (SIGKILL: nothing to save) when the test ends. A missing ``redis-server`` binary fails the
test, naming the package, rather than skipping it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["RedisServer", "free_port", "redis_server"]

_START_TIMEOUT = 5.0


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process with its own directory; :meth:`kill` and :meth:`start` again on the same port."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is missing: install the Debian package redis-server (scripts/system-packages.sh)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (again, on the same port after :meth:`kill`); returns once it answers PING."""
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 - our argv
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + _START_TIMEOUT
        try:
            while True:  # bounded: until it answers or the start timeout
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL by PID: no shutdown, no save."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)
        self.process = None

    def client(self, **options: object) -> redis.Redis:
        """A client of this server (no retries); ``options`` are ``redis.Redis``'s."""
        # No retries: a test that kills the server wants the failure now, not after the client's backoff.
        return redis.Redis(port=self.port, retry=Retry(NoBackoff(), 0), **options)  # type: ignore[arg-type]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started redis-server, killed by PID at teardown."""
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.kill()
