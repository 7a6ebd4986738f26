"""Degraded mode: answer an upstream failure with the last good response (RFC 5861 ``stale-if-error``) or a
static fallback body instead of the envelope.

**Stale-if-error.** A route with ``stale_if_error`` set keeps the last good response of each GET and HEAD
in one :class:`StaleCache` shared by every route, bounded in entries and bytes, least recently used out first.
The key is the method, the upstream, the target sent upstream (path and query) and the values of the request
headers the response's ``Vary`` names; a request with ``Authorization`` (or ``Cookie``: a session is a
credential too) is neither stored nor served unless the route says so (``stale_cache_authorized``), and then
the credential's fingerprint joins the key, so no caller is ever served another's response. Never kept:
responses with ``Set-Cookie``, with ``Cache-Control`` ``no-store``, ``private``, ``no-cache``,
``must-revalidate`` or ``proxy-revalidate`` (RFC 9111 forbids serving those stale), ``Vary: *``, statuses
that are not a good answer, and requests saying ``no-store``.

When every attempt fails (any failure the envelope reports, the gateway's own refusals included), a stored
response is served while its age is within its freshness (``max-age``/``s-maxage``, else 0) plus the window:
the upstream's own ``Cache-Control: stale-if-error=N`` when it sent one, else the route's. It carries
``Age``, ``Cache-Status`` (RFC 9211: ``upstreamkit; fwd=stale; fwd-status=503; ttl=-12;
detail=stale-if-error``) and ``Proxy-Status`` naming the failure (RFC 9209), never the obsolete ``Warning``.

**Fallback.** A route's :class:`Fallback` (status, content type, body) answers a failure that no stale
response covers, with ``Proxy-Status`` and ``X-Request-Id`` as the envelope would.

Ages are read from the gateway's clock (a FakeClock in tests).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.core.redact import fingerprint
from upstreamkit.gateway.server import Request, Response

if TYPE_CHECKING:
    from collections.abc import Iterable

    from upstreamkit.clock import Clock
    from upstreamkit.gateway.envelope import Envelope
    from upstreamkit.gateway.routes import Route

__all__ = [
    "CachedResponse",
    "DegradedMode",
    "Fallback",
    "StaleCache",
    "cache_directives",
    "fallback_from",
    "stale_headers",
]

_CACHEABLE_STATUS = frozenset({200, 203, 204, 300, 301, 308})
_NEVER_STALE = frozenset({"no-store", "private", "no-cache", "must-revalidate", "proxy-revalidate"})
_STORED_WITHOUT = frozenset({b"age", b"x-request-id", b"cache-status", b"proxy-status"})
_TOKEN_RE = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*")
_ENTRY_OVERHEAD = 256
"""Bytes counted per entry beside its body and headers (key, lists, the entry object)."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """A static answer served instead of the envelope when the upstream fails."""

    status: int = 200
    """HTTP status of the fallback answer."""
    content_type: str = "application/json"
    body: bytes = b""
    """The body, from inline text or a file (:func:`fallback_from`)."""

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 599:
            raise ValueError(f"fallback status must be 200-599, not {self.status}")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.content_type):
            raise ValueError("fallback content type must not hold control characters")


def fallback_from(text: str | None = None, *, file: str | Path | None = None, status: int = 200,
                  content_type: str = "application/json") -> Fallback:  # fmt: skip
    """A :class:`Fallback` from inline ``text`` or the bytes of ``file`` (exactly one); OSError if unreadable."""
    if (text is None) == (file is None):
        raise ValueError("a fallback body comes from inline text or a file, exactly one of them")
    body = Path(file).read_bytes() if file is not None else (text or "").encode()
    return Fallback(status=status, content_type=content_type, body=body)


def cache_directives(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The ``Cache-Control`` directives of ``headers``, lower-cased names; a value-less directive maps to ''."""
    return _directives(_header(headers, b"cache-control"))


def _directives(value: bytes | None) -> dict[str, str]:
    """Cache-Control directives from the field's (joined) value."""
    directives: dict[str, str] = {}
    if value is None:
        return directives
    for part in value.decode("latin-1").split(","):
        key, _, arg = part.strip().partition("=")
        if key:
            directives[key.strip().lower()] = arg.strip().strip('"')
    return directives


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = int(value)
    except ValueError:
        return None
    return float(seconds) if seconds >= 0 else None


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a microsecond more per store
class CachedResponse:
    """A stored good response and what is needed to judge its age."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    """The caller's headers as they were passed through, without Age and X-Request-Id."""
    body: bytes
    stored_at: float
    initial_age: float
    """The upstream's own ``Age`` when it was stored."""
    fresh_for: float
    """Freshness lifetime (``s-maxage``, ``max-age``, else 0)."""
    stale_for: float | None
    """The upstream's ``stale-if-error`` seconds, None when it sent none (the route's window applies)."""
    size: int

    def age(self, now: float) -> float:
        """Seconds since the upstream made it (RFC 9111 ``Age``)."""
        return self.initial_age + max(now - self.stored_at, 0.0)

    def servable(self, now: float, window: float) -> bool:
        """Whether it may be served after an error: age within freshness plus the stale window."""
        stale_for = self.stale_for if self.stale_for is not None else window
        return self.age(now) <= self.fresh_for + stale_for


