"""``diagnose``: probe a failing endpoint phase by phase, rank the causes with evidence, bundle it for support.

::

    from upstreamkit.diagnose import ProbeRequest, diagnose

    report = diagnose(ProbeRequest("https://api.example.com/v1/orders", headers=(("Authorization", "Bearer ..."),)))
    report.causes[0].kind, report.causes[0].evidence

Phases (one module each in :mod:`upstreamkit.diagnose.probes`): DNS → TCP → TLS → HTTP → body → credentials →
rate limits → proxies → status page → payload. Each returns facts; the rules of
``knowledge/rules.toml`` turn facts into evidence for the knowledge base's causes, weighting their priors.
"""

from __future__ import annotations

from upstreamkit.diagnose.model import (
    PHASES,
    Cause,
    Exchange,
    PhaseResult,
    ProbeContext,
    ProbeOptions,
    ProbeRequest,
    Report,
)
from upstreamkit.diagnose.runner import diagnose

__all__ = [
    "PHASES",
    "Cause",
    "Exchange",
    "PhaseResult",
    "ProbeContext",
    "ProbeOptions",
    "ProbeRequest",
    "Report",
    "diagnose",
]
