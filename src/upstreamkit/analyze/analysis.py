"""The analysis: load the events, then read the series, latency, kinds, incidents, clusters and templates.

Steps in the order they run, each one query over the events table (DuckDB does the counting; Python only
shapes results whose size is bounded by the number of buckets, keys shown or templates). The result is the
``--json`` document, whose keys are a contract (issue 14): keys may be added, never renamed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from upstreamkit.analyze.correlate import explain_requests
from upstreamkit.analyze.engine import DETECT_SAMPLE, FileStats, Progress, choose_format, load_events
from upstreamkit.analyze.incidents import Bucket, Span, failing_spans
from upstreamkit.analyze.options import AnalyzeOptions, AnalyzeUsageError, rfc3339
from upstreamkit.analyze.sources import SourceError, open_lines
from upstreamkit.analyze.summary import summarize
from upstreamkit.analyze.tables import DIMENSIONS, create_tables, duckdb_blend, quantiles, tables_from_events
from upstreamkit.analyze.templates import TemplateMiner

__all__ = ["DIMENSIONS", "MAX_BUCKETS", "analyze"]

MAX_BUCKETS = 200_000
"""More buckets than this between the first and last line is a usage error: ask for a wider ``--bucket``."""
ENGINE_SETTINGS: dict[str, str | bool | int | float | list[str]] = {
    "memory_limit": "192MB",
    "preserve_insertion_order": False,
}
"""DuckDB's settings for an analysis: a memory bound that keeps the whole process under 300 MiB on a 1M-line log
(DuckDB spills what does not fit), and rows in any order (no query here depends on it; keeping the order costs
memory and a thread)."""
CLUSTER_KEYS = 10
"""Keys shown per dimension."""
EVENT_LEAD_S = 1800.0
"""A user's event (deploy, config change) up to this long before an incident's start is near it."""
TEMPLATE_INPUT = 50_000
"""Distinct failure messages fed to the template miner (the most frequent first)."""


def analyze(
    paths: Sequence[str], options: AnalyzeOptions, progress: Progress | None = None, *, summary: bool = True
) -> dict[str, Any]:
    """Analyse the logs at ``paths``; the ``--json`` document. Raises AnalyzeUsageError, SourceError.

    ``progress`` is told how far reading has come (a progress bar on long files). ``summary=False`` reads even
    a single access log the exact way (:mod:`.engine`), not by one scan (:mod:`.summary`): the same document."""
    import duckdb  # noqa: PLC0415 - the `analyze` extra: imported when used, the other commands never pay for it

    con = duckdb.connect(":memory:", config=ENGINE_SETTINGS)
    try:
        stats = _summarized(con, paths, options, progress) if summary else None
        if stats is None:
            stats = load_events(
                con,
                paths,
                format_name=options.format,
                custom_format=options.custom_format,
                credential_field=options.credential_field,
                since=options.since,
                until=options.until,
                progress=progress,
            )
            explain_requests(con)  # an error log beside an access log gives its failed requests their cause
            create_tables(con)
            tables_from_events(con)
            con.execute("DROP TABLE events")
        return _document(con, stats, options)
    finally:
        con.close()


def _summarized(
    con: Any, paths: Sequence[str], options: AnalyzeOptions, progress: Progress | None
) -> list[FileStats] | None:
    """One nginx access log counted in one scan (:mod:`.summary`); None when the run is read the exact way:
    several files (an error log explains its access log), stdin, ``--since``/``--until``, another format."""
    if len(paths) != 1 or paths[0] == "-" or options.since is not None or options.until is not None:
        return None
    try:
        with open_lines(paths[0]) as source:
            head = list(itertools.islice(source.lines, DETECT_SAMPLE))
    except SourceError:
        return None  # the exact way says what is wrong
    fmt = choose_format(options.format, options.custom_format, head)
    stats = FileStats(path=paths[0], format=fmt.name if fmt else None)
    create_tables(con)
    if summarize(con, paths[0], fmt, stats, credential_field=options.credential_field, progress=progress):
        return [stats]
    return None


def _document(con: Any, stats: list[FileStats], options: AnalyzeOptions) -> dict[str, Any]:
    # Failures are counted on request lines when the run has any (an error log beside an access log explains
    # the failures, it does not add to them); an error log alone is counted as its failure events.
    has_requests = con.execute("SELECT coalesce(sum(n), 0) FROM sum_time WHERE is_request").fetchone()[0] > 0
    basis = "is_request" if has_requests else "NOT is_request"
    first, last = con.execute("SELECT min(ts), max(ts) FROM sum_time").fetchone()
    series = _series(con, basis, options.bucket_s, first, last) if first is not None else []
    spans = failing_spans(series) if has_requests else []
    return {
        "lines": sum(item.lines for item in stats),
        "parsed": sum(item.parsed for item in stats),
        "unparsed": sum(item.unparsed for item in stats),
        "outside_window": sum(item.outside for item in stats),
        "formats": [
            {
                "path": item.path,
                "format": item.format,
                "lines": item.lines,
                "parsed": item.parsed,
                "unparsed": item.unparsed,
            }
            for item in stats
        ],
        "window": {
            "start": rfc3339(first) if first is not None else None,
            "end": rfc3339(last) if last is not None else None,
        },
        "bucket_s": options.bucket_s,
        "series": [
            {
                "t": rfc3339(bucket.t),
                "requests": bucket.requests,
                "failures": bucket.failures,
                "rate_600": _round(bucket.rate),
            }
            for bucket in series
        ],
        "latency": _latency(con),
        "kinds": dict(
            con.execute(
                f"SELECT kind, sum(n)::BIGINT FROM sum_fail WHERE {basis} GROUP BY kind ORDER BY 2 DESC, 1"  # noqa: S608
            ).fetchall()
        ),
        "incidents": [_incident(con, basis, series, span, options) for span in spans],
        "clusters": {f"by_{dimension}": _clusters(con, basis, dimension) for dimension in DIMENSIONS},
        "templates": _templates(con),
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _series(con: Any, basis: str, bucket_s: float, first: float, last: float) -> list[Bucket]:
    start_key, end_key = math.floor(first / bucket_s), math.floor(last / bucket_s)
    if end_key - start_key + 1 > MAX_BUCKETS:
        raise AnalyzeUsageError(
            f"--bucket {bucket_s:g}s makes {end_key - start_key + 1} buckets over this log's window; use a wider one"
        )
    rows = con.execute(
        f"SELECT CAST(floor(ts / ?) AS BIGINT) AS k, coalesce(sum(n) FILTER (WHERE is_request), 0),"  # noqa: S608 - basis is a constant
        f" coalesce(sum(n) FILTER (WHERE {basis} AND failed), 0) FROM sum_time GROUP BY k",
        [bucket_s],
    ).fetchall()
    counts = {key: (int(requests), int(failures)) for key, requests, failures in rows}
    return [Bucket(key * bucket_s, *counts.get(key, (0, 0))) for key in range(start_key, end_key + 1)]


def _latency(con: Any) -> dict[str, float | None]:
    histogram = con.execute("SELECT ms, sum(n)::BIGINT FROM sum_latency GROUP BY ms ORDER BY ms").fetchall()
    values = quantiles(histogram, (0.5, 0.95, 0.99), duckdb_blend(con))
    return {name: _round(value, 3) for name, value in zip(("p50", "p95", "p99"), values, strict=True)}


def _incident(con: Any, basis: str, series: Sequence[Bucket], span: Span, options: AnalyzeOptions) -> dict[str, Any]:
    low, high = series[span.first].t, series[span.last].t + options.bucket_s
    start, end, failures = con.execute(
        f"SELECT min(ts), max(ts), coalesce(sum(n), 0)::BIGINT FROM sum_time"  # noqa: S608 - basis is a constant
        f" WHERE {basis} AND failed AND ts >= ? AND ts < ?",
        [low, high],
    ).fetchone()
    recovered = con.execute(
        "SELECT min(ts) FROM sum_time WHERE is_request AND NOT failed AND ts > ?", [end]
    ).fetchone()[0]
    kinds = dict(
        con.execute(
            f"SELECT kind, sum(n)::BIGINT FROM sum_fail WHERE {basis} AND ts >= ? AND ts < ?"  # noqa: S608
            " GROUP BY kind ORDER BY 2 DESC, 1",
            [low, high],
        ).fetchall()
    )
    top: dict[str, str | None] = {}
    for dimension in DIMENSIONS:
        row = con.execute(
            f"SELECT {dimension} FROM sum_fail WHERE {basis} AND ts >= ? AND ts < ?"  # noqa: S608
            f" AND {dimension} IS NOT NULL GROUP BY 1 ORDER BY sum(n) DESC, 1 LIMIT 1",
            [low, high],
        ).fetchone()
        top[dimension] = row[0] if row else None
    return {
        "start": rfc3339(start),
        "end": rfc3339(end),
        "peak_rate": _round(span.peak_rate),
        "failures": failures,
        "kinds": kinds,
        "time_to_recover_s": _round(recovered - start, 3) if recovered is not None else None,
        "recovered_at": rfc3339(recovered) if recovered is not None else None,
        "top": top,
        "events": [
            {"t": rfc3339(event.ts), "text": event.text, "offset_s": _round(event.ts - start, 3)}
            for event in options.user_events
            if start - EVENT_LEAD_S <= event.ts <= end
        ],
    }


def _clusters(con: Any, basis: str, dimension: str) -> list[dict[str, Any]]:
    total, failed = con.execute(
        f"SELECT coalesce(sum(n) FILTER (WHERE is_request), 0), coalesce(sum(n) FILTER (WHERE {basis} AND failed), 0)"  # noqa: S608
        " FROM sum_time"
    ).fetchone()
    overall = failed / total if total else 0.0
    rows = con.execute(
        f"SELECT key, coalesce(sum(n) FILTER (WHERE is_request), 0)::BIGINT AS requests,"  # noqa: S608
        f" coalesce(sum(n) FILTER (WHERE {basis} AND failed), 0)::BIGINT AS failures"
        " FROM sum_keys WHERE dimension = ? GROUP BY 1 HAVING failures > 0",
        [dimension],
    ).fetchall()

    def significance(row: tuple[str, int, int]) -> float:
        # failures beyond this key's share of traffic, in standard deviations of a Poisson count
        expected = row[1] * overall
        return (row[2] - expected) / math.sqrt(expected + 1.0)

    chosen = sorted(rows, key=lambda row: (-significance(row), -row[2], row[0]))[:CLUSTER_KEYS]
    kinds: dict[str, dict[str, int]] = {row[0]: {} for row in chosen}
    if chosen:
        for key, kind, count in con.execute(
            f"SELECT {dimension}, kind, sum(n)::BIGINT FROM sum_fail WHERE {basis}"  # noqa: S608
            f" AND {dimension} IN (SELECT unnest(?)) GROUP BY 1, 2 ORDER BY 3 DESC, 2",
            [list(kinds)],
        ).fetchall():
            kinds[key][kind] = count
    return [
        {
            "key": key,
            "failures": failures,
            "requests": requests,
            "rate": _round(failures / requests) if requests else None,
            "lift": _round((failures / requests) / overall, 3) if requests and overall else None,
            "kinds": kinds[key],
        }
        for key, requests, failures in chosen
    ]


def _templates(con: Any) -> list[dict[str, object]]:
    miner = TemplateMiner()
    for message, count in con.execute(
        "SELECT message, sum(n)::BIGINT FROM sum_fail WHERE message IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
        [TEMPLATE_INPUT],
    ).fetchall():
        miner.add(message, count)
    return miner.templates()
