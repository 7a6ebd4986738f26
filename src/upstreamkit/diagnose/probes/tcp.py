"""Phase "tcp": connect to each address the dns phase found, and say per address what happened.

Up to :data:`MAX_ADDRESSES` addresses are tried, each with ``options.timeout``, in the dns phase's order;
every socket is closed at once (the tls and http phases open their own). The verdict on each failed connect
comes from :func:`upstreamkit.core.exceptions.classify_exception`, the same choke point the client uses, so
"refused" here means what ``connection_refused`` means everywhere else.

Facts:

- ``tcp.port`` (int): the port connected to (the URL's, or its scheme's default).
- ``tcp.attempted`` (list[str]): the addresses tried, in order.
- ``tcp.connected`` (list[str]): the addresses that accepted the connection.
- ``tcp.refused`` (list[str]): the addresses that refused it (RST: nothing listens on that port).
- ``tcp.timed_out`` (list[str]): the addresses that did not answer within ``options.timeout``.
- ``tcp.unreachable`` (list[str]): the addresses with no route (ENETUNREACH, EHOSTUNREACH).
- ``tcp.errors`` (list[str]): ``"ADDR: error text"`` for any other failure.
- ``tcp.connect_ms`` (float | None): the connect time of the first address that accepted.
- ``tcp.not_tried`` (int): addresses beyond :data:`MAX_ADDRESSES`, not tried.
- ``tcp.kind`` (str, only when none connected): ``"connection_refused"`` when any address refused,
  else ``"connection_timeout"`` when any timed out, else ``"destination_ip_unroutable"`` when any had no route,
  else ``"destination_unavailable"``.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from upstreamkit.core.exceptions import classify_exception
from upstreamkit.diagnose.model import PhaseResult, PhaseStatus, ProbeContext
from upstreamkit.diagnose.probes._net import format_endpoint, target
from upstreamkit.errors import ErrorKind

__all__ = ["MAX_ADDRESSES", "probe"]

MAX_ADDRESSES = 4
"""Addresses tried at most: enough to see a pattern (one bad replica, no IPv6 route), bounded in time."""

_BUCKETS = {
    ErrorKind.CONNECTION_REFUSED: "tcp.refused",
    ErrorKind.CONNECTION_TIMEOUT: "tcp.timed_out",
    ErrorKind.DESTINATION_IP_UNROUTABLE: "tcp.unreachable",
}


def probe(ctx: ProbeContext) -> PhaseResult:
    """Connect to ``ctx.addresses`` on the URL's port; set ``ctx.connected`` and log one checklist line."""
    blocked = ctx.blocked_by("dns", "dns.error")
    if blocked is not None:
        return ctx.skip("tcp", blocked)
    if not ctx.addresses:
        return ctx.skip("tcp", "skipped: no address to connect to (the dns phase did not run)")
    port = target(ctx.request).port
    timeout = ctx.options.timeout
    tried = ctx.addresses[:MAX_ADDRESSES]
    facts: dict[str, Any] = {
        "tcp.port": port,
        "tcp.attempted": list(tried),
        "tcp.connected": [],
        "tcp.refused": [],
        "tcp.timed_out": [],
        "tcp.unreachable": [],
        "tcp.errors": [],
        "tcp.connect_ms": None,
        "tcp.not_tried": len(ctx.addresses) - len(tried),
    }
    lines: list[str] = []
    failures: list[str] = []
    for address in tried:
        endpoint = format_endpoint(address, port)
        ms, error = _connect(address, port, timeout)
        if error is None:
            facts["tcp.connected"].append(address)
            if facts["tcp.connect_ms"] is None:
                facts["tcp.connect_ms"] = round(ms, 3)
            lines.append(f"{endpoint} connected in {ms:.1f} ms")
            continue
        kind = classify_exception(error).kind or ErrorKind.DESTINATION_UNAVAILABLE
        bucket = _BUCKETS.get(kind)
        if bucket is None:
            facts["tcp.errors"].append(f"{address}: {_text(error)}")
        else:
            facts[bucket].append(address)
        what = _describe(kind, error, timeout)
        failures.append(f"{endpoint} {what}")
        lines.append(f"{endpoint} {what} after {ms:.1f} ms")
    if facts["tcp.not_tried"]:
        lines.append(f"{facts['tcp.not_tried']} more address(es) not tried")

    ctx.connected = list(facts["tcp.connected"])
    status: PhaseStatus
    if ctx.connected:
        first = format_endpoint(ctx.connected[0], port)
        detail = f"connected to {first} in {facts['tcp.connect_ms']:.1f} ms"
        status = "warning" if failures else "ok"
        if failures:
            detail += "; " + ", ".join(failures)
        ctx.log.append(f"TCP: connected to {first} in {facts['tcp.connect_ms']:.1f} ms")
    else:
        status = "failed"
        facts["tcp.kind"] = str(_verdict(facts))
        detail = "no connection: " + ", ".join(failures)
        ctx.log.append(f"TCP: could not connect: {', '.join(failures)}")
    return PhaseResult("tcp", status, None, detail, facts=facts, lines=lines)


def _connect(address: str, port: int, timeout: float) -> tuple[float, OSError | None]:
    """Open and close one connection: (milliseconds, None) or (milliseconds until it failed, the error)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    began = time.perf_counter()
    # A socket of its own per address, never getaddrinfo: the address is already resolved.
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except OSError as exc:
            return (time.perf_counter() - began) * 1000, exc
        return (time.perf_counter() - began) * 1000, None


def _verdict(facts: dict[str, Any]) -> ErrorKind:
    """One kind for "no address accepted": a refusal is the clearest evidence, then a timeout."""
    if facts["tcp.refused"]:
        return ErrorKind.CONNECTION_REFUSED
    if facts["tcp.timed_out"]:
        return ErrorKind.CONNECTION_TIMEOUT
    if facts["tcp.unreachable"]:
        return ErrorKind.DESTINATION_IP_UNROUTABLE  # the classifier's kind for ENETUNREACH/EHOSTUNREACH too
    return ErrorKind.DESTINATION_UNAVAILABLE


def _describe(kind: ErrorKind, error: OSError, timeout: float) -> str:
    if kind is ErrorKind.CONNECTION_REFUSED:
        return "refused"
    if kind is ErrorKind.CONNECTION_TIMEOUT:
        return f"timed out (no answer within {timeout:g} s)"
    if kind is ErrorKind.DESTINATION_IP_UNROUTABLE:
        return f"unreachable ({_text(error)})"
    return _text(error)


def _text(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__
