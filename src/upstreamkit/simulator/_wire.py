"""What the simulator's HTTP/1.1 server reads and writes: a parsed request, a reply, and the response bytes.

The writing is by hand so a reply can say anything, a raw ``600`` status line or a Content-Length that the
bytes sent never reach (see :mod:`._http` for why the server is hand-written at all).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Literal

__all__ = ["Action", "Reply", "Request", "render_head", "render_response"]

_SERVER = b"upstreamkit-simulator"


@dataclass(slots=True)
class Request:
    """A parsed request: header names lower-cased (the last of repeated headers wins)."""

    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    peer: str


Action = Literal["send", "hang", "reset", "close", "truncate", "slow"]


@dataclass(slots=True)
class Reply:
    """What to do with one request: a response and, for faults, how to (mis)deliver it."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    action: Action = "send"
    at: Literal["before", "body"] = "before"
    delay: float = 0.0
    fraction: float = 0.5
    bytes_per_second: float = 4096.0
    chunk: int = 512
    close: bool = False


_REASONS = {int(status): status.phrase.encode() for status in HTTPStatus}
_REASONS[600] = b"Upstream Error"
# RFC 9110's names where Python 3.11's HTTPStatus still has the older ones.
_REASONS[413] = b"Content Too Large"
_REASONS[414] = b"URI Too Long"
_REASONS[422] = b"Unprocessable Content"


def _reason(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


class _DateCache:
    """The Date header, formatted once per second rather than once per response."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


_DATE = _DateCache()


def render_head(status: int, reply: Reply, content_length: int, *, keep_alive: bool) -> bytes:
    """Status line and headers, with a Content-Length that need not match the bytes that follow."""
    lines = [
        b"HTTP/1.1 %d %s\r\n" % (status, _reason(status)),
        b"Server: " + _SERVER + b"\r\nDate: " + _DATE.get() + b"\r\n",
        b"Content-Type: " + reply.content_type.encode("latin-1") + b"\r\n",
        b"Content-Length: %d\r\n" % content_length,
    ]
    lines.extend(f"{name}: {value}\r\n".encode("latin-1", "replace") for name, value in reply.headers)
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def render_response(reply: Reply, *, keep_alive: bool = True, head_only: bool = False) -> bytes:
    """A complete, well-formed response (whatever its status code)."""
    head = render_head(reply.status, reply, len(reply.body), keep_alive=keep_alive)
    return head if head_only else head + reply.body
