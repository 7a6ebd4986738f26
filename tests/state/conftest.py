"""Fixtures for the shared-state tests: a real redis-server per test, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_support import RedisServer

from upstreamkit.simulator.testing import simulator, simulator_factory

__all__ = ["redis_server", "simulator", "simulator_factory"]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.kill()
