"""What both renderers read from a :class:`GatewaySettings`: each route's policy as numbers an engine takes,
the envelope as a template with the engine's variables in it, and the comment at the top of the file."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.envelope import Envelope, StatusMode
from upstreamkit.gateway.export.limits import limits_for
from upstreamkit.knowledge import kind_info

if TYPE_CHECKING:
    from upstreamkit.gateway.config import GatewaySettings
    from upstreamkit.gateway.policy import RoutePolicy
    from upstreamkit.gateway.routes import Route

__all__ = [
    "RoutePlan",
    "address",
    "by_upstream",
    "duration",
    "envelope_template",
    "header_comment",
    "plan_routes",
    "sf_string",
]

# Placeholders put in the envelope's JSON where the engine writes a value of its own at run time.
_MARK = "@@{}@@"
DYNAMIC_FIELDS = ("request_id", "instance", "upstream_status", "retry_after")


def duration(seconds: float) -> str:
    """A time both engines parse: whole milliseconds (``1500ms``), at least 1 ms."""
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def address(host: str, port: int) -> str:
    """``host:port`` as both engines write it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sf_string(text: str) -> str:
    """``text`` as a structured-field string (RFC 8941), printable ASCII only."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """One route as an engine needs it: names, where it goes, and its policy in seconds and counts."""

    route: Route
    ident: str
    """The route's name as an engine identifier (``[a-z0-9_]``), unique in the file."""
    upstream_ident: str
    """The upstream's name as an engine identifier: routes to one upstream share its breaker and rate limit,
    as they share the gateway's state for that upstream."""
    attempts: int
    connect_timeout: float
    per_try_timeout: float
    deadline: float | None
    breaker_failures: int | None
    """Consecutive failures that trip the breaker (None: no breaker)."""
    breaker_open_for: float
    rate: float | None
    burst: int

    @property
    def rate_retry_after(self) -> int:
        """The fixed Retry-After of the engine's own 429: one token's time, rounded up."""
        return max(1, math.ceil(1 / self.rate)) if self.rate else 1


def _policy(settings: GatewaySettings, route: Route) -> RoutePolicy:
    return route.policy if route.policy is not None else settings.policy


def plan_routes(settings: GatewaySettings) -> list[RoutePlan]:
    """Every route's plan, in the settings' order."""
    plans: list[RoutePlan] = []
    seen: set[str] = set()
    upstream_idents: dict[str, str] = {}
    for route in settings.routes:
        policy = _policy(settings, route)
        retry = policy.retry
        base = re.sub(r"[^a-z0-9_]", "_", route.upstream.lower()) or "default"
        ident = _unique(base, seen)
        if route.upstream not in upstream_idents:
            upstream_idents[route.upstream] = _unique(base, set(upstream_idents.values()))
        own = settings.upstream(route.upstream)  # a config file's per-upstream timeouts win over the gateway's
        cap = own.timeout if own is not None and own.timeout is not None else settings.timeout
        connect = own.connect_timeout if own is not None and own.connect_timeout is not None else None
        per_try = min([cap, *(t for t in (retry.per_try_timeout, retry.deadline) if t is not None)])
        breaker = policy.breaker
        plans.append(
            RoutePlan(
                route=route,
                ident=ident,
                upstream_ident=upstream_idents[route.upstream],
                attempts=retry.attempts,
                connect_timeout=min(connect if connect is not None else settings.connect_timeout, per_try),
                per_try_timeout=per_try,
                deadline=retry.deadline,
                breaker_failures=(breaker.consecutive_failures or breaker.min_calls) if breaker is not None else None,
                breaker_open_for=breaker.open_for if breaker is not None else 0.0,
                rate=policy.rate,
                burst=max(1, policy.burst),
            )
        )
    return plans


def _unique(base: str, taken: set[str]) -> str:
    ident, n = base, 1
    while ident in taken:
        n += 1
        ident = f"{base}_{n}"
    taken.add(ident)
    return ident


def by_upstream(plans: list[RoutePlan]) -> dict[str, list[RoutePlan]]:
    """The routes of each upstream (by its identifier), in the settings' order."""
    groups: dict[str, list[RoutePlan]] = {}
    for plan in plans:
        groups.setdefault(plan.upstream_ident, []).append(plan)
    return groups


def envelope_template(
    kind: ErrorKind,
    mode: StatusMode,
    *,
    upstream: str | None,
    refusal_status: int | None = None,
    upstream_status: int | None = None,
) -> tuple[int, str]:
    """The status and the JSON body of the envelope for ``kind``, with ``@@field@@`` where the engine puts
    the :data:`DYNAMIC_FIELDS` (quoted markers for strings, bare ones for numbers-or-null).

    ``upstream_status`` is the status the upstream answered when the engine knows it: the envelope's own
    status may depend on it (a 503 with Retry-After stays 503)."""
    envelope = Envelope(
        kind=kind,
        detail=kind_info(kind).title,
        request_id="",
        instance="",
        upstream=upstream,
        upstream_status=upstream_status,
        refusal_status=refusal_status,
    )
    document = json.loads(envelope.body(mode))
    for name in DYNAMIC_FIELDS:
        document[name] = _MARK.format(name)
    text = json.dumps(document, separators=(",", ":"))
    return envelope.status(mode), text


def fill(template: str, values: dict[str, str]) -> str:
    """Put the engine's expressions in the template: strings inside the quotes, numbers instead of them."""
    for name in DYNAMIC_FIELDS:
        marker = '"' + _MARK.format(name) + '"'
        value = values[name]
        template = template.replace(marker, f'"{value}"' if name in ("request_id", "instance") else value)
    return template


def header_comment(engine: str, settings: GatewaySettings, notes: list[str]) -> str:
    """The comment at the top of the file: where it came from and what the engine cannot express."""
    for upstream in settings.upstreams:
        if upstream.credentials is not None:
            kind = upstream.credentials.kind
            notes = [
                *notes,
                (
                    f"upstream {upstream.name}: the gateway adds a {kind} credential to every request; not exported "
                    "(the secret would be written into this file): add it with the engine's own secret handling"
                ),
            ]
    lines = [
        f"{engine} config exported by `upstreamkit gateway export --format {engine}` from the gateway's settings.",
        f"Routes: {', '.join(f'{r.prefix} -> {r.url}' for r in settings.routes)}.",
        f"Not expressible in {engine} (what this file does instead):",
        *(f"  - {limit.line()}" for limit in limits_for(engine)),
        *(f"  - {note}" for note in notes),
    ]
    return "".join(f"# {line}\n" for line in lines)
