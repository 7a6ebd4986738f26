"""A simulator in a child process, so the client under test has the other core to itself."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

from upstreamkit.simulator import Simulator


def _serve(pipe: Connection, scenario: str, seed: int, time_scale: float) -> None:
    with Simulator(scenario, seed=seed, time_scale=time_scale) as sim:
        pipe.send(sim.base_url)
        pipe.recv()  # serve until the parent says stop


@contextmanager
def simulator_process(scenario: str = "healthy", *, seed: int = 1, time_scale: float = 1.0) -> Iterator[str]:
    """Run the simulator in a child process; yields its base URL; stops it on exit."""
    parent, child = mp.get_context("spawn").Pipe()
    process = mp.get_context("spawn").Process(target=_serve, args=(child, scenario, seed, time_scale), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the simulator did not start within 30 s")
        yield str(parent.recv())
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()
