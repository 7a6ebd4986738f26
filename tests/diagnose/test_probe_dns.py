"""The dns phase: literals, --resolve, the hosts file, and the resolver's every answer, over a loopback responder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from upstreamkit.diagnose.model import ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import dns as dns_probe
from upstreamkit.simulator import DNSResponder

pytestmark = pytest.mark.integration

TABLE: dict[str, list[str] | str] = {
    "api.sim.test": ["127.0.0.1", "::1"],
    "v4.sim.test": ["127.0.0.1"],
    "alias.sim.test": "cname:edge.sim.test",
    "edge.sim.test": "cname:api.sim.test",
    "empty.sim.test": [],
    "dangling.sim.test": "cname:gone.sim.test",
}


@pytest.fixture
def responder() -> Iterator[DNSResponder]:
    with DNSResponder(TABLE, servfail={"broken.sim.test"}, silent={"slow.sim.test"}) as server:
        yield server


def _ctx(url: str, responder: DNSResponder, **options: Any) -> ProbeContext:
    # Every context names the loopback responder, so no test can ask a real DNS server.
    chosen = ProbeOptions(**{"timeout": 2.0, "dns_servers": (responder.address,), **options})
    return ProbeContext(request=ProbeRequest(url), options=chosen)


@pytest.mark.parametrize(("url", "address"), [("https://127.0.0.1:8443/x", "127.0.0.1"), ("http://[::1]/", "::1")])
def test_an_address_literal_needs_no_dns(responder: DNSResponder, url: str, address: str) -> None:
    ctx = _ctx(url, responder)
    result = dns_probe.probe(ctx)
    assert result.status == "ok"
    assert result.detail == f"{address}: address literal, no DNS"
    assert result.facts["dns.source"] == "literal"
    assert result.facts["dns.addresses"] == [address]
    assert result.facts["dns.ipv6"] is (":" in address)
    assert ctx.addresses == [address]
    assert responder.queries == []


def test_a_resolve_override_for_host_and_port_skips_dns(responder: DNSResponder) -> None:
    ctx = _ctx("https://API.example.com:8443/v1", responder, resolve=(("api.example.com", 8443, "[::1]"),))
    result = dns_probe.probe(ctx)
    assert result.status == "ok"
    assert result.facts["dns.source"] == "resolve-override"
    assert result.facts["dns.addresses"] == ["::1"]
    assert "--resolve api.example.com:8443:::1" in result.detail
    assert ctx.addresses == ["::1"]
    assert responder.queries == []


def test_a_resolve_override_for_another_port_does_not_apply(responder: DNSResponder) -> None:
    ctx = _ctx("https://v4.sim.test/", responder, resolve=(("v4.sim.test", 8443, "10.9.9.9"),))
    result = dns_probe.probe(ctx)
    assert result.facts["dns.source"] == "resolver"
    assert ctx.addresses == ["127.0.0.1"]


def test_localhost_comes_from_the_hosts_file_without_a_query(responder: DNSResponder) -> None:
    ctx = _ctx("http://localhost:8080/", responder)
    result = dns_probe.probe(ctx)
    assert result.status == "ok"
    assert result.facts["dns.source"] == "hosts"
    assert "127.0.0.1" in result.facts["dns.addresses"]
    assert result.facts["dns.resolver"] == ""
    assert responder.queries == []
    assert ctx.log == [f"DNS: resolved localhost to {', '.join(ctx.addresses)} via hosts"]


def test_a_name_in_a_given_hosts_file_is_read_from_it(responder: DNSResponder, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("# comment\n::1 db.internal # v6 first in the file\n127.0.0.2  db.internal DB2.internal\nbad\n")
    ctx = _ctx("http://db2.internal/", responder)
    result = dns_probe.probe(ctx, hosts_file=hosts)
    assert result.facts["dns.source"] == "hosts"
    assert result.facts["dns.addresses"] == ["127.0.0.2"]
    assert dns_probe.read_hosts(hosts) == {"db.internal": ["::1", "127.0.0.2"], "db2.internal": ["127.0.0.2"]}
    listed = dns_probe.probe(_ctx("http://db.internal/", responder), hosts_file=hosts)
    assert listed.facts["dns.addresses"] == ["127.0.0.2", "::1"]  # IPv4 first, as getaddrinfo orders them
    assert responder.queries == []


def test_a_name_is_resolved_through_the_given_resolver(responder: DNSResponder) -> None:
    ctx = _ctx("https://api.sim.test/v1", responder)
    result = dns_probe.probe(ctx)
    assert result.status == "ok"
    assert result.facts["dns.source"] == "resolver"
    assert result.facts["dns.resolver"] == responder.address
    assert result.facts["dns.addresses"] == ["127.0.0.1", "::1"]
    assert result.facts["dns.ipv4"] is True
    assert result.facts["dns.ipv6"] is True
    assert result.facts["dns.cname_chain"] == []
    assert isinstance(result.facts["dns.ms"], float)
    assert result.detail.startswith("api.sim.test → 127.0.0.1, ::1 in ")
    assert result.detail.endswith(f" ms from {responder.address}")
    assert ctx.addresses == ["127.0.0.1", "::1"]
    assert "address ::1" in result.lines
    assert responder.queries == [("api.sim.test", "A"), ("api.sim.test", "AAAA")]


def test_the_cname_chain_is_reported(responder: DNSResponder) -> None:
    ctx = _ctx("https://alias.sim.test/", responder)
    result = dns_probe.probe(ctx)
    assert result.status == "ok"
    assert result.facts["dns.cname_chain"] == ["edge.sim.test", "api.sim.test"]
    assert "(via CNAME edge.sim.test → api.sim.test)" in result.detail
    assert "CNAME → edge.sim.test" in result.lines
    assert "via CNAME edge.sim.test → api.sim.test" in ctx.log[-1]


@pytest.mark.parametrize(
    ("host", "error", "meaning"),
    [
        ("nope.sim.test", "NXDOMAIN", "the name does not exist"),
        ("empty.sim.test", "NoAnswer", "no A or AAAA record"),
        ("broken.sim.test", "SERVFAIL", "could not get an answer"),
    ],
)
def test_a_resolver_that_says_no_is_a_dns_error(responder: DNSResponder, host: str, error: str, meaning: str) -> None:
    ctx = _ctx(f"https://{host}/", responder)
    result = dns_probe.probe(ctx)
    assert result.status == "failed"
    assert result.facts["dns.error"] == error
    assert result.facts["dns.kind"] == "dns_error"
    assert result.facts["dns.addresses"] == []
    assert result.detail.startswith(f"{host}: {error} (")
    assert meaning in result.detail
    assert result.detail.endswith(" ms")
    assert ctx.addresses == []
    assert ctx.log == [f"DNS: {host} did not resolve: {error} from {responder.address}"]


def test_an_alias_to_a_missing_name_names_the_alias(responder: DNSResponder) -> None:
    result = dns_probe.probe(_ctx("https://dangling.sim.test/", responder))
    assert result.facts["dns.error"] == "NXDOMAIN"
    assert result.facts["dns.cname_chain"] == ["gone.sim.test"]
    assert "(via CNAME gone.sim.test)" in result.detail


def test_an_unanswered_query_is_a_dns_timeout(responder: DNSResponder) -> None:
    ctx = _ctx("https://slow.sim.test/", responder, timeout=0.3)
    result = dns_probe.probe(ctx)
    assert result.status == "failed"
    assert result.facts["dns.error"] == "timeout"
    assert result.facts["dns.kind"] == "dns_timeout"
    assert "timeout (no answer within 0.3 s)" in result.detail
    assert result.facts["dns.ms"] >= 300
    assert responder.queries == [("slow.sim.test", "A")]  # AAAA is not asked once A has timed out


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("10.0.0.2", ("10.0.0.2", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)), ("::1", ("::1", 53))],
)
def test_dns_servers_are_addresses_with_an_optional_port(text: str, parsed: tuple[str, int]) -> None:
    assert dns_probe.parse_dns_server(text) == parsed
    assert dns_probe.parse_dns_server("[::1]:5353") == ("::1", 5353)


@pytest.mark.parametrize("text", ["dns.example.com", "127.0.0.1:0", "127.0.0.1:x"])
def test_a_dns_server_that_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        dns_probe.parse_dns_server(text)


@pytest.mark.parametrize(
    "host", ["a" * 64 + ".sim.test", "b" * 250 + ".sim.test", "exa mple.sim.test", "ex*ample.sim.test", "a..b.test"]
)
def test_a_name_that_cannot_exist_fails_without_asking_anyone(responder: DNSResponder, host: str) -> None:
    ctx = _ctx(f"http://{host}/v1", responder)
    result = dns_probe.probe(ctx)
    assert result.status == "failed"
    assert result.error is None  # a finding, not a check that could not finish
    assert result.facts["dns.kind"] == "dns_error"
    assert str(result.facts["dns.error"]).startswith("not a valid host name")
    assert responder.queries == []
    assert ctx.addresses == []
