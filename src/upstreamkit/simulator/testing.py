"""pytest fixtures for a simulated upstream, for upstreamkit's tests and for users' own.

Use them from a ``conftest.py``::

    from upstreamkit.simulator.testing import simulator, simulator_factory  # noqa: F401

    def test_survives_outage(simulator_factory):
        sim = simulator_factory("outage", seed=1)
        ...

``simulator`` is a started healthy simulator; ``simulator_factory(scenario, **options)`` starts one per call
with :class:`~upstreamkit.simulator.Simulator`'s options. Every simulator is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from upstreamkit.simulator.scenario import Scenario
from upstreamkit.simulator.server import Simulator

__all__ = ["SimulatorFactory", "simulator", "simulator_factory"]

SimulatorFactory = Callable[..., Simulator]
"""``factory(scenario="healthy", **options) -> Simulator`` (started)."""


@pytest.fixture
def simulator_factory() -> Iterator[SimulatorFactory]:
    """Start simulators on free loopback ports; all of them stop at teardown."""
    started: list[Simulator] = []

    def factory(scenario: str | Path | Scenario = "healthy", **options: Any) -> Simulator:
        sim = Simulator(scenario, **options).start()
        started.append(sim)
        return sim

    yield factory
    for sim in reversed(started):
        sim.stop()


@pytest.fixture
def simulator(simulator_factory: SimulatorFactory) -> Simulator:
    """A started simulator running the healthy scenario."""
    return simulator_factory("healthy")
