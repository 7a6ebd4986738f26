"""What the engine and its drivers exchange: the commands of a call, how a response is read, request ids and
upstream keys, and the error a streamed body raises. The engine (``_engine.py``) decides; this is its vocabulary.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from upstreamkit.adapters.httpx._fastheaders import header
from upstreamkit.adapters.httpx.auth import Token
from upstreamkit.core.classify import classify_exception
from upstreamkit.core.outcome import Outcome
from upstreamkit.core.redact import redact_url
from upstreamkit.errors import Hop, UpstreamError

BODY_READ_LIMIT = 256 * 1024
"""Bodies up to this size (by Content-Length) are read inside the call: a body cut short is then a failed
attempt, retried like any other, and an error envelope (a 600 inside an HTTP 200) can be seen. Larger
bodies, and bodies of unknown length, stream to the caller; a failure while the caller reads them is raised
as the taxonomy's :class:`~upstreamkit.errors.UpstreamError`."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds (through the clock)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Send:
    """Send the request; the result is an ``httpx.Response`` (body read when small) or the exception raised."""

    request: httpx.Request


@dataclass(frozen=True, slots=True)
class Refresh:
    """Refresh the token (single-flight); ``stale`` is the token that failed. The result is the new Token."""

    stale: Token | None
    reason: str


@dataclass(frozen=True, slots=True)
class Discard:
    """Close a response that will not be handed to the caller (sync or async, as the driver is)."""

    response: httpx.Response


Command = Sleep | Send | Refresh | Discard
Fallback = Callable[[httpx.Request, UpstreamError], httpx.Response | None]


def should_read_body(response: httpx.Response) -> bool:
    """Read failures' bodies and every body small enough by its declared length (see BODY_READ_LIMIT)."""
    if response.status_code >= 300:
        return True
    headers = response.headers
    items = getattr(headers, "_list", None)  # _fastheaders.header(), inlined, and the length read as bytes
    if not isinstance(items, list):
        found = headers.get("content-length")
        return found is not None and found.isascii() and found.isdigit() and int(found) <= BODY_READ_LIMIT
    for _, key, value in items:
        if key == b"content-length":
            # ASCII digits only: bytes.isdigit() knows no others (str.isdigit() takes "²", which int() refuses).
            return value.isdigit() and int(value) <= BODY_READ_LIMIT
    return False


_KEYS: dict[tuple[object, ...], str] = {}


def _reference_type() -> type[tuple[Any, ...]] | None:
    """The type of httpx's parsed URL reference when its first four fields are the authority's, else None."""
    ref = getattr(httpx.URL("http://h:1/"), "_uri_reference", None)
    fields = getattr(type(ref), "_fields", ())
    return type(ref) if isinstance(ref, tuple) and tuple(fields[:4]) == ("scheme", "userinfo", "host", "port") else None


_REFERENCE = _reference_type()


def upstream_key(url: httpx.URL) -> str:
    """``scheme://host:port``: the key of per-upstream state and the label of metrics."""
    # Cached by what the key is made of, read as cheaply as httpx gives it: its parsed reference's fields
    # (private, read with a fallback; ``url.netloc`` builds bytes on every call), else the public properties.
    # tests/adapters check that both name the same upstream. The reference is a named tuple (scheme, userinfo,
    # host, port, path, ...): its first four fields, sliced as one tuple, are what the key is made of (userinfo
    # aside, which only splits the cache).
    ref: Any = getattr(url, "_uri_reference", None)
    raw: tuple[object, ...] = ref[:4] if type(ref) is _REFERENCE else (url.raw_scheme, url.netloc)
    key = _KEYS.get(raw)
    if key is None:
        scheme = url.scheme
        key = f"{scheme}://{url.host}:{url.port or (443 if scheme == 'https' else 80)}"
        if len(_KEYS) >= 4096:  # bounded: a crawler's hosts come and go
            _KEYS.clear()
        _KEYS[raw] = key
    return key


# Request ids: a random per-process prefix and a counter, 32 hex digits like a uuid4's hex. ``uuid.uuid4()``
# reads 16 bytes from the OS for every request (~2 µs); ids need to be unique, not secret. The counter holds
# the prefix in its top 64 bits (the top one set, so hex() always gives 32 digits) and counts from a random
# 32-bit start in the low 64 (2**32 + 2**63 calls never carry into the prefix): hex() of one int is the
# cheapest way to print it, half an f-string with a format spec.
_REQUEST_IDS = itertools.count(
    ((int.from_bytes(os.urandom(8), "big") | 1 << 63) << 64) + int.from_bytes(os.urandom(4), "big")
)


def new_request_id() -> str:
    """A new request id: 32 hex digits, unique in this process and, by its random prefix, across processes."""
    return hex(next(_REQUEST_IDS))[2:]


def map_stream_error(exc: Exception, request: httpx.Request, request_id_header: str) -> UpstreamError:
    """A failure while the caller reads a streamed body, as the taxonomy's error (to raise ``from`` it)."""
    upstream = redact_url(str(request.url.copy_with(query=None, fragment=None)))
    error = classify_exception(exc).to_error(upstream=upstream)
    error.request_id = header(request.headers, request_id_header.lower().encode("ascii"))
    return error


def success(status: int) -> Outcome:
    return Outcome(
        ok=True, kind=None, retryable=False, request_sent=True, explanation=f"HTTP {status}: not a failure.",
        status=status, hop=Hop.UPSTREAM,
    )  # fmt: skip


PLAIN_SUCCESS = success(200)


def keep_body(response: httpx.Response, raw: bytes) -> None:
    """Hold a body the call read (``raw``: as it came, still compressed) the way a plain httpx response holds it
    before its caller reads it: ``content`` decoded, and the raw bytes there again for ``iter_raw()``.

    The call reads small bodies to classify them; ``response.read()`` alone would leave the response closed
    and its stream consumed, so a caller of ``client.stream()`` got ``StreamConsumed`` from ``iter_raw()``.
    The stream becomes the raw bytes in memory (``httpx.ByteStream``, which replays). A body without a
    Content-Encoding is its own decoding: ``content`` is set to it as httpx's ``read()`` would (a second pass
    through httpx's reader costs as much as the rest of the transport's work a request); another is decoded
    by that pass. tests/adapters/test_transport_part2.py holds both to what plain httpx gives."""
    response.stream = httpx.ByteStream(raw)
    response.is_stream_consumed = response.is_closed = False  # as before iter_raw()
    if header(response.headers, b"content-encoding") is None:
        response._content = raw  # what read() sets: the content property reads it
        return
    response.read()  # decodes (gzip, br, ...) from memory, and leaves the response closed again
    response.is_stream_consumed = response.is_closed = False  # for the caller's iter_raw()


def read_body(response: httpx.Response) -> bytes:
    """The body the transport read, or b"" when the caller streams it."""
    try:
        return response.content
    except httpx.ResponseNotRead:
        return b""
