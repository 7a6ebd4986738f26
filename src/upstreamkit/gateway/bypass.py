"""Bypass switches: turn a route's optional middleware off and on again without a restart, while isolating a
fault ("temporarily bypass nonessential middlewares"), through the admin listener.

Optional (may be bypassed), each a layer that changes *what the caller sees* of the upstream, so switching it
off shows the upstream's raw behaviour:

- ``retry``: one attempt per request (the deadline and per-try timeout still hold);
- ``breaker``: the circuit breaker is neither asked nor taught (its state is kept for the restore);
- ``budget``: the retry budget is neither asked nor charged;
- ``rate_limit``: the gateway's limiter (its own rate and what the upstream's 429s taught it) is not asked;
- ``stale``: no stale-if-error answers (and nothing stored meanwhile);
- ``fallback``: no static fallback body: the envelope itself.

Essential (never bypassed): routing and the refusal of unknown routes and absolute-form targets, header
rewriting (hop-by-hop, ``Host``, ``X-Forwarded-For``), size limits, timeouts and the deadline, request ids,
the classification into the one envelope, the access log and metrics. Without them the gateway would become
an open proxy, hang on a dead upstream, or hide the very fault being isolated.

The API (admin listener only, loopback by default)::

    GET    /routes                           each route, its configured, active and bypassed middleware
    POST   /routes/{route}/bypass            {"middleware": ["retry", "breaker"]}   (JSON body required)
    POST   /routes/{route}/restore           {"middleware": [...]}, or {} for all
    DELETE /routes/{route}/bypass            restore all (or the JSON body's list)

``{route}`` is a route's prefix without its leading slash (``pay``, ``api/v2``; ``%2F`` for ``/``), its
prefix percent-encoded, or its upstream's name when one route has it.

CSRF stance: the port is loopback, yet a browser on this machine can reach it. A change needs
``Content-Type: application/json`` (a cross-site form or ``no-cors`` fetch cannot send it without a CORS
preflight, which this listener never grants), an ``Origin``, when sent, naming the listener itself, and a
loopback ``Host`` (DNS rebinding). Everything else is refused with an envelope.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.envelope import Envelope, StatusMode
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.gateway.routes import Route
from upstreamkit.gateway.server import Request, Response

__all__ = ["OPTIONAL", "BypassAPI", "BypassSwitches", "configured_middleware"]

OPTIONAL: tuple[str, ...] = ("retry", "breaker", "budget", "rate_limit", "stale", "fallback")
"""The middleware a route may bypass, in the order they are listed."""

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_MAX_BODY = 4096


def configured_middleware(route: Route, default_policy: RoutePolicy) -> list[str]:
    """The optional middleware this route has configured (bypass works on any of :data:`OPTIONAL`)."""
    policy = route.policy or default_policy
    names: list[str] = []
    if policy.retry.attempts > 1:
        names.append("retry")
    if policy.breaker is not None:
        names.append("breaker")
    if policy.budget is not None:
        names.append("budget")
    names.append("rate_limit")  # always there: the limiter learns the upstream's 429s even without a rate
    if route.stale_if_error is not None:
        names.append("stale")
    if route.fallback is not None:
        names.append("fallback")
    return names


class BypassSwitches:
    """Which middleware each route bypasses now. ``active`` maps a route's prefix to its bypassed names and
    holds only routes with something bypassed: the request path checks ``if switches.active`` and nothing more
    when nothing is."""

    def __init__(
        self,
        routes: Iterable[Route],
        default_policy: RoutePolicy,
        *,
        on_change: Callable[[str, str, bool], None] | None = None,
    ) -> None:
        """``default_policy``: the policy of routes without their own; ``on_change(prefix, middleware, bypassed)``
        hears every switch (the metrics' gauge)."""
        self.routes = tuple(routes)
        self.default_policy = default_policy
        self.active: dict[str, frozenset[str]] = {}
        self._on_change = on_change

    def reconfigure(self, routes: Iterable[Route], default_policy: RoutePolicy) -> None:
        """A reload: the new routes; switches of routes that are still there (same prefix) stay, others go."""
        self.routes = tuple(routes)
        self.default_policy = default_policy
        prefixes = {route.prefix for route in self.routes}
        for prefix in [prefix for prefix in self.active if prefix not in prefixes]:
            names = self.active.pop(prefix)
            if self._on_change is not None:
                for name in sorted(names):
                    self._on_change(prefix, name, False)  # noqa: FBT003 - the callback the gauge takes

    def find(self, name: str) -> Route | None:
        """The route called ``name``: its prefix with or without the leading slash, or its upstream's name."""
        for route in self.routes:
            if name in (route.prefix, route.prefix.lstrip("/")) or (route.prefix == "/" and name == "default"):
                return route
        by_upstream = [route for route in self.routes if route.upstream == name]
        return by_upstream[0] if len(by_upstream) == 1 else None

    def bypass(self, route: Route, names: Iterable[str]) -> frozenset[str]:
        """Bypass ``names`` (of :data:`OPTIONAL`) on ``route``; returns what it bypasses now."""
        before = self.active.get(route.prefix, frozenset())
        now = before | frozenset(names)
        self._set(route, before, now)
        return now

    def restore(self, route: Route, names: Iterable[str] | None = None) -> frozenset[str]:
        """Restore ``names`` (None: all) on ``route``; returns what it still bypasses."""
        before = self.active.get(route.prefix, frozenset())
        now = frozenset() if names is None else before - frozenset(names)
        self._set(route, before, now)
        return now

    def _set(self, route: Route, before: frozenset[str], now: frozenset[str]) -> None:
        if now:
            self.active[route.prefix] = now
        else:
            self.active.pop(route.prefix, None)
        if self._on_change is not None:
            for name in sorted(before ^ now):
                self._on_change(route.prefix, name, name in now)

    def snapshot(self) -> dict[str, list[str]]:
        """Bypassed middleware by route prefix (routes with none left out), for ``/status``."""
        return {prefix: _ordered(names) for prefix, names in sorted(self.active.items())}


def _ordered(names: Iterable[str]) -> list[str]:
    chosen = set(names)
    return [name for name in OPTIONAL if name in chosen]


class BypassAPI:
    """The admin listener's ``/routes`` endpoints over a :class:`BypassSwitches`."""

    def __init__(self, switches: BypassSwitches, *, gateway: str) -> None:
        """``gateway``: the name in the refusals' Proxy-Status."""
        self.switches = switches
        self._gateway = gateway

    def describe(self, route: Route) -> dict[str, object]:
        """One route as ``GET /routes`` lists it."""
        configured = configured_middleware(route, self.switches.default_policy)
        bypassed = self.switches.active.get(route.prefix, frozenset())
        return {
            "prefix": route.prefix,
            "name": route.prefix.lstrip("/") or "default",
            "upstream": route.upstream,
            "url": route.url,
            "middleware": {
                "configured": configured,
                "active": [name for name in configured if name not in bypassed],
                "bypassed": _ordered(bypassed),
            },
        }

    def handle(self, request: Request, path: str) -> Response:
        """``GET /routes`` or a change under ``/routes/...`` (``path`` without the query)."""
        if path in ("/routes", "/routes/"):
            if request.method not in ("GET", "HEAD"):
                return self._error(request, 405, ErrorKind.HTTP_REQUEST_ERROR, "GET /routes lists the routes")
            return _json(200, {"routes": [self.describe(route) for route in self.switches.routes]})
        rest = path[len("/routes/") :]
        name, _, action = rest.rpartition("/")
        if action not in ("bypass", "restore") or not name:
            return self._error(
                request, 404, ErrorKind.DESTINATION_NOT_FOUND,
                "admin routes API: GET /routes, POST /routes/{route}/bypass, POST /routes/{route}/restore, "
                "DELETE /routes/{route}/bypass",
            )  # fmt: skip
        allowed = ("POST", "DELETE") if action == "bypass" else ("POST",)
        if request.method not in allowed:
            return self._error(
                request, 405, ErrorKind.HTTP_REQUEST_ERROR, f"/routes/{{route}}/{action} takes {' or '.join(allowed)}"
            )
        refusal = self._refuse_cross_site(request)
        if refusal is not None:
            return refusal
        route = self.switches.find(unquote(name))
        if route is None:
            known = ", ".join(route.prefix for route in self.switches.routes)
            return self._error(
                request, 404, ErrorKind.DESTINATION_NOT_FOUND, f"no route {unquote(name)!r}; routes: {known}"
            )
        names = self._middleware(request)
        if isinstance(names, Response):
            return names
        if action == "bypass" and request.method == "POST":
            if names is None:
                return self._error(
                    request, 400, ErrorKind.HTTP_REQUEST_ERROR, 'say what to bypass: {"middleware": ["retry", ...]}'
                )
            self.switches.bypass(route, names)
        else:
            self.switches.restore(route, names)
        return _json(200, self.describe(route))

    def _middleware(self, request: Request) -> list[str] | Response | None:
        """The body's ``middleware`` list (None when the body is absent or ``{}``), or the refusal."""
        body = request.body.strip()
        if not body:
            if request.method == "POST":
                return self._error(request, 400, ErrorKind.HTTP_REQUEST_ERROR, "a JSON object body is required")
            return None
        if len(body) > _MAX_BODY:
            return self._error(request, 400, ErrorKind.HTTP_REQUEST_ERROR, f"the body exceeds {_MAX_BODY} bytes")
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._error(request, 400, ErrorKind.HTTP_REQUEST_ERROR, "the body is not valid JSON")
        if not isinstance(document, dict) or set(document) - {"middleware"}:
            return self._error(
                request, 400, ErrorKind.HTTP_REQUEST_ERROR, 'the body must be {"middleware": [NAME, ...]}, no other key'
            )
        if "middleware" not in document:
            return None
        names = document["middleware"]
        if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
            return self._error(
                request, 400, ErrorKind.HTTP_REQUEST_ERROR, '"middleware" must be a non-empty list of names'
            )
        unknown = sorted(set(names) - set(OPTIONAL))
        if unknown:
            return self._error(
                request, 400, ErrorKind.HTTP_REQUEST_ERROR,
                f"not optional middleware: {', '.join(unknown)}; optional: {', '.join(OPTIONAL)}",
            )  # fmt: skip
        return list(names)

    def _refuse_cross_site(self, request: Request) -> Response | None:
        headers = {name.lower(): value.decode("latin-1") for name, value in request.headers}
        host = headers.get(b"host", "")
        hostname = urlsplit(f"//{host}").hostname or ""
        if hostname not in _LOOPBACK_HOSTS and f"[{hostname}]" not in _LOOPBACK_HOSTS:
            return self._error(
                request, 403, ErrorKind.HTTP_REQUEST_DENIED, "changes are taken only with a loopback Host header"
            )
        origin = headers.get(b"origin")
        if origin is not None and urlsplit(origin).netloc != host:
            return self._error(
                request, 403, ErrorKind.HTTP_REQUEST_DENIED, "a cross-origin request cannot change the bypass switches"
            )
        content_type = headers.get(b"content-type", "").partition(";")[0].strip().lower()
        if request.body.strip() and content_type != "application/json":
            return self._error(
                request, 415, ErrorKind.HTTP_REQUEST_ERROR, "the body must be sent as Content-Type: application/json"
            )
        if request.method == "POST" and content_type != "application/json":
            return self._error(request, 415, ErrorKind.HTTP_REQUEST_ERROR, "POST needs Content-Type: application/json")
        return None

    def _error(self, request: Request, status: int, kind: ErrorKind, detail: str) -> Response:
        instance = request.target.partition(b"?")[0].decode("latin-1")
        envelope = Envelope(kind, detail, os.urandom(8).hex(), instance, refusal_status=status)
        # A refusal's status is the same in every mode: 5xx mode is as good as any to render it.
        return Response(status, envelope.headers(self._gateway), envelope.body(StatusMode.STATUS_5XX))


def _json(status: int, document: dict[str, object]) -> Response:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    return Response(status, headers, json.dumps(document).encode())
