"""Routes: which configured upstream a request target goes to, and the path it is sent with.

The gateway is not an open proxy. A request reaches an upstream only through a configured route: its
path must be in origin form (``/...``), must match a route prefix on a segment boundary (``/pay`` matches
``/pay`` and ``/pay/orders``, never ``/payments``), and the longest matching prefix wins. The prefix is
stripped and the rest joined to the route's base path: ``--route /pay=http://127.0.0.1:9000/v1`` sends
``/pay/orders?x=1`` to ``/v1/orders?x=1``. Nothing the caller sends (Host, absolute-form targets,
``X-Forwarded-Host``) takes part in the choice.

A path with dot segments (``/pay/../admin``, also percent-encoded) is refused rather than normalised:
an upstream that normalises it would serve a path outside the route's base path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from upstreamkit.gateway.degrade import Fallback

if TYPE_CHECKING:
    from upstreamkit.gateway.policy import RoutePolicy

__all__ = ["Route", "RouteError", "RouteTable", "Target", "parse_route"]

_PREFIX_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_DOT_SEGMENT_RE = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RouteError(ValueError):
    """A route that cannot be configured; ``str()`` is one line saying what is wrong."""


@dataclass(frozen=True, slots=True)
class Route:
    """One prefix forwarded to one upstream URL (scheme, host, port and a base path)."""

    prefix: str
    url: str
    upstream: str
    """The upstream's name: in the envelope's ``upstream`` field, the access log and metrics."""
    policy: RoutePolicy | None = None
    """This route's retry, breaker, budget and rate policy; None: the gateway's default policy."""
    stale_if_error: float | None = None
    """Seconds past its freshness a last good GET/HEAD response may be served when the upstream fails
    (RFC 5861; the upstream's own ``Cache-Control: stale-if-error=N`` wins); None: nothing kept or served."""
    stale_cache_authorized: bool = False
    """Keep and serve stale responses of requests with ``Authorization`` or ``Cookie`` too (keyed by the
    credential's fingerprint); off by default."""
    fallback: Fallback | None = None
    """A static answer (status, content type, body) served instead of the envelope when the upstream fails
    and no stale response covers it; None: the envelope."""
    scheme: str = field(init=False)
    host: str = field(init=False)
    port: int = field(init=False)
    base_path: str = field(init=False)
    host_header: str = field(init=False)
    """The ``Host`` sent upstream: the URL's authority, its port omitted when it is the scheme's default."""

    def __post_init__(self) -> None:
        if self.stale_if_error is not None and not (0 <= self.stale_if_error < float("inf")):
            raise RouteError(f"route {self.prefix}: stale_if_error must be a finite number of seconds >= 0")
        if not _PREFIX_RE.match(self.prefix):
            raise RouteError(f"route prefix {self.prefix!r} must start with '/' and hold only path characters")
        parts = urlsplit(self.url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise RouteError(f"route {self.prefix}: upstream URL {self.url!r} must be http:// or https://")
        if not parts.hostname:
            raise RouteError(f"route {self.prefix}: upstream URL {self.url!r} has no host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise RouteError(f"route {self.prefix}: upstream URL must not carry a query, fragment or credentials")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise RouteError(f"route {self.prefix}: bad port in {self.url!r}") from exc
        host = parts.hostname
        authority = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[parts.scheme]:
            authority = f"{authority}:{port}"
        object.__setattr__(self, "scheme", parts.scheme)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "base_path", parts.path.rstrip("/"))
        object.__setattr__(self, "host_header", authority)

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)``: the key of the upstream connection pool."""
        return (self.scheme, self.host, self.port)

    def upstream_target(self, path: str, query: str) -> str:
        """The request target sent upstream for a matched ``path`` (prefix included) and ``query``."""
        rest = path[len(self.prefix.rstrip("/")) :]
        target = self.base_path + rest
        if not target.startswith("/"):
            target = "/" + target
        return f"{target}?{query}" if query else target


@dataclass(frozen=True, slots=True)
class Target:
    """A routed request: the route and the target to send upstream."""

    route: Route
    target: str


def _name_for(prefix: str) -> str:
    name = prefix.strip("/").replace("/", "-")
    return name or "default"


def parse_route(spec: str) -> Route:
    """``/PREFIX=URL`` (the quick mode's ``--route``) as a :class:`Route` named after its prefix."""
    prefix, sep, url = spec.partition("=")
    if not sep or not prefix or not url:
        raise RouteError(f"--route {spec!r}: expected /PREFIX=URL, e.g. /pay=http://127.0.0.1:9000/v1")
    prefix = prefix.strip()
    if len(prefix) > 1:
        prefix = prefix.rstrip("/")
    return Route(prefix=prefix, url=url.strip(), upstream=_name_for(prefix))


class RouteTable:
    """Longest-prefix matching over a fixed set of routes."""

    __slots__ = ("_by_prefix", "_lengths", "routes")

    def __init__(self, routes: list[Route]) -> None:
        """Index ``routes``; two routes with the same prefix are an error."""
        self.routes = tuple(routes)
        self._by_prefix: dict[str, Route] = {}
        for route in routes:
            key = route.prefix.rstrip("/") or "/"
            if key in self._by_prefix:
                raise RouteError(f"route prefix {route.prefix!r} is configured twice")
            self._by_prefix[key] = route
        # Candidate prefixes are the path's own segment boundaries, longest first: one dict lookup each.
        self._lengths = sorted({len(key) for key in self._by_prefix}, reverse=True)

    def match(self, path: str, query: str = "") -> Target | None:
        """The route for an origin-form ``path`` and the upstream target; None when no route takes it."""
        if not path.startswith("/") or _DOT_SEGMENT_RE.search(path):
            return None
        by_prefix = self._by_prefix
        for length in self._lengths:
            if length > len(path):
                continue
            if length == 1:
                route = by_prefix.get("/")
            elif len(path) == length or path[length] == "/":
                route = by_prefix.get(path[:length])
            else:
                continue
            if route is not None:
                return Target(route, route.upstream_target(path, query))
        return None
