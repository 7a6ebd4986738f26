"""Fixtures for CLI tests: the simulator's own, as users get them."""

from __future__ import annotations

from upstreamkit.simulator.testing import simulator, simulator_factory

__all__ = ["simulator", "simulator_factory"]
