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

from typing import TYPE_CHECKING

from upstreamkit._lazy import lazy_exports

if TYPE_CHECKING:
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
else:  # loaded on first use: every command imports a part of diagnose (cli.checks), few run a diagnosis
    __getattr__, __dir__ = lazy_exports(
        globals(),
        {
            "upstreamkit.diagnose.model": (
                "PHASES", "Cause", "Exchange", "PhaseResult", "ProbeContext", "ProbeOptions", "ProbeRequest", "Report",
            ),
            "upstreamkit.diagnose.runner": ("diagnose",),
        },
    )  # fmt: skip

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
