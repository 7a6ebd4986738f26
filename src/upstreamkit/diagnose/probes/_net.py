"""Where the network phases connect: the URL's host, port and scheme, ``--resolve`` overrides, address text.

Shared by the dns, tcp and tls probes so that the three agree on one target (a bracketed IPv6 literal,
a default port, a case-insensitive ``--resolve`` match) and print addresses the same way.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from upstreamkit.diagnose.model import ProbeOptions, ProbeRequest

__all__ = [
    "Target",
    "format_endpoint",
    "host_name_problem",
    "is_ip_literal",
    "parse_dns_server",
    "parse_port",
    "parse_resolve",
    "resolve_override",
    "target",
]

_DEFAULT_PORTS = {"https": 443, "http": 80}
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?")
_MAX_HOST_NAME = 253


@dataclass(frozen=True, slots=True)
class Target:
    """What the URL points at: ``host`` lower-cased without brackets, the port (explicit or the scheme's)."""

    scheme: str
    host: str
    port: int

    @property
    def is_ip(self) -> bool:
        """The host is an IPv4 or IPv6 address literal (no DNS, no SNI)."""
        return is_ip_literal(self.host)

    @property
    def https(self) -> bool:
        """The URL asks for TLS."""
        return self.scheme == "https"


def target(request: ProbeRequest) -> Target:
    """The host, port and scheme of ``request.url``; ValueError for a URL without a host or a bad port."""
    parts = urlsplit(request.url)
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower-cased, brackets stripped
    if not host:
        raise ValueError(f"URL has no host: {request.url!r}")
    port = parts.port  # ValueError for a port out of range or not a number
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 443)
    return Target(scheme=scheme, host=host.rstrip(".") or host, port=port)


def is_ip_literal(host: str) -> bool:
    """``host`` is an IPv4 or IPv6 address (brackets allowed)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_name_problem(host: str) -> str | None:
    """Why the ASCII (or IDNA-encoded) ``host`` cannot be a DNS name, or None (an IP literal is fine).

    Labels are 1 to 63 letters, digits, hyphens or underscores (underscores: real service names use them),
    253 characters in all (RFC 1035).
    """
    if is_ip_literal(host):
        return None
    if len(host.rstrip(".")) > _MAX_HOST_NAME:
        return f"a host name has at most {_MAX_HOST_NAME} characters"
    if not _HOST_NAME.fullmatch(host):
        return "a host name is labels of 1 to 63 letters, digits or hyphens, joined by dots"
    return None


def resolve_override(options: ProbeOptions, host: str, port: int) -> str | None:
    """The address curl's ``--resolve HOST:PORT:ADDR`` gives for ``host:port``, or None.

    Hosts match case-insensitively (a trailing dot ignored), as curl matches them; ADDR loses its brackets.
    """
    wanted = host.lower().rstrip(".")
    for entry_host, entry_port, address in options.resolve:
        if entry_host.lower().rstrip(".") == wanted and entry_port == port:
            return address.strip().strip("[]")
    return None


def format_endpoint(address: str, port: int) -> str:
    """``ADDR:PORT``, with an IPv6 address in brackets (``[::1]:443``)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_port(text: str) -> int:
    """A TCP/UDP port to connect to: ASCII digits, 1 to 65535; ValueError naming the fault otherwise."""
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        raise ValueError(f"port {text[:40]!r} is not a number from 1 to 65535 in ASCII digits")
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range (1 to 65535)")
    return port


def parse_dns_server(text: str) -> tuple[str, int]:
    """``"ADDR"``, ``"ADDR:PORT"`` or ``"[V6ADDR]:PORT"`` as (address, port); ValueError for anything else."""
    text = text.strip()
    address, port = text, 53
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text[:80]!r} is not [ADDR]:PORT")
            port = parse_port(rest[1:])
    elif text.count(":") == 1:
        address, _, port_text = text.partition(":")
        port = parse_port(port_text)
    ipaddress.ip_address(address)  # a name here would need DNS to find DNS
    return address, port


def parse_resolve(value: str) -> list[tuple[str, int, str]]:
    """curl's ``--resolve [+]HOST:PORT:ADDR[,ADDR...]`` as (host, port, address) entries, one per address.

    Raises ValueError with a message that names the fault (the form, the port, an address that is not an IP).
    """
    entry = value.removeprefix("+")
    host, _, rest = entry.partition(":")
    port_text, _, addresses = rest.partition(":")
    if entry.startswith("-") or not host or not addresses:
        raise ValueError(f"--resolve {value!r} is not HOST:PORT:ADDR (for example api.example.com:443:127.0.0.1)")
    try:
        port = parse_port(port_text)
    except ValueError as exc:
        raise ValueError(f"--resolve {value!r}: {exc}") from None
    entries = []
    for written in addresses.split(","):
        address = written.strip().removeprefix("[").removesuffix("]")
        if not address:
            continue
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"--resolve {value!r}: {address!r} is not an IP address") from None
        entries.append((host, port, address))
    return entries
