"""Phase "dns": which addresses the URL's host resolves to, through which resolver, and how long it took.

The host is answered, in this order, by: the URL itself (an IP literal needs no DNS), a ``--resolve``
override for its host and port, the hosts file (``localhost`` and names listed there, read without a
network query), and otherwise dnspython's stub resolver asking ``options.dns_servers`` or the system's
``/etc/resolv.conf`` servers for A and AAAA, one deadline of ``options.timeout`` for both. dnspython, not
``getaddrinfo``, asks the resolver because only it tells NXDOMAIN from "no address" from SERVFAIL from a
timeout, and shows the CNAME chain.

Facts (all plain JSON):

- ``dns.host`` (str): the host asked for (lower-cased, no brackets).
- ``dns.source`` (str): who answered: ``"literal"``, ``"resolve-override"``, ``"hosts"`` or ``"resolver"``.
- ``dns.resolver`` (str): the nameservers asked, ``"ADDR:PORT,..."``; ``""`` when none was asked.
- ``dns.addresses`` (list[str]): every address found, IPv4 first, then IPv6.
- ``dns.ipv4`` / ``dns.ipv6`` (bool): an IPv4 / IPv6 address was found.
- ``dns.cname_chain`` (list[str]): the names the host is an alias of, in the order followed (empty: none).
- ``dns.ms`` (float): time spent resolving, in milliseconds.
- ``dns.error`` (str, on failure): ``"NXDOMAIN"``, ``"NoAnswer"`` (the name exists, with no address),
  ``"SERVFAIL"``, ``"timeout"``, or another error's text.
- ``dns.kind`` (str, on failure): ``"dns_error"`` for an answer that says no, ``"dns_timeout"`` for none.
- ``dns.partial_error`` (str, warning only): one of the two queries failed while the other gave addresses.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.resolver

from upstreamkit.diagnose.model import PhaseResult, PhaseStatus, ProbeContext, ProbeOptions
from upstreamkit.diagnose.probes._net import format_endpoint, is_ip_literal, resolve_override, target
from upstreamkit.errors import ErrorKind

__all__ = ["HOSTS_FILE", "parse_dns_server", "probe", "read_hosts"]

HOSTS_FILE = Path("/etc/hosts")
"""The system's hosts file; the one ``getaddrinfo`` reads first."""

_LOOPBACK = ("127.0.0.1", "::1")
_SHOWN_IN_DETAIL = 4


@dataclass(slots=True)
class _Resolution:
    """What the resolver said: addresses per family, the CNAME chain, and the error when it said no."""

    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)
    cname_chain: list[str] = field(default_factory=list)
    error: str | None = None
    kind: ErrorKind | None = None
    partial_error: str | None = None


def probe(ctx: ProbeContext, *, hosts_file: Path | None = None) -> PhaseResult:
    """Resolve the URL's host; set ``ctx.addresses`` and log one checklist line."""
    began = time.perf_counter()
    try:
        where = target(ctx.request)
    except ValueError as exc:
        return PhaseResult("dns", "failed", _ms(began), f"cannot resolve: {exc}", facts={"dns.error": str(exc)})
    host, hosts_path = where.host, hosts_file if hosts_file is not None else HOSTS_FILE
    facts: dict[str, Any] = {"dns.host": host, "dns.resolver": "", "dns.cname_chain": []}

    override = resolve_override(ctx.options, host, where.port)
    if is_ip_literal(host):
        source, addresses, how = "literal", [host], "address literal, no DNS"
    elif override is not None:
        source, addresses = "resolve-override", [override]
        how = f"--resolve {host}:{where.port}:{override} (DNS not asked)"
    elif (listed := _hosts_lookup(host, hosts_path)) is not None:
        source, addresses, how = "hosts", listed, f"from {hosts_path}"
    else:
        return _from_resolver(ctx, host, facts, began)

    facts.update(_address_facts(source, addresses, _ms(began)))
    ctx.addresses = list(addresses)
    shown = ", ".join(addresses)
    detail = f"{host}: {how}" if source == "literal" else f"{host} → {shown} ({how})"
    ctx.log.append(f"DNS: resolved {host} to {shown} via {source}")
    return PhaseResult("dns", "ok", None, detail, facts=facts, lines=[f"address {a}" for a in addresses])


