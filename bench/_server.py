"""A simulator in a child process, so the client under test has the other core to itself."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from upstreamkit.simulator import Simulator


def _serve(pipe: Connection, scenario: str, seed: int, time_scale: float) -> None:
    with Simulator(scenario, seed=seed, time_scale=time_scale) as sim:
        pipe.send(
            {
                "base_url": sim.base_url,
                "ca_file": str(sim.ca_file) if sim.ca_file is not None else None,
                # A JWT from the simulator's own issuer that expired 15 minutes ago (for expired-token probes).
                "expired_token": sim.issue_token("bench", lifetime=-900),
            }
        )
        pipe.recv()  # serve until the parent says stop


@contextmanager
def simulator_details(scenario: str = "healthy", *, seed: int = 1, time_scale: float = 1.0) -> Iterator[dict[str, Any]]:
    """Run the simulator in a child process; yields its base URL, CA file and an expired token; stops on exit."""
    parent, child = mp.get_context("spawn").Pipe()
    process = mp.get_context("spawn").Process(target=_serve, args=(child, scenario, seed, time_scale), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the simulator did not start within 30 s")
        yield dict(parent.recv())
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


@contextmanager
def simulator_process(scenario: str = "healthy", *, seed: int = 1, time_scale: float = 1.0) -> Iterator[str]:
    """Run the simulator in a child process; yields its base URL; stops it on exit."""
    with simulator_details(scenario, seed=seed, time_scale=time_scale) as details:
        yield str(details["base_url"])
