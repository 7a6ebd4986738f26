"""The admin listener's endpoints, on their own port (loopback by default), never on the public one.

- ``/healthz``: the process answers;
- ``/readyz``: listening and not draining (a load balancer stops sending new requests as soon as a stop
  begins); each upstream's breaker state is reported, never fatal to readiness;
- ``/metrics``: Prometheus text (:mod:`.metrics`: the client's series and the gateway's request counters);
- ``/status``: JSON, per upstream: breaker state, recent error rate by kind, the current and the last incident
  with its time to recover, the bypass switches in effect (``bypass``: route prefix -> middleware) and the
  stale-if-error cache's fill (``stale_cache``: entries and bytes with their bounds; null when no route keeps
  stale responses);
- ``/series``: JSON, the last minutes per second (:mod:`.timeseries`): requests by status class and kind, the
  600 rate and the attempt latency's p50/p99 per upstream, breaker transitions;
- ``/dashboard``: one self-contained HTML page (:mod:`.dashboard`) drawing live charts from ``/series`` and
  ``/status``, polled from the same origin; its Content-Security-Policy lets it fetch nothing else;
- ``/routes``: the bypass API (:mod:`.bypass`): list routes and their middleware, bypass or restore one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from upstreamkit.gateway.bypass import BypassAPI
from upstreamkit.gateway.dashboard import CONTENT_SECURITY_POLICY, dashboard_page
from upstreamkit.gateway.degrade import StaleCache
from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.server import Request, Response

__all__ = ["AdminHandler"]

_JSON = (b"content-type", b"application/json")
_PROMETHEUS = (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
_HTML = (b"content-type", b"text/html; charset=utf-8")
_ENDPOINTS = ["/healthz", "/readyz", "/metrics", "/status", "/series", "/dashboard", "/routes"]


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(status, [_JSON, (b"cache-control", b"no-store")], json.dumps(document).encode())


class AdminHandler:
    """Answers the admin endpoints from the gateway's live state."""

    def __init__(
        self,
        *,
        ready: Callable[[], bool],
        breakers: Callable[[], dict[str, str | None]],
        metrics: GatewayMetrics,
        bypass: BypassAPI | None = None,
        stale_cache: Callable[[], StaleCache | None] | None = None,
        state: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """``ready()`` says whether the public listener takes requests; ``breakers()`` gives each upstream's
        breaker state; ``metrics`` renders ``/metrics`` and ``/status``; ``bypass`` answers ``/routes``;
        ``stale_cache()`` gives ``/status`` the stale cache (None when no route keeps stale responses); ``state()``
        is ``/status``'s ``state`` (where the per-upstream state lives: backend, shared or not, workers, this
        process)."""
        self._state = state
        self._ready = ready
        self._breakers = breakers
        self._metrics = metrics
        self._bypass = bypass
        self._stale_cache = stale_cache

    async def handle(self, request: Request) -> Response:
        """One admin request."""
        path = request.target.partition(b"?")[0]
        if self._bypass is not None and (path == b"/routes" or path.startswith(b"/routes/")):
            return self._bypass.handle(request, path.decode("latin-1"))
        if request.method not in ("GET", "HEAD"):
            return _json(405, {"error": "method_not_allowed"})
        if path == b"/healthz":
            return _json(200, {"status": "ok"})
        if path == b"/readyz":
            ready = self._ready()
            # An open breaker is the upstream's trouble, reported here; the gateway itself is ready.
            upstreams = {name: {"breaker": state} for name, state in sorted(self._breakers().items())}
            return _json(200 if ready else 503, {"ready": ready, "upstreams": upstreams})
        if path == b"/metrics":
            text = self._metrics.render()
            if text is None:
                detail = b"prometheus-client is not installed: pip install 'upstreamkit[prometheus]'\n"
                return Response(501, [(b"content-type", b"text/plain")], detail)
            return Response(200, [_PROMETHEUS, (b"cache-control", b"no-store")], text)
        if path == b"/status":
            document = self._metrics.status(self._breakers())
            document["bypass"] = self._bypass.switches.snapshot() if self._bypass is not None else {}
            cache = self._stale_cache() if self._stale_cache is not None else None
            document["stale_cache"] = (
                None
                if cache is None
                else {
                    "entries": len(cache),
                    "bytes": cache.bytes,
                    "max_entries": cache.max_entries,
                    "max_bytes": cache.max_bytes,
                }
            )
            if self._state is not None:
                document["state"] = self._state()
            return _json(200, document)
        if path == b"/series":
            return _json(200, self._metrics.timeseries(self._breakers()))
        if path == b"/dashboard":
            headers = [
                _HTML,
                (b"cache-control", b"no-store"),
                (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                (b"x-content-type-options", b"nosniff"),
            ]
            return Response(200, headers, dashboard_page())
        return _json(404, {"error": "not_found", "endpoints": _ENDPOINTS})
