"""``analyze``: incidents, time to recover and the clusters behind them, from the logs people already have.

The chain, top to bottom: :mod:`.sources` (plain, gzip, stdin) → :mod:`.formats` (log formats as data,
detected per file) → :mod:`.steps` (one line's fields → one event row, kinds read from
:mod:`.logsignatures`) → :mod:`.engine` (the events table in DuckDB; nginx-family files are parsed by DuckDB
itself, :mod:`.sqlformat` and :mod:`.sqlread`, the same steps as SQL) → :mod:`.tables` (counts per
timestamp, latency, failed event and key; one access log alone is counted straight into them by one scan,
:mod:`.summary`) → :mod:`.analysis` (series, latency, kinds, :mod:`.incidents`, clusters, :mod:`.templates`)
→ ``--json`` or :mod:`.terminal`.

DuckDB is the ``analyze`` extra; it is imported when an analysis runs, never at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from upstreamkit._lazy import lazy_exports

if TYPE_CHECKING:
    from upstreamkit.analyze.analysis import analyze as run
    from upstreamkit.analyze.options import AnalyzeOptions, AnalyzeUsageError
    from upstreamkit.analyze.sources import SourceError
else:  # loaded on first use: `explain --log-line` reads one line with .logline and needs no analysis engine
    __getattr__, __dir__ = lazy_exports(
        globals(),
        {
            "upstreamkit.analyze.analysis": (("run", "analyze"),),
            "upstreamkit.analyze.options": ("AnalyzeOptions", "AnalyzeUsageError"),
            "upstreamkit.analyze.sources": ("SourceError",),
        },
    )

__all__ = ["AnalyzeOptions", "AnalyzeUsageError", "SourceError", "run"]
