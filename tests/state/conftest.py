"""Fixtures for the shared-state tests: a real redis-server per test (stopped by PID), simulators."""

from __future__ import annotations

from upstreamkit.simulator.testing import simulator, simulator_factory
from upstreamkit.state.testing import redis_server

__all__ = ["redis_server", "simulator", "simulator_factory"]
