"""One module per phase of a diagnosis, each exposing ``probe(ctx: ProbeContext) -> PhaseResult``.

The modules are looked up by phase name (:data:`upstreamkit.diagnose.model.PHASES`) and imported when a
diagnosis runs, so a probe's dependencies (dnspython, cryptography) load only when used.
"""

from __future__ import annotations

from importlib import import_module

from upstreamkit.diagnose.model import PHASES, Probe

__all__ = ["load_probe"]


def load_probe(name: str) -> Probe:
    """The probe function of phase ``name`` (one of ``PHASES``)."""
    if name not in PHASES:
        raise ValueError(f"unknown phase {name!r}; phases: {', '.join(PHASES)}")
    module = import_module(f"upstreamkit.diagnose.probes.{name}")
    probe: Probe = module.probe
    return probe
