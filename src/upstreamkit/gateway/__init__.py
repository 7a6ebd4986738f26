"""The gateway: a reverse proxy in front of upstreams, one error envelope for every failure, ops endpoints.

Start it with ``upstreamkit gateway --route /PREFIX=URL`` or ``--config gateway.toml``, or in code with
:class:`Gateway` and :class:`GatewaySettings`. The parts, one concept per file:

- :mod:`.config` — the settings as one frozen value; :mod:`.configfile` — the TOML file that builds them;
- :mod:`.credentials` — credentials the gateway adds for an upstream (static, OAuth2), kept fresh;

- :mod:`.server` — the public side: an HTTP/1.1 protocol object fed by httptools (keep-alive, limits);
- :mod:`.upstream` — the upstream side: pooled keep-alive connections, responses parsed by httptools;
- :mod:`.routes` — prefix routes (longest wins, prefix stripped); nothing else is forwarded;
- :mod:`.proxy` — one request: route, rewrite headers, exchange, judge with the core's classifier;
- :mod:`.policy` — per-route policies (the client's retry, budget, breaker, limiter, deadline) on the loop;
- :mod:`.degrade` — degraded mode: stale-if-error (RFC 5861) from a bounded cache, or a static fallback body;
- :mod:`.bypass` — switch a route's optional middleware off and on at run time (the admin ``/routes`` API);
- :mod:`.metrics` — ``/metrics`` (the client's Prometheus series and the gateway's) and ``/status``;
- :mod:`.envelope` — the RFC 9457 + ``code: 600`` envelope, ``Proxy-Status``, the status modes;
- :mod:`.accesslog` — the JSON access log and its field contract;
- :mod:`.admin` — the admin listener's endpoints;
- :mod:`.app` — the process: listeners, graceful stop, SIGHUP reload, the event loop.
"""

from __future__ import annotations

from upstreamkit.gateway.app import Gateway, run
from upstreamkit.gateway.config import GatewaySettings
from upstreamkit.gateway.envelope import StatusMode
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.gateway.routes import Route, RouteError, parse_route

__all__ = ["Gateway", "GatewaySettings", "Route", "RouteError", "RoutePolicy", "StatusMode", "parse_route", "run"]
