"""A loopback DNS responder: answers A, AAAA and CNAME from a table, so DNS faults are testable offline.

::

    with DNSResponder({"api.sim.test": ["127.0.0.1"], "alias.sim.test": "cname:api.sim.test"}) as server:
        server.address  # "127.0.0.1:PORT": give it to a resolver (diagnose's ``dns_servers``)

A name maps to a list of addresses (IPv4 ones answer A, IPv6 ones AAAA; an empty list is a name with no
address: NOERROR, empty answer) or to ``"cname:TARGET"``; aliases are followed like a recursive resolver
follows them, the CNAME records preceding the target's addresses. Names not in the table get NXDOMAIN,
names in ``servfail`` get SERVFAIL and names in ``silent`` get no answer at all (the asker times out).

It speaks UDP only (answers here are far below 512 bytes, so no resolver falls back to TCP), from one
daemon thread that waits on its socket and a wake-up socket, so :meth:`DNSResponder.stop` returns at
once and leaves no thread behind. dnspython builds and parses the messages.
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Self

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["DNSResponder"]

_MAX_CHAIN = 8
"""Aliases followed per query; a loop in the table ends here instead of spinning."""
_MAX_DATAGRAM = 4096


def _key(name: str | dns.name.Name) -> str:
    text = name.to_text() if isinstance(name, dns.name.Name) else name
    return text.lower().rstrip(".")


class DNSResponder:
    """A UDP DNS server on loopback answering from a fixed table; a context manager that starts and stops it."""

    def __init__(
        self,
        records: Mapping[str, Sequence[str] | str],
        *,
        servfail: Iterable[str] = (),
        silent: Iterable[str] = (),
        ttl: int = 60,
        host: str = "127.0.0.1",
    ) -> None:
        """``records``: name → addresses or ``"cname:TARGET"``; ``servfail``/``silent``: names answered badly."""
        self._records: dict[str, list[str] | str] = {}
        for name, value in records.items():
            if isinstance(value, str):
                if not value.startswith("cname:"):
                    raise ValueError(f"{name}: a record is a list of addresses or 'cname:TARGET', not {value!r}")
                self._records[_key(name)] = _key(value.removeprefix("cname:"))
            else:
                for address in value:
                    ipaddress.ip_address(address)  # ValueError names the bad address
                self._records[_key(name)] = list(value)
        self._servfail = {_key(name) for name in servfail}
        self._silent = {_key(name) for name in silent}
        self._ttl = ttl
        self._host = host
        self._socket: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._queries: list[tuple[str, str]] = []

    def start(self) -> Self:
        """Bind a free UDP port on ``host`` and answer in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("DNSResponder already started")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_DGRAM)
        try:
            server.bind((self._host, 0))
        except OSError:
            server.close()
            raise
        self._socket, self._wake = server, socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve, args=(server, self._wake[0]), name="upstreamkit-sim-dns", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, join the thread and close the sockets (idempotent)."""
        thread, wake, server = self._thread, self._wake, self._socket
        if thread is None or wake is None or server is None:
            return
        wake[1].send(b"x")
        thread.join(timeout=5)
        for sock in (server, *wake):
            sock.close()
        self._thread = self._wake = self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The UDP port answering (after :meth:`start`)."""
        if self._socket is None:
            raise RuntimeError("DNSResponder not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def address(self) -> str:
        """``"HOST:PORT"`` (``"[V6]:PORT"`` for IPv6), as diagnose's ``dns_servers`` takes it."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str]]:
        """Every question received, as (name, type), oldest first."""
        with self._lock:
            return list(self._queries)

    def _serve(self, server: socket.socket, wake: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while True:  # until stop() writes to the wake-up socket
                ready = {key.fileobj for key, _ in selector.select()}
                if wake in ready:
                    return
                try:
                    data, peer = server.recvfrom(_MAX_DATAGRAM)
                except OSError:
                    continue  # an ICMP error from an earlier reply's peer: nothing to answer
                reply = self._answer(data)
                if reply is not None:
                    try:
                        server.sendto(reply, peer)
                    except OSError:
                        continue  # the asker went away; the next question is unaffected

    def _answer(self, data: bytes) -> bytes | None:
        """The wire-format reply to one query, or None to stay silent (malformed or a ``silent`` name)."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        if len(query.question) != 1 or query.flags & dns.flags.QR:
            return None
        question = query.question[0]
        name, rdtype = _key(question.name), question.rdtype
        with self._lock:
            self._queries.append((name, dns.rdatatype.to_text(rdtype)))
        if name in self._silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if name in self._servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        current = name
        for _ in range(_MAX_CHAIN):
            value = self._records.get(current)
            if value is None:
                response.set_rcode(dns.rcode.NXDOMAIN)  # also for an alias whose target is unknown
                break
            if isinstance(value, str):
                response.answer.append(self._rrset(current, dns.rdatatype.CNAME, [value + "."]))
                if rdtype == dns.rdatatype.CNAME:
                    break
                current = value
                continue
            wanted = 4 if rdtype == dns.rdatatype.A else 6 if rdtype == dns.rdatatype.AAAA else 0
            found = [a for a in value if ipaddress.ip_address(a).version == wanted]
            if found:
                response.answer.append(self._rrset(current, rdtype, found))
            break
        else:
            response.set_rcode(dns.rcode.SERVFAIL)  # an alias loop: what a real resolver reports
        return response.to_wire()

    def _rrset(self, owner: str, rdtype: int, values: list[str]) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(
            dns.name.from_text(owner), self._ttl, dns.rdataclass.IN, dns.rdatatype.RdataType(rdtype), values
        )
