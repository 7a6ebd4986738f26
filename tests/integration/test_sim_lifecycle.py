"""Start and stop: free port, clean stop (no thread, no listener), errors surface in the caller."""

from __future__ import annotations

import gc
import socket
import threading
import warnings

import httpx
import pytest

from upstreamkit.simulator import Simulator, builtin_scenarios

pytestmark = pytest.mark.integration


def _simulator_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "upstreamkit-simulator"]


def test_context_manager_starts_on_a_free_port_and_stops_cleanly() -> None:
    before = len(_simulator_threads())
    with Simulator() as sim:
        assert sim.running
        assert sim.base_url == f"http://127.0.0.1:{sim.port}"
        with httpx.Client() as client:
            assert client.get(sim.url("health")).json() == {"status": "ok"}
        port = sim.port
    assert not sim.running
    assert len(_simulator_threads()) == before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    sim.stop()  # a second stop is harmless


def test_busy_port_raises_in_the_caller() -> None:
    with Simulator() as first:
        second = Simulator(port=first.port)
        with pytest.raises(OSError, match="in use"):
            second.start()


def test_a_simulator_starts_once() -> None:
    sim = Simulator()
    with sim:
        pass
    with pytest.raises(RuntimeError, match="once"):
        sim.start()


@pytest.mark.parametrize("name", [name for name in builtin_scenarios() if not name.startswith("tls-")])
def test_every_builtin_scenario_serves(name: str) -> None:
    with Simulator(name, seed=1) as sim, httpx.Client(timeout=3) as client:
        status = client.get(sim.url("/api/v2/status.json")).json()["status"]
        assert status["indicator"] in {"none", "minor", "major", "critical"}
        assert client.get(sim.url("/health")).status_code == 200


def test_stop_closes_connections_accepted_a_moment_ago() -> None:
    # Bare connects that the server accepted but never heard from: stop() must close them itself, or the
    # garbage collector does, with an "unclosed transport" warning in whatever test runs next.
    sim = Simulator("healthy").start()
    clients = [socket.create_connection(("127.0.0.1", sim.port)) for _ in range(5)]
    sim.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    for client in clients:
        assert client.recv(1) == b""  # the server closed its side
        client.close()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
