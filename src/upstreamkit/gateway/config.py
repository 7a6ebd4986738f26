"""The gateway's settings as one frozen value: what quick mode (``--route ...``) builds today, and what the
TOML config (validated with pydantic, a later step) will build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from upstreamkit.gateway.envelope import StatusMode
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.gateway.routes import Route
from upstreamkit.gateway.server import Limits

__all__ = ["GatewaySettings", "LoopName"]

LoopName = Literal["auto", "asyncio", "uvloop"]


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
    drain_timeout: float = 10.0
    """On stop, how long requests in flight may take to finish before their connections are dropped."""
    loop: LoopName = "auto"
    """``auto`` uses uvloop when it is installed (the ``gateway`` extra), else asyncio's own loop."""

    def route_policies(self) -> list[RoutePolicy]:
        """The default policy and every route's own."""
        return [self.policy, *(route.policy for route in self.routes if route.policy is not None)]

    def __post_init__(self) -> None:
        # Accept the mode as its text ("5xx", "200", "600"), as the command line and a config file give it.
        object.__setattr__(self, "status_mode", StatusMode(self.status_mode))
