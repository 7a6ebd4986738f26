"""The gateway's settings as one frozen value: what quick mode (``--route ...``) builds, and what the TOML
config file (:mod:`.configfile`, validated with pydantic) builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from upstreamkit.gateway.credentials import CredentialSpec
from upstreamkit.gateway.envelope import StatusMode
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.gateway.routes import Route
from upstreamkit.gateway.server import Limits

__all__ = ["GatewaySettings", "LoopName", "UpstreamSettings"]

LoopName = Literal["auto", "asyncio", "uvloop"]


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """What a config file says of one named upstream beyond its routes' policy (quick mode has none)."""

    name: str
    url: str
    connect_timeout: float | None = None
    """None: the gateway's."""
    timeout: float | None = None
    """None: the gateway's cap on one attempt's complete response."""
    credentials: CredentialSpec | None = None
    """The credential the gateway adds to every request to this upstream (None: the caller's passes)."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Everything a :class:`~upstreamkit.gateway.app.Gateway` needs; defaults are quick mode's."""

    routes: tuple[Route, ...]
    host: str = "127.0.0.1"
    port: int = 8600
    admin_host: str = "127.0.0.1"
    admin_port: int | None = 8601
    """None: no admin listener."""
    status_mode: StatusMode = StatusMode.STATUS_5XX
    access_log: str | None = None
    """A file path, ``-`` for stdout, or None for no access log."""
    name: str = "upstreamkit"
    """This instance's name: in ``Proxy-Status`` and in the access log's ``gateway`` field."""
    region: str | None = None
    connect_timeout: float = 5.0
    timeout: float = 30.0
    """A cap on one attempt, from the request written upstream to the complete response, beside the policy's
    ``min(per_try_timeout, remaining deadline)``."""
    policy: RoutePolicy = field(default_factory=RoutePolicy)
    """The routes' retry, budget, breaker and rate policy (a route may carry its own); the client's defaults."""
    limits: Limits = field(default_factory=Limits)
    max_response_bytes: int = 32 * 1024 * 1024
    """The largest response body read whole; a failure's body past it is ``http_response_body_size``."""
    stream_threshold: int | None = 1024 * 1024
    """Body bytes past which a response the gateway passes through (2xx, 3xx, a 4xx other than 429) is streamed
    to the caller as it arrives instead of buffered (``max_response_bytes`` then does not apply to it: the
    gateway holds at most about a megabyte of it); None: every body is read whole."""
    drain_timeout: float = 10.0
    """On stop, how long requests in flight may take to finish before their connections are dropped."""
    loop: LoopName = "auto"
    """``auto`` uses uvloop when it is installed (the ``gateway`` extra), else asyncio's own loop."""
    upstreams: tuple[UpstreamSettings, ...] = ()
    """Per-upstream timeouts and credentials (from a config file), by the routes' ``upstream`` names."""
    stale_cache_entries: int = 10_000
    """The stale-if-error cache's bound in entries, every route together (least recently used out first)."""
    stale_cache_bytes: int = 64 * 1024 * 1024
    """The stale-if-error cache's bound in bytes (bodies and headers), every route together."""
    max_connections_per_upstream: int | None = None
    """Connections open at once to one upstream origin (idle and busy); None: no cap. Requests beyond it wait
    for a connection (at most ``connection_queue_timeout`` s, ``connection_queue_max`` of them), else get the
    envelope with kind ``connection_limit_reached``."""
    connection_queue_timeout: float = 1.0
    """How long a request waits for a connection when its upstream is at ``max_connections_per_upstream``."""
    connection_queue_max: int = 1024
    """Requests waiting at once for a connection to one upstream; more are refused at once."""
    state: str | None = None
    """Where each upstream's breaker, retry budget and limiter live: None in each process (per worker), or
    ``redis://HOST:PORT/DB`` (``rediss://`` for TLS) shared by every worker and replica on that Redis (the
    ``redis`` extra). When Redis fails, each process goes on deciding on its own state and re-joins later."""
    workers: int = 1
    """Processes serving the public port (``--workers``): forked and supervised by a parent (:mod:`.workers`)."""

    def upstream(self, name: str) -> UpstreamSettings | None:
        """The settings of the upstream named ``name``, if the config gave any."""
        for upstream in self.upstreams:
            if upstream.name == name:
                return upstream
        return None

    def route_policies(self) -> list[RoutePolicy]:
        """The default policy and every route's own."""
        return [self.policy, *(route.policy for route in self.routes if route.policy is not None)]

    def __post_init__(self) -> None:
        # Accept the mode as its text ("5xx", "200", "600"), as the command line and a config file give it.
        object.__setattr__(self, "status_mode", StatusMode(self.status_mode))
        if self.max_connections_per_upstream is not None and self.max_connections_per_upstream < 1:
            raise ValueError("max_connections_per_upstream must be at least 1 (or None: no cap)")
        if self.stale_cache_entries < 1 or self.stale_cache_bytes < 1:
            raise ValueError("stale_cache_entries and stale_cache_bytes must be at least 1")
        if not 0 <= self.connection_queue_timeout < float("inf") or self.connection_queue_max < 0:
            raise ValueError("connection_queue_timeout must be finite and >= 0, connection_queue_max >= 0")
