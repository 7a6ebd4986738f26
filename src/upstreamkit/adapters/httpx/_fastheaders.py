"""Header reads and writes on the transport's hot path, without httpx's per-call encoding detection.

``httpx.Headers.__getitem__``, ``get``, ``__contains__``, ``__setitem__`` and ``keys`` each work out the
headers' text encoding by trying to decode every value (``Headers.encoding``), about a microsecond apiece,
and a missing key costs a raised and caught ``KeyError`` on top. A resilient transport asks four or five
such questions per request: a fifth of its overhead over plain httpx, measured (bench/transport.py).

These helpers read httpx's ``Headers._list`` of ``(raw name, lower-case name, value)`` byte triples
directly, and fall back to the public API when it is not there; tests/adapters/test_fastheaders.py checks
that they agree with the public API, so an httpx release that changes the internals fails a test, not a user.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from upstreamkit.core.classify import teaches

__all__ = ["add_header", "ensure_header", "header", "lower_names", "teaches_nothing"]


_R = ord("r")
_Items = list[tuple[bytes, bytes, bytes]]
"""httpx's ``Headers._list``: (raw name, lower-case name, value) per field line."""


def _items(headers: httpx.Headers) -> _Items | None:
    # Inlined, as two lines, in the three helpers every request calls (header, ensure_header, teaches_nothing):
    # a Python call costs about as much as the loop over a response's headers.
    items = getattr(headers, "_list", None)
    return items if isinstance(items, list) else None


def header(headers: httpx.Headers, lower: bytes) -> str | None:
    """The first value of the header whose lower-case name is ``lower``, or None."""
    items: _Items | None = getattr(headers, "_list", None)  # _items(headers), inlined (see there)
    if not isinstance(items, list):
        found: str | None = headers.get(lower.decode("ascii"))
        return found
    for _, key, value in items:
        if key == lower:
            return value.decode("latin-1")
    return None


def add_header(headers: httpx.Headers, name: str, value: str) -> None:
    """Add a header the caller checked is absent (ASCII name and value: ids and keys made here)."""
    items = _items(headers)
    if items is None:
        headers[name] = value
        return
    raw = name.encode("ascii")
    items.append((raw, raw.lower(), value.encode("ascii")))


def ensure_header(headers: httpx.Headers, lower: bytes, name: str, make: Callable[[], str]) -> str:
    """The first value of the header ``lower``; when it is absent or empty, ``make()``'s value (ASCII), added
    as ``name``. :func:`header` then :func:`add_header` in one pass: the transport does this on every call."""
    items: _Items | None = getattr(headers, "_list", None)  # _items(headers), inlined (see there)
    if not isinstance(items, list):
        found = header(headers, lower)
        if found:
            return found
        made = make()
        headers[name] = made
        return made
    for _, key, value in items:
        if key == lower:
            if value:
                return value.decode("latin-1")
            break
    made = make()
    raw = name.encode("ascii")
    items.append((raw, raw.lower(), made.encode("ascii")))
    return made


def lower_names(headers: httpx.Headers) -> list[str]:
    """The lower-case header names, in order."""
    items = _items(headers)
    if items is None:
        return [name.lower() for name in headers]
    return [key.decode("latin-1") for _, key, _ in items]


def teaches_nothing(headers: httpx.Headers) -> bool:
    """True when no header is one a client learns from (Retry-After, RateLimit-*, X-RateLimit-*): the names
    :func:`upstreamkit.core.classify.is_plain_success` looks for, read without decoding them."""
    items: _Items | None = getattr(headers, "_list", None)  # _items(headers), inlined (see there)
    if not isinstance(items, list):
        return not any(teaches(name) for name in lower_names(headers))
    for _, key, _ in items:
        # classify.teaches() on bytes; one cheap test first rejects most names (all three forms hold an "r").
        # It asks for the byte as an int: `b"r" in key` first tries its operand as an int, raising and
        # clearing a TypeError each time (~2k instructions, Python 3.11). find() takes a bytes operand as is.
        if _R in key and (key == b"retry-after" or key.find(b"ratelimit") >= 0 or key.find(b"rate-limit") >= 0):
            return False
    return True
