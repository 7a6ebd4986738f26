"""The admin listener's endpoints, on their own port (loopback by default), never on the public one.

This step serves ``/healthz`` (the process answers) and ``/readyz`` (listening and not draining: a load
balancer stops sending new requests as soon as a stop begins). ``/metrics``, ``/status``, ``/dashboard`` and
the bypass API come in later steps, on this same listener.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from upstreamkit.gateway.server import Request, Response

__all__ = ["AdminHandler"]

_JSON = (b"content-type", b"application/json")


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(status, [_JSON, (b"cache-control", b"no-store")], json.dumps(document).encode())


class AdminHandler:
    """Answers the admin endpoints from the gateway's live state."""

    def __init__(self, *, ready: Callable[[], bool], upstreams: Callable[[], list[str]]) -> None:
        """``ready()`` says whether the public listener takes requests; ``upstreams()`` names the upstreams."""
        self._ready = ready
        self._upstreams = upstreams

    async def handle(self, request: Request) -> Response:
        """One admin request."""
        path = request.target.partition(b"?")[0]
        if request.method not in ("GET", "HEAD"):
            return _json(405, {"error": "method_not_allowed"})
        if path == b"/healthz":
            return _json(200, {"status": "ok"})
        if path == b"/readyz":
            ready = self._ready()
            # An upstream's trouble (later: an open breaker) is reported here, never fatal to readiness.
            document = {"ready": ready, "upstreams": {name: {"breaker": None} for name in self._upstreams()}}
            return _json(200 if ready else 503, document)
        return _json(404, {"error": "not_found", "endpoints": ["/healthz", "/readyz"]})
