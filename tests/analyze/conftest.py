"""Fixtures for analyze's tests: simulators (the project's own fixture) and a gateway writing its access log."""

from __future__ import annotations

from upstreamkit.simulator.testing import simulator, simulator_factory

__all__ = ["simulator", "simulator_factory"]
