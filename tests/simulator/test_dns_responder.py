"""The loopback DNS responder: answers from its table over real UDP, fails on purpose, stops without a trace."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from upstreamkit.simulator import DNSResponder

pytestmark = pytest.mark.integration

TABLE: dict[str, list[str] | str] = {
    "api.sim.test": ["127.0.0.1", "::1"],
    "alias.sim.test": "cname:edge.sim.test",
    "edge.sim.test": "cname:api.sim.test",
    "empty.sim.test": [],
    "dangling.sim.test": "cname:gone.sim.test",
    "loop-a.sim.test": "cname:loop-b.sim.test",
    "loop-b.sim.test": "cname:loop-a.sim.test",
}


def _ask(server: DNSResponder, name: str, rdtype: str = "A", timeout: float = 2.0) -> dns.message.Message:
    host, port = server.address.rsplit(":", 1)
    return dns.query.udp(dns.message.make_query(name, rdtype), host, timeout=timeout, port=int(port))


def _records(response: dns.message.Message) -> list[tuple[str, str, str]]:
    return [
        (rrset.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(rrset.rdtype), rdata.to_text())
        for rrset in response.answer
        for rdata in rrset
    ]


@pytest.fixture
def responder() -> Iterator[DNSResponder]:
    with DNSResponder(TABLE, servfail={"broken.sim.test"}, silent={"slow.sim.test"}) as server:
        yield server


def test_answers_a_and_aaaa_by_address_family(responder: DNSResponder) -> None:
    assert responder.address == f"127.0.0.1:{responder.port}"
    a = _ask(responder, "api.sim.test", "A")
    aaaa = _ask(responder, "API.sim.test.", "AAAA")  # names match case-insensitively
    assert a.rcode() == dns.rcode.NOERROR
    assert _records(a) == [("api.sim.test", "A", "127.0.0.1")]
    assert _records(aaaa) == [("API.sim.test", "AAAA", "::1")]
    assert responder.queries == [("api.sim.test", "A"), ("api.sim.test", "AAAA")]


def test_follows_the_cname_chain_before_the_addresses(responder: DNSResponder) -> None:
    response = _ask(responder, "alias.sim.test")
    assert _records(response) == [
        ("alias.sim.test", "CNAME", "edge.sim.test."),
        ("edge.sim.test", "CNAME", "api.sim.test."),
        ("api.sim.test", "A", "127.0.0.1"),
    ]
    only_alias = _ask(responder, "alias.sim.test", "CNAME")
    assert _records(only_alias) == [("alias.sim.test", "CNAME", "edge.sim.test.")]


def test_unknown_names_get_nxdomain_and_known_names_without_addresses_an_empty_answer(
    responder: DNSResponder,
) -> None:
    assert _ask(responder, "nope.sim.test").rcode() == dns.rcode.NXDOMAIN
    empty = _ask(responder, "empty.sim.test")
    assert empty.rcode() == dns.rcode.NOERROR
    assert empty.answer == []
    dangling = _ask(responder, "dangling.sim.test")
    assert dangling.rcode() == dns.rcode.NXDOMAIN
    assert _records(dangling) == [("dangling.sim.test", "CNAME", "gone.sim.test.")]


def test_servfail_names_and_alias_loops_get_servfail(responder: DNSResponder) -> None:
    assert _ask(responder, "broken.sim.test").rcode() == dns.rcode.SERVFAIL
    assert _ask(responder, "loop-a.sim.test").rcode() == dns.rcode.SERVFAIL


def test_silent_names_and_garbage_get_no_answer_and_the_server_keeps_answering(responder: DNSResponder) -> None:
    with pytest.raises(dns.exception.Timeout):
        _ask(responder, "slow.sim.test", timeout=0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as garbage:
        garbage.sendto(b"\x00not dns", ("127.0.0.1", responder.port))
    assert _ask(responder, "api.sim.test").rcode() == dns.rcode.NOERROR
    assert ("slow.sim.test", "A") in responder.queries


def test_stops_cleanly_and_leaves_no_thread() -> None:
    server = DNSResponder({"api.sim.test": ["127.0.0.1"]}).start()
    assert any(thread.name == "upstreamkit-sim-dns" for thread in threading.enumerate())
    port = server.port
    server.stop()
    server.stop()  # idempotent
    assert not any(thread.name == "upstreamkit-sim-dns" for thread in threading.enumerate())
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", port))  # the port is free again


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ({"a.test": "api.sim.test"}, "cname:TARGET"),
        ({"a.test": ["not-an-address"]}, "not-an-address"),
    ],
)
def test_a_bad_table_is_refused_with_the_bad_value_named(records: dict[str, list[str] | str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DNSResponder(records)