_Primary = tuple[str, str, str, str | None]
"""(method, upstream, upstream target, credential fingerprint or None)."""


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    values = [value.strip() for name, value in headers if name.lower() == wanted]
    return b", ".join(values) if values else None


def _pick(headers: list[tuple[bytes, bytes]], wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """:func:`_header` of every ``wanted`` (lower-case) name in one pass: the cache stores on every GET."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in wanted:
            found[lowered] = found[lowered] + b", " + value.strip() if lowered in found else value.strip()
    return found


def _variant(request_headers: list[tuple[bytes, bytes]], names: tuple[bytes, ...]) -> tuple[bytes | None, ...]:
    """The key's second part: the request's values of the headers the response's Vary names (most name none)."""
    return tuple(_header(request_headers, name) for name in names) if names else ()


_REQUEST_FIELDS = frozenset({b"authorization", b"cookie", b"cache-control"})
_RESPONSE_FIELDS = frozenset({b"cache-control", b"set-cookie", b"vary", b"age"})


class StaleCache:
    """Last good responses by key, bounded by ``max_entries`` and ``max_bytes``, least recently used out."""

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        """Bounds of the whole cache (every route shares it)."""
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("the stale cache needs room for at least one entry and one byte")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[_Primary, tuple[bytes | None, ...]], CachedResponse] = OrderedDict()
        self._vary: dict[_Primary, tuple[bytes, ...]] = {}
        self._variants: dict[_Primary, int] = {}
        """Entries per primary key: its Vary names are forgotten with its last entry."""

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _primary(
        method: str, upstream: str, target: str, request_headers: list[tuple[bytes, bytes]], *, authorized: bool
    ) -> _Primary | None:
        """The key's first part, or None when this request may not use the cache."""
        if method not in ("GET", "HEAD"):
            return None
        found = _pick(request_headers, _REQUEST_FIELDS)
        authorization, cookie = found.get(b"authorization"), found.get(b"cookie")
        credential = (
            None if authorization is None and cookie is None else (authorization or b"") + b"\n" + (cookie or b"")
        )
        if credential is not None and not authorized:
            return None
        if b"cache-control" in found and "no-store" in _directives(found[b"cache-control"]):
            return None
        return (method, upstream, target, fingerprint(credential) if credential is not None else None)

    def store(
        self, *, method: str, upstream: str, target: str, request_headers: list[tuple[bytes, bytes]],
        status: int, headers: list[tuple[bytes, bytes]], body: bytes, now: float, authorized: bool = False,
    ) -> bool:  # fmt: skip
        """Keep a response passed to the caller, when it may be served stale later; says whether it was kept."""
        primary = self._primary(method, upstream, target, request_headers, authorized=authorized)
        if primary is None or status not in _CACHEABLE_STATUS:
            return False
        found = _pick(headers, _RESPONSE_FIELDS)
        directives = _directives(found.get(b"cache-control"))
        if _NEVER_STALE.intersection(directives) or b"set-cookie" in found:
            return False
        vary_value = found.get(b"vary")
        names = tuple(sorted({n.strip().lower() for n in vary_value.split(b",") if n.strip()})) if vary_value else ()
        if b"*" in names:
            return False
        kept: list[tuple[bytes, bytes]] = []
        size = len(body) + len(target) + _ENTRY_OVERHEAD
        for name, value in headers:  # one loop for both: this runs on every GET of a stale-if-error route
            if name.lower() not in _STORED_WITHOUT:
                kept.append((name, value))
                size += len(name) + len(value)
        if size > self.max_bytes:
            return False
        fresh = _seconds(directives.get("s-maxage")) or _seconds(directives.get("max-age")) or 0.0
        age = found.get(b"age")
        initial_age = (_seconds(age.decode("latin-1")) if age is not None else None) or 0.0
        entry = CachedResponse(
            status=status,
            headers=tuple(kept),
            body=body,
            stored_at=now,
            initial_age=initial_age,
            fresh_for=fresh,
            stale_for=_seconds(directives.get("stale-if-error")),
            size=size,
        )
        if self._vary.get(primary, names) != names:  # the upstream changed its Vary: older variants are moot
            self._drop(primary)
        self._vary[primary] = names
        key = (primary, _variant(request_headers, names))
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        else:
            self._variants[primary] = self._variants.get(primary, 0) + 1
        self._entries[key] = entry
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            (old_primary, _), evicted = self._entries.popitem(last=False)
            self._forget(old_primary, evicted)
        return True

    def _forget(self, primary: _Primary, entry: CachedResponse) -> None:
        self.bytes -= entry.size
        left = self._variants[primary] - 1
        if left:
            self._variants[primary] = left
        else:
            del self._variants[primary]
            del self._vary[primary]

    def _drop(self, primary: _Primary) -> None:
        for key in [key for key in self._entries if key[0] == primary]:
            self._forget(primary, self._entries.pop(key))

    def lookup(
        self, *, method: str, upstream: str, target: str, request_headers: list[tuple[bytes, bytes]], now: float,
        window: float, authorized: bool = False,
    ) -> CachedResponse | None:  # fmt: skip
        """The stored response for this request when it may be served stale now, else None."""
        primary = self._primary(method, upstream, target, request_headers, authorized=authorized)
        if primary is None:
            return None
        names = self._vary.get(primary)
        if names is None:
            return None
        key = (primary, _variant(request_headers, names))
        entry = self._entries.get(key)
        if entry is None or not entry.servable(now, window):
            return None
        self._entries.move_to_end(key)
        return entry


