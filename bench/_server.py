"""Servers for the benchmarks, each in a child process, so the client under test has the other core to itself."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from upstreamkit.simulator import Simulator


@contextmanager
def child_process(target: Callable[..., None], *args: Any, name: str = "server") -> Iterator[Any]:
    """Run ``target(pipe, *args)`` in a spawned child process and yield the first thing it sends (its port, its
    details). On exit the child is sent ``"stop"``, given 10 s to end, then killed."""
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    try:
        # Wait for its first message, or its death (a crash in the child should not cost 30 s).
        if not mp.connection.wait([parent, process.sentinel], 30) or not parent.poll():
            raise RuntimeError(f"the {name} did not start within 30 s (exit code {process.exitcode})")
        yield parent.recv()
    finally:
        with contextlib.suppress(OSError):  # the child is gone already
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)


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
    with child_process(_serve, scenario, seed, time_scale, name="simulator") as details:
        yield dict(details)


@contextmanager
def simulator_process(scenario: str = "healthy", *, seed: int = 1, time_scale: float = 1.0) -> Iterator[str]:
    """Run the simulator in a child process; yields its base URL; stops it on exit."""
    with simulator_details(scenario, seed=seed, time_scale=time_scale) as details:
        yield str(details["base_url"])