def _from_resolver(ctx: ProbeContext, host: str, facts: dict[str, Any], began: float) -> PhaseResult:
    """Ask the configured nameservers for A and AAAA; the phase's result from their answers."""
    try:
        resolver, servers = _make_resolver(ctx.options)
    except (dns.resolver.NoResolverConfiguration, ValueError, OSError) as exc:
        error = f"no usable resolver configuration: {exc}"
        facts.update({"dns.source": "resolver", "dns.error": error, "dns.kind": str(ErrorKind.DNS_ERROR)})
        facts.update({"dns.addresses": [], "dns.ipv4": False, "dns.ipv6": False, "dns.ms": _ms(began)})
        ctx.log.append(f"DNS: could not resolve {host}: {error}")
        return PhaseResult("dns", "failed", None, f"{host}: {error}", facts=facts)
    facts["dns.resolver"] = servers
    resolution = _query(resolver, host, ctx.options.timeout)
    ms = _ms(began)
    addresses = resolution.ipv4 + resolution.ipv6
    facts.update(_address_facts("resolver", addresses, ms))
    facts["dns.cname_chain"] = list(resolution.cname_chain)
    via = f" (via CNAME {' → '.join(resolution.cname_chain)})" if resolution.cname_chain else ""
    lines = [f"resolver {servers}", *(f"CNAME → {name}" for name in resolution.cname_chain)]
    lines += [f"address {address}" for address in addresses]

    if resolution.error is not None:
        kind = resolution.kind or ErrorKind.DNS_ERROR
        facts.update({"dns.error": resolution.error, "dns.kind": str(kind)})
        detail = f"{host}: {_explain(resolution.error, ctx.options.timeout)}{via} from {servers} in {ms:.0f} ms"
        lines.append(f"error {resolution.error}")
        ctx.log.append(f"DNS: {host} did not resolve: {resolution.error} from {servers}")
        return PhaseResult("dns", "failed", None, detail, facts=facts, lines=lines)

    ctx.addresses = list(addresses)
    shown = ", ".join(addresses[:_SHOWN_IN_DETAIL])
    if len(addresses) > _SHOWN_IN_DETAIL:
        shown += f" (+{len(addresses) - _SHOWN_IN_DETAIL} more)"
    detail = f"{host} → {shown}{via} in {ms:.0f} ms from {servers}"
    status: PhaseStatus = "ok"
    if resolution.partial_error is not None:
        status = "warning"
        facts["dns.partial_error"] = resolution.partial_error
        detail += f"; {resolution.partial_error}"
        lines.append(resolution.partial_error)
    ctx.log.append(f"DNS: resolved {host} to {', '.join(addresses)} via resolver {servers}{via}")
    return PhaseResult("dns", status, None, detail, facts=facts, lines=lines)


def _query(resolver: dns.resolver.Resolver, host: str, timeout: float) -> _Resolution:
    """A then AAAA under one deadline. NXDOMAIN, a timeout or a failed server on A ends the resolution."""
    name = dns.name.from_text(host)  # absolute: the search list must not turn "api" into "api.corp.example"
    deadline = time.monotonic() + timeout
    result = _Resolution()
    errors: dict[str, tuple[str, ErrorKind]] = {}
    for rdtype in ("A", "AAAA"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            errors[rdtype] = ("timeout", ErrorKind.DNS_TIMEOUT)
            break
        try:
            answer = resolver.resolve(name, rdtype, raise_on_no_answer=False, lifetime=remaining, search=False)
        except dns.resolver.NXDOMAIN as exc:
            result.cname_chain = result.cname_chain or _chain_of_nxdomain(exc)
            errors[rdtype] = ("NXDOMAIN", ErrorKind.DNS_ERROR)
            break
        except dns.exception.Timeout:
            errors[rdtype] = ("timeout", ErrorKind.DNS_TIMEOUT)
            if rdtype == "A":
                break
            continue
        except dns.resolver.NoNameservers as exc:
            errors[rdtype] = (_servers_error(exc), ErrorKind.DNS_ERROR)
            if rdtype == "A":
                break
            continue
        except (dns.exception.DNSException, OSError) as exc:
            errors[rdtype] = (f"{type(exc).__name__}: {exc}", ErrorKind.DNS_ERROR)
            continue
        result.cname_chain = result.cname_chain or _chain(answer.chaining_result.cnames)
        found = [rdata.to_text() for rdata in answer.rrset] if answer.rrset is not None else []
        (result.ipv4 if rdtype == "A" else result.ipv6).extend(dict.fromkeys(found))

    if result.ipv4 or result.ipv6:
        if errors:
            rdtype, (error, _) = next(iter(errors.items()))
            result.partial_error = f"{rdtype} query failed: {error}"
        return result
    if errors:
        # The first failure is the one that stopped the resolution (A's, unless A merely had no address).
        result.error, result.kind = next(iter(errors.values()))
    else:
        result.error, result.kind = "NoAnswer", ErrorKind.DNS_ERROR
    return result


def _chain(cnames: list[Any]) -> list[str]:
    """The targets of a response's CNAME RRsets, in the order dnspython followed them."""
    return [str(rdata.target.to_text(omit_final_dot=True)) for rrset in cnames for rdata in list(rrset)[:1]]


def _chain_of_nxdomain(exc: dns.resolver.NXDOMAIN) -> list[str]:
    """The aliases followed before the name that does not exist (an alias to a deleted name is common)."""
    try:
        responses: dict[Any, Any] = exc.kwargs.get("responses") or {}
        for response in responses.values():
            if isinstance(response, dns.message.QueryMessage):
                return _chain(response.resolve_chaining().cnames)
    except (dns.exception.DNSException, KeyError, TypeError):
        return []
    return []


def _servers_error(exc: dns.resolver.NoNameservers) -> str:
    """``"SERVFAIL"`` (or the rcode the servers gave), else what went wrong talking to them."""
    texts: list[str] = []
    for _server, _tcp, _port, error, response in exc.kwargs.get("errors", []):
        if response is not None and response.rcode() != dns.rcode.NOERROR:
            return str(dns.rcode.to_text(response.rcode()))
        texts.append(str(error))
    return "; ".join(texts) or "no nameserver answered"


def _explain(error: str, timeout: float) -> str:
    meanings = {
        "NXDOMAIN": "NXDOMAIN (the name does not exist)",
        "NoAnswer": "NoAnswer (the name exists but has no A or AAAA record)",
        "SERVFAIL": "SERVFAIL (the resolver could not get an answer)",
        "timeout": f"timeout (no answer within {timeout:g} s)",
    }
    return meanings.get(error, error)


def _make_resolver(options: ProbeOptions) -> tuple[dns.resolver.Resolver, str]:
    """A resolver for ``options.dns_servers`` (or the system's), with no cache, and the servers as text."""
    if options.dns_servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_dns_server(s)) for s in options.dns_servers]
    else:
        resolver = dns.resolver.Resolver()  # /etc/resolv.conf; NoResolverConfiguration when it names none
    resolver.cache = None  # a diagnosis must ask, not remember
    resolver.timeout = options.timeout
    resolver.lifetime = options.timeout
    servers = []
    for server in resolver.nameservers:
        if isinstance(server, dns.nameserver.Nameserver):
            servers.append(format_endpoint(server.answer_nameserver(), server.answer_port()))
        else:
            servers.append(format_endpoint(server, resolver.nameserver_ports.get(server, resolver.port)))
    return resolver, ",".join(servers)


