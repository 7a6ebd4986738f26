"""The tcp phase: per-address connects to the simulator, a closed port, a port that never answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from upstreamkit.diagnose.model import ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import dns as dns_probe
from upstreamkit.diagnose.probes import tcp as tcp_probe
from upstreamkit.errors import ErrorKind
from upstreamkit.simulator import DNSResponder, Simulator

pytestmark = pytest.mark.integration


def _ctx(port: int, addresses: list[str], timeout: float = 2.0) -> ProbeContext:
    ctx = ProbeContext(request=ProbeRequest(f"http://127.0.0.1:{port}/v1"), options=ProbeOptions(timeout=timeout))
    ctx.addresses = list(addresses)
    return ctx


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A listener whose accept queue is full, so the kernel drops further SYNs: a connect there times out."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # one fills the queue of length 0 (Linux admits backlog + 1); the others make sure
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.settimeout(0.0)  # non-blocking: the connect only needs to start
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


@pytest.fixture
def listener() -> Iterator[int]:
    """A plain listening socket on 127.0.0.1 only: the kernel completes connects without an accept()."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
        yield port


def _settle(simulator: Simulator) -> None:
    """One full request, so the simulator has registered the probe's connection before it is stopped.

    Its stop() on Python 3.11 cannot see a connection accepted but not yet registered; closing the simulator
    right after a bare connect would leave that socket to the garbage collector (a ResourceWarning).
    """
    with httpx.Client() as client:
        client.get(simulator.url("/v1/items"))


def test_the_simulator_port_connects_with_its_connect_time(simulator: Simulator) -> None:
    ctx = _ctx(simulator.port, ["127.0.0.1"])
    result = tcp_probe.probe(ctx)
    assert result.status == "ok"
    assert result.facts["tcp.port"] == simulator.port
    assert result.facts["tcp.connected"] == ["127.0.0.1"]
    assert result.facts["tcp.refused"] == []
    assert isinstance(result.facts["tcp.connect_ms"], float)
    assert "tcp.kind" not in result.facts
    assert result.detail.startswith(f"connected to 127.0.0.1:{simulator.port} in ")
    assert ctx.connected == ["127.0.0.1"]
    assert ctx.log[-1].startswith(f"TCP: connected to 127.0.0.1:{simulator.port}")
    assert simulator.stats()["requests"] == 0  # a connect only: nothing was sent
    _settle(simulator)


def test_a_closed_port_is_connection_refused(closed_port: int) -> None:
    ctx = _ctx(closed_port, ["127.0.0.1"])
    result = tcp_probe.probe(ctx)
    assert result.status == "failed"
    assert result.facts["tcp.kind"] == "connection_refused"
    assert result.facts["tcp.refused"] == ["127.0.0.1"]
    assert result.facts["tcp.connected"] == []
    assert result.facts["tcp.connect_ms"] is None
    assert result.detail == f"no connection: 127.0.0.1:{closed_port} refused"
    assert ctx.connected == []


def test_an_unanswered_connect_is_a_connection_timeout(unanswered_port: int) -> None:
    ctx = _ctx(unanswered_port, ["127.0.0.1"], timeout=0.3)
    result = tcp_probe.probe(ctx)
    assert result.status == "failed"
    assert result.facts["tcp.kind"] == "connection_timeout"
    assert result.facts["tcp.timed_out"] == ["127.0.0.1"]
    assert "timed out (no answer within 0.3 s)" in result.detail


def test_one_good_address_among_bad_ones_is_a_warning_naming_the_bad(listener: int) -> None:
    # The listener is on 127.0.0.1 only, so its port on ::1 refuses (or has no route without IPv6).
    ctx = _ctx(listener, ["::1", "127.0.0.1"])
    result = tcp_probe.probe(ctx)
    assert result.status == "warning"
    assert result.facts["tcp.connected"] == ["127.0.0.1"]
    assert result.facts["tcp.refused"] + result.facts["tcp.unreachable"] + result.facts["tcp.errors"] != []
    assert f"[::1]:{listener}" in result.detail
    assert ctx.connected == ["127.0.0.1"]


def test_at_most_four_addresses_are_tried(closed_port: int) -> None:
    ctx = _ctx(closed_port, ["127.0.0.1"] * 6)
    result = tcp_probe.probe(ctx)
    assert len(result.facts["tcp.attempted"]) == tcp_probe.MAX_ADDRESSES == 4
    assert result.facts["tcp.not_tried"] == 2
    assert "2 more address(es) not tried" in result.lines


def test_skipped_after_a_failed_dns_phase() -> None:
    with DNSResponder({}) as responder:
        options = ProbeOptions(timeout=2.0, dns_servers=(responder.address,))
        ctx = ProbeContext(request=ProbeRequest("https://nope.sim.test/"), options=options)
        ctx.results["dns"] = dns_result = dns_probe.probe(ctx)
        ctx.facts.update(dns_result.facts)
    result = tcp_probe.probe(ctx)
    assert result.status == "skipped"
    assert result.ms is None
    assert result.detail == "skipped: DNS failed (NXDOMAIN)"
    assert result.facts == {}


def test_the_verdict_prefers_refusal_then_timeout_then_no_route() -> None:
    from upstreamkit.diagnose.probes.tcp import _verdict  # noqa: PLC0415 - the private rule under test

    empty = {"tcp.refused": [], "tcp.timed_out": [], "tcp.unreachable": []}
    assert _verdict({**empty, "tcp.unreachable": ["10.0.0.1"]}) is ErrorKind.DESTINATION_IP_UNROUTABLE
    assert _verdict({**empty, "tcp.unreachable": ["a"], "tcp.timed_out": ["b"]}) is ErrorKind.CONNECTION_TIMEOUT
    assert _verdict({**empty, "tcp.timed_out": ["b"], "tcp.refused": ["c"]}) is ErrorKind.CONNECTION_REFUSED
    assert _verdict(empty) is ErrorKind.DESTINATION_UNAVAILABLE
