"""dnspython's side of the dns phase: a resolver for the configured servers, and A/AAAA under one deadline.

Kept apart from :mod:`upstreamkit.diagnose.probes.dns` so that dnspython is imported only when a name is
really asked of a resolver (an IP literal, a ``--resolve`` override or a hosts-file name needs none).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.resolver

from upstreamkit.diagnose.model import ProbeOptions
from upstreamkit.diagnose.probes._net import format_endpoint, parse_dns_server
from upstreamkit.errors import ErrorKind

__all__ = ["Resolution", "make_resolver", "query"]


@dataclass(slots=True)
class Resolution:
    """What the resolver said: addresses per family, the CNAME chain, and the error when it said no."""

    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)
    cname_chain: list[str] = field(default_factory=list)
    error: str | None = None
    kind: ErrorKind | None = None
    partial_error: str | None = None


def query(resolver: dns.resolver.Resolver, host: str, timeout: float) -> Resolution:
    """A then AAAA under one deadline. NXDOMAIN, a timeout or a failed server on A ends the resolution."""
    name = dns.name.from_text(host)  # absolute: the search list must not turn "api" into "api.corp.example"
    deadline = time.monotonic() + timeout
    result = Resolution()
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


def make_resolver(options: ProbeOptions) -> tuple[dns.resolver.Resolver, str]:
    """A resolver for ``options.dns_servers`` (or the system's), with no cache, and the servers as text."""
    if options.dns_servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_dns_server(s)) for s in options.dns_servers]
    else:
        try:
            resolver = dns.resolver.Resolver()  # /etc/resolv.conf
        except dns.resolver.NoResolverConfiguration as exc:
            raise ValueError(f"no nameserver in /etc/resolv.conf: {exc}") from exc
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