def parse_dns_server(text: str) -> tuple[str, int]:
    """``"ADDR"``, ``"ADDR:PORT"`` or ``"[V6ADDR]:PORT"`` as (address, port); ValueError for anything else."""
    text = text.strip()
    address, port = text, 53
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif text.count(":") == 1:
        address, _, port_text = text.partition(":")
        port = int(port_text)
    ipaddress.ip_address(address)  # a name here would need DNS to find DNS
    if not 0 < port < 65536:
        raise ValueError(f"DNS server port out of range: {text!r}")
    return address, port


def read_hosts(path: Path) -> dict[str, list[str]]:
    """A hosts file as {name: [addresses in file order]}; names lower-cased; a missing file is empty."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    table: dict[str, list[str]] = {}
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        address = fields[0].split("%", 1)[0]  # fe80::1%eth0: the zone is not part of the address
        if not is_ip_literal(address):
            continue
        for name in fields[1:]:
            addresses = table.setdefault(name.lower().rstrip("."), [])
            if address not in addresses:
                addresses.append(address)
    return table


def _hosts_lookup(host: str, path: Path) -> list[str] | None:
    """Addresses for ``host`` without a network query: from the hosts file, or loopback for localhost.

    For the system's hosts file, ``getaddrinfo`` gives them in the order every other client on this machine
    gets them (it reads that file before asking DNS); a hosts file given for a test is read directly.
    """
    listed = read_hosts(path).get(host)
    if listed is None:
        if host == "localhost" or host.endswith(".localhost"):
            return list(_LOOPBACK)  # RFC 6761: loopback, never a query
        return None
    if path != HOSTS_FILE:
        return _ordered(listed)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return _ordered(listed)
    found = [str(info[4][0]).split("%", 1)[0] for info in infos]
    return list(dict.fromkeys(found)) or _ordered(listed)


def _ordered(addresses: list[str]) -> list[str]:
    """IPv4 first, then IPv6, as getaddrinfo orders them on a host without global IPv6."""
    return sorted(addresses, key=lambda address: ":" in address)


def _address_facts(source: str, addresses: list[str], ms: float) -> dict[str, Any]:
    return {
        "dns.source": source,
        "dns.addresses": list(addresses),
        "dns.ipv4": any(":" not in a for a in addresses),
        "dns.ipv6": any(":" in a for a in addresses),
        "dns.ms": round(ms, 3),
    }


def _ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000
