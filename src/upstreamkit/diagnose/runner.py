"""Run the phases in order, each seeing what the earlier ones saw, then rank the causes.

A probe that raises is a bug, not a verdict on the endpoint: its phase is reported as skipped with the
error named, and the diagnosis goes on (a paged engineer still gets every other phase).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from upstreamkit.core.redact import redact_text
from upstreamkit.diagnose.model import PHASES, PhaseResult, Probe, ProbeContext, ProbeOptions, ProbeRequest, Report
from upstreamkit.diagnose.probes import load_probe
from upstreamkit.diagnose.rules import rank

__all__ = ["diagnose"]

Progress = Callable[[PhaseResult], None]


def diagnose(
    request: ProbeRequest,
    options: ProbeOptions | None = None,
    *,
    progress: Progress | None = None,
    phases: Sequence[str] = PHASES,
    probes: Mapping[str, Probe] | None = None,
) -> Report:
    """Probe ``request`` phase by phase and rank the likely causes of its failure.

    ``progress`` is called with each phase's result as soon as it is known (the CLI shows a live line).
    ``probes`` replaces phases' probe functions (tests, or a caller with its own checks).
    """
    options = options if options is not None else ProbeOptions()
    ctx = ProbeContext(request=request, options=options)
    started_wall, started = time.time(), time.perf_counter()
    results: list[PhaseResult] = []
    for name in phases:
        probe = (probes or {}).get(name) or load_probe(name)
        began = time.perf_counter()
        try:
            result = probe(ctx)
        except Exception as exc:  # noqa: BLE001 - a probe's bug must not hide the other phases
            message = redact_text(f"{type(exc).__name__}: {exc}")
            result = PhaseResult(name, "skipped", (time.perf_counter() - began) * 1000, f"probe error: {message}")
        if result.ms is None and result.status != "skipped":
            result.ms = (time.perf_counter() - began) * 1000
        ctx.results[name] = result
        ctx.facts.update(result.facts)
        results.append(result)
        if progress is not None:
            progress(result)
    causes = rank(ctx.facts)
    request_id = ctx.facts.get("http.request_id")
    return Report(
        url=request.url,
        method=request.method,
        started=started_wall,
        phases=results,
        causes=causes,
        exchanges=ctx.exchanges,
        checklist=ctx.log,
        request_id=request_id if isinstance(request_id, str) else None,
        total_ms=(time.perf_counter() - started) * 1000,
    )