def stale_headers(
    entry: CachedResponse, now: float, *, gateway: str, fwd_status: int | None, proxy_status: bytes, request_id: str
) -> list[tuple[bytes, bytes]]:
    """The headers of a stale answer: the stored ones, ``Age``, ``Cache-Status``, ``Proxy-Status``, the id."""
    age = entry.age(now)
    ttl = math.floor(entry.fresh_for - age)
    name = gateway if _TOKEN_RE.fullmatch(gateway) else '"' + gateway.replace("\\", "").replace('"', "") + '"'
    status = f"{name}; fwd=stale" + (f"; fwd-status={fwd_status}" if fwd_status is not None else "")
    status += f"; ttl={ttl}; detail=stale-if-error"
    return [
        *entry.headers,
        (b"age", str(math.floor(age)).encode()),
        (b"cache-status", status.encode("ascii", "replace")),
        (b"proxy-status", proxy_status),
        (b"x-request-id", request_id.encode("ascii", "replace")),
    ]


class DegradedMode:
    """The routes' degraded answers: remembers good responses, and answers failures with them or a fallback."""

    def __init__(
        self, routes: Iterable[Route], *, max_entries: int, max_bytes: int, clock: Clock, gateway: str,
        cache: StaleCache | None = None,
    ) -> None:  # fmt: skip
        """Only routes with ``stale_if_error`` or a ``fallback`` take part; the cache exists only when a route
        keeps stale responses (``cache``: the one to keep using across a reload, else a new one)."""
        self.routes: dict[str, Route] = {
            route.prefix: route for route in routes if route.stale_if_error is not None or route.fallback is not None
        }
        stale = any(route.stale_if_error is not None for route in self.routes.values())
        if stale and cache is None:
            cache = StaleCache(max_entries=max_entries, max_bytes=max_bytes)
        self.cache = cache if stale else None
        self._clock = clock
        self._gateway = gateway

    def remember(
        self, route: Route, target: str, request: Request, response: Response, bypass: frozenset[str] | None
    ) -> None:
        """Keep ``response`` (passed to the caller) for a later failure, when the route keeps stale responses."""
        cache = self.cache
        if cache is None or route.stale_if_error is None or (bypass and "stale" in bypass):
            return
        if response.stream is not None:  # too large to keep, and not all here yet
            return
        cache.store(
            method=request.method, upstream=_upstream_key(route), target=target, request_headers=request.headers,
            status=response.status, headers=[(n, v) for n, v in response.headers if n != b"x-request-id"],
            body=response.body, now=self._clock.monotonic(), authorized=route.stale_cache_authorized,
        )  # fmt: skip

    def answer(
        self, route: Route, target: str, request: Request, envelope: Envelope, bypass: frozenset[str] | None
    ) -> tuple[Response, str] | None:
        """A stale response or the fallback for this failure, with its mode (``stale``, ``fallback``); None: the
        envelope it is."""
        proxy_status = envelope.proxy_status(self._gateway).encode("ascii", "replace")
        cache = self.cache
        window = route.stale_if_error
        if cache is not None and window is not None and not (bypass and "stale" in bypass):
            now = self._clock.monotonic()
            entry = cache.lookup(
                method=request.method, upstream=_upstream_key(route), target=target, request_headers=request.headers,
                now=now, window=window, authorized=route.stale_cache_authorized,
            )  # fmt: skip
            if entry is not None:
                headers = stale_headers(
                    entry, now, gateway=self._gateway, fwd_status=envelope.upstream_status,
                    proxy_status=proxy_status, request_id=envelope.request_id,
                )  # fmt: skip
                return Response(entry.status, headers, entry.body), "stale"
        fallback = route.fallback
        if fallback is None or (bypass and "fallback" in bypass):
            return None
        headers = [
            (b"content-type", fallback.content_type.encode("latin-1")),
            (b"cache-control", b"no-store"),
            (b"proxy-status", proxy_status),
            (b"x-request-id", envelope.request_id.encode("ascii", "replace")),
        ]
        return Response(fallback.status, headers, b"" if request.method == "HEAD" else fallback.body), "fallback"


def _upstream_key(route: Route) -> str:
    """The cache key's upstream: its name and where it is (a reload may point the name elsewhere)."""
    return f"{route.upstream} {route.scheme}://{route.host_header}"
