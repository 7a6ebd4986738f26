"""Run the phases in order, each seeing what the earlier ones saw, then rank the causes.

A probe that raises could not finish its check, and an unfinished check is never a pass: its phase is
``failed`` with :attr:`~upstreamkit.diagnose.model.PhaseResult.error` naming the exception's class and its
redacted message, the report is :attr:`~upstreamkit.diagnose.model.Report.incomplete`, and so never
``healthy``. The diagnosis goes on with the other phases (a paged engineer still gets every one of them);
later phases see the failed one as they see any failed phase. The same holds when ranking the causes raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from upstreamkit.diagnose._text import safe_message
from upstreamkit.diagnose.model import (
    PHASES,
    Cause,
    PhaseResult,
    Probe,
    ProbeContext,
    ProbeOptions,
    ProbeRequest,
    Report,
)
from upstreamkit.diagnose.probes import load_probe
from upstreamkit.diagnose.rules import rank

__all__ = ["describe_error", "diagnose"]

Progress = Callable[[PhaseResult], None]

_ERROR_CLIP = 300
"""Characters of an exception's message kept: enough to act on, short enough for one table cell."""


def describe_error(exc: BaseException) -> str:
    """``"ClassName: message"``, redacted, one line, at most 300 characters; never raises.

    The message is the exception's own text, which may quote hostile input (a server's body, a pasted
    command): lone surrogates are replaced, and when redaction itself fails only the class name is kept, so
    an unredacted message can never get out.
    """
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the class name
        return name
    try:
        return safe_message(f"{name}: {text}") if text.strip() else name
    except Exception:  # noqa: BLE001 - see the docstring: the class name alone is safe to show
        return name


def _unfinished(name: str, exc: BaseException, began: float) -> PhaseResult:
    error = describe_error(exc)
    elapsed = (time.perf_counter() - began) * 1000
    return PhaseResult(name, "failed", elapsed, f"could not finish the check: {error}", error=error)


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
    Never raises because a probe did (see the module docstring); raises ValueError for a phase name that is
    neither in ``PHASES`` nor in ``probes``.
    """
    unknown = [name for name in phases if name not in PHASES and name not in (probes or {})]
    if unknown:
        raise ValueError(f"unknown phase(s) {', '.join(map(repr, unknown))}; phases: {', '.join(PHASES)}")
    options = options if options is not None else ProbeOptions()
    ctx = ProbeContext(request=request, options=options)
    started_wall, started = time.time(), time.perf_counter()
    results: list[PhaseResult] = []
    for name in phases:
        began = time.perf_counter()
        try:
            probe = (probes or {}).get(name) or load_probe(name)
            result = probe(ctx)
        except Exception as exc:  # noqa: BLE001 - whatever a probe raises, its check did not finish
            result = _unfinished(name, exc, began)
            ctx.log.append(f"{name}: {result.detail}")
        if result.ms is None and result.status != "skipped":
            result.ms = (time.perf_counter() - began) * 1000
        ctx.results[name] = result
        ctx.facts.update(result.facts)
        results.append(result)
        if progress is not None:
            progress(result)
    causes = _rank(ctx, results)
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


def _rank(ctx: ProbeContext, results: list[PhaseResult]) -> list[Cause]:
    """The ranked causes; when the rules raise, none, and an unfinished ``verdict`` step says why."""
    began = time.perf_counter()
    try:
        return rank(ctx.facts)
    except Exception as exc:  # noqa: BLE001 - same promise as for a probe: unfinished, never healthy
        result = _unfinished("verdict", exc, began)
        ctx.log.append(f"verdict: {result.detail}")
        results.append(result)
        return []
