"""A fault-injecting upstream that reproduces every cause of "error 600" on loopback.

::

    from upstreamkit.simulator import Simulator

    with Simulator("incident", seed=1, time_scale=0.2) as sim:
        response = httpx.get(sim.url("/v1/orders"))
        sim.ledger.attempts_by_request_id()

Faults are real at the level where they happen (raw ``600`` status lines, TCP resets, truncated bodies,
hangs, expired certificates, expiring JWTs, token buckets); scenarios are timelines of fault mixes read
from TOML (:func:`load_scenario`, :func:`builtin_scenarios`); the :class:`Ledger` records what the upstream
received. Test fixtures: :mod:`upstreamkit.simulator.testing`. Shell: ``upstreamkit simulate``.
"""

from __future__ import annotations

from upstreamkit.simulator.dns import DNSResponder
from upstreamkit.simulator.faults import Fault, FaultKind, expected_kind
from upstreamkit.simulator.ledger import Ledger, LedgerEntry
from upstreamkit.simulator.limits import ServerLimits
from upstreamkit.simulator.scenario import (
    AuthConfig,
    FieldRule,
    Phase,
    RateLimitConfig,
    RouteSpec,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from upstreamkit.simulator.server import Simulator
from upstreamkit.simulator.tls import TLSVariant, parse_tls_variant

__all__ = [
    "AuthConfig",
    "DNSResponder",
    "Fault",
    "FaultKind",
    "FieldRule",
    "Ledger",
    "LedgerEntry",
    "Phase",
    "RateLimitConfig",
    "RouteSpec",
    "Scenario",
    "ScenarioError",
    "ServerLimits",
    "Simulator",
    "TLSVariant",
    "builtin_scenarios",
    "expected_kind",
    "load_scenario",
    "parse_scenario",
    "parse_tls_variant",
]
