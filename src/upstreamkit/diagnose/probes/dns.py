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

import socket
import time
from pathlib import Path
from typing import Any

from upstreamkit.diagnose.model import PhaseResult, PhaseStatus, ProbeContext
from upstreamkit.diagnose.probes._net import (
    host_name_problem,
    is_ip_literal,
    parse_dns_server,
    resolve_override,
    target,
)
from upstreamkit.errors import ErrorKind

__all__ = ["HOSTS_FILE", "parse_dns_server", "probe", "read_hosts"]

HOSTS_FILE = Path("/etc/hosts")
"""The system's hosts file; the one ``getaddrinfo`` reads first."""

_LOOPBACK = ("127.0.0.1", "::1")
_SHOWN_IN_DETAIL = 4


def probe(ctx: ProbeContext, *, hosts_file: Path | None = None) -> PhaseResult:
    """Resolve the URL's host; set ``ctx.addresses`` and log one checklist line."""
    began = time.perf_counter()
    try:
        where = target(ctx.request)
    except ValueError as exc:
        return PhaseResult("dns", "failed", _ms(began), f"cannot resolve: {exc}", facts={"dns.error": str(exc)})
    host, hosts_path = where.host, hosts_file if hosts_file is not None else HOSTS_FILE
    facts: dict[str, Any] = {"dns.host": host, "dns.resolver": "", "dns.cname_chain": []}
    problem = host_name_problem(host) if host.isascii() else None  # IDNA names: dnspython's own check
    if problem is not None:
        error = f"not a valid host name: {problem}"
        facts.update({"dns.source": "", "dns.error": error, "dns.kind": str(ErrorKind.DNS_ERROR)})
        facts.update({"dns.addresses": [], "dns.ipv4": False, "dns.ipv6": False, "dns.ms": _ms(began)})
        ctx.log.append(f"DNS: {host!r} was not asked for: {error}")
        return PhaseResult("dns", "failed", None, f"{host}: {error}", facts=facts)

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
    from upstreamkit.diagnose.probes import _resolver  # noqa: PLC0415 - dnspython loads only when DNS is asked

    try:
        resolver, servers = _resolver.make_resolver(ctx.options)
    except (ValueError, OSError) as exc:
        error = f"no usable resolver configuration: {exc}"
        facts.update({"dns.source": "resolver", "dns.error": error, "dns.kind": str(ErrorKind.DNS_ERROR)})
        facts.update({"dns.addresses": [], "dns.ipv4": False, "dns.ipv6": False, "dns.ms": _ms(began)})
        ctx.log.append(f"DNS: could not resolve {host}: {error}")
        return PhaseResult("dns", "failed", None, f"{host}: {error}", facts=facts)
    facts["dns.resolver"] = servers
    resolution = _resolver.query(resolver, host, ctx.options.timeout)
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


def _explain(error: str, timeout: float) -> str:
    meanings = {
        "NXDOMAIN": "NXDOMAIN (the name does not exist)",
        "NoAnswer": "NoAnswer (the name exists but has no A or AAAA record)",
        "SERVFAIL": "SERVFAIL (the resolver could not get an answer)",
        "timeout": f"timeout (no answer within {timeout:g} s)",
    }
    return meanings.get(error, error)


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
