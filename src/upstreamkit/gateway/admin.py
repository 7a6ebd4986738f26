"""The admin listener's endpoints, on their own port (loopback by default), never on the public one.

- ``/healthz``: the process answers;
- ``/readyz``: listening and not draining (a load balancer stops sending new requests as soon as a stop
  begins); each upstream's breaker state is reported, never fatal to readiness;
- ``/metrics``: Prometheus text (:mod:`.metrics`: the client's series and the gateway's request counters);
- ``/status``: JSON, per upstream: breaker state, recent error rate by kind, the current and the last incident
  with its time to recover;
- ``/series``: JSON, the last minutes per second (:mod:`.timeseries`): requests by status class and kind, the
  600 rate and the attempt latency's p50/p99 per upstream, breaker transitions;
- ``/dashboard``: one self-contained HTML page (:mod:`.dashboard`) drawing live charts from ``/series`` and
  ``/status``, polled from the same origin; its Content-Security-Policy lets it fetch nothing else.

The bypass API comes in a later step, on this same listener.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from upstreamkit.gateway.dashboard import CONTENT_SECURITY_POLICY, dashboard_page
from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.server import Request, Response

__all__ = ["AdminHandler"]

_JSON = (b"content-type", b"application/json")
_PROMETHEUS = (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
_HTML = (b"content-type", b"text/html; charset=utf-8")
_ENDPOINTS = ["/healthz", "/readyz", "/metrics", "/status", "/series", "/dashboard"]


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(status, [_JSON, (b"cache-control", b"no-store")], json.dumps(document).encode())


class AdminHandler:
    """Answers the admin endpoints from the gateway's live state."""

    def __init__(
        self, *, ready: Callable[[], bool], breakers: Callable[[], dict[str, str | None]], metrics: GatewayMetrics
    ) -> None:
        """``ready()`` says whether the public listener takes requests; ``breakers()`` gives each upstream's
        breaker state; ``metrics`` renders ``/metrics`` and ``/status``."""
        self._ready = ready
        self._breakers = breakers
        self._metrics = metrics

    async def handle(self, request: Request) -> Response:
        """One admin request."""
        path = request.target.partition(b"?")[0]
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
            return _json(200, self._metrics.status(self._breakers()))
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
