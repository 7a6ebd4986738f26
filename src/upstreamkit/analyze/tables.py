"""The summary tables every analysis reads: counts, never rows.

The analysis (:mod:`.analysis`) needs the events only as counts: per timestamp, per latency value, per failed
event's columns and per dimension's key. These tables hold exactly that, each row with its count ``n``, so
they can be made two ways and added together:

- from table ``events`` (:func:`tables_from_events`), which the Python reader and the regex statements fill;
- straight from one scan of an nginx access log (:mod:`.summary`), never holding a row per line.

Adding is ``INSERT`` then :func:`compact` (the same keys summed). The tables:

- ``sum_time(ts, is_request, failed, n)``;
- ``sum_latency(ms, n)``: ``coalesce(upstream_ms, duration_ms)`` of the requests that have one;
- ``sum_fail(ts, is_request, kind, endpoint, upstream, credential, gateway, client, message, n)``: the failed
  events (``failed`` is ``kind IS NOT NULL``);
- ``sum_keys(dimension, key, is_request, failed, n)``: each dimension's keys (:data:`DIMENSIONS`).
"""

# S608: table and column names are this module's constants; no value of a log line enters a statement's text.
# ruff: noqa: S608

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["DIMENSIONS", "TABLES", "compact", "create_tables", "duckdb_blend", "quantiles", "tables_from_events"]

DIMENSIONS = ("endpoint", "upstream", "credential", "gateway", "client")
TABLES: dict[str, dict[str, str]] = {
    "sum_time": {"ts": "DOUBLE", "is_request": "BOOLEAN", "failed": "BOOLEAN"},
    "sum_latency": {"ms": "DOUBLE"},
    "sum_fail": {
        "ts": "DOUBLE",
        "is_request": "BOOLEAN",
        "kind": "VARCHAR",
        **dict.fromkeys(DIMENSIONS, "VARCHAR"),
        "message": "VARCHAR",
    },
    "sum_keys": {"dimension": "VARCHAR", "key": "VARCHAR", "is_request": "BOOLEAN", "failed": "BOOLEAN"},
}
"""Each table's key columns (every table also has ``n BIGINT``, the count)."""


def create_tables(con: Any) -> None:
    """The empty summary tables (replacing any)."""
    for table, columns in TABLES.items():
        defined = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        con.execute(f"CREATE OR REPLACE TABLE {table} ({defined}, n BIGINT)")


def tables_from_events(con: Any) -> None:
    """Add table ``events`` to the summary tables."""
    con.execute("INSERT INTO sum_time SELECT ts, is_request, failed, count(*) FROM events GROUP BY ALL")
    con.execute(
        "INSERT INTO sum_latency SELECT coalesce(upstream_ms, duration_ms) AS ms, count(*) FROM events"
        " WHERE is_request AND ms IS NOT NULL GROUP BY ALL"
    )
    keys = ", ".join(TABLES["sum_fail"])
    con.execute(f"INSERT INTO sum_fail SELECT {keys}, count(*) FROM events WHERE failed GROUP BY ALL")
    for dimension in DIMENSIONS:
        con.execute(
            f"INSERT INTO sum_keys SELECT '{dimension}', {dimension}, is_request, failed, count(*) FROM events"
            f" WHERE {dimension} IS NOT NULL GROUP BY ALL"
        )


def compact(con: Any) -> None:
    """Each summary table with rows of the same keys added into one."""
    for table, columns in TABLES.items():
        keys = ", ".join(columns)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {keys}, sum(n)::BIGINT AS n FROM {table} GROUP BY ALL")


def quantiles(
    histogram: Sequence[tuple[float, int]],
    points: Sequence[float],
    blend: Callable[[float, float, float], float] | None = None,
) -> list[float | None]:
    """DuckDB's ``quantile_cont(value, points)`` over the values that ``histogram`` ((value, count), sorted
    by value) counts: between the values at ``floor`` and ``ceil`` of ``(n - 1) * point``, ``blend(lo, hi, d)``
    with ``d`` the fraction. DuckDB's own blend is ``lo * (1 - d) + hi * d`` as its compiler arranged the
    floating-point steps: :func:`duckdb_blend` has DuckDB compute it, so the figures equal the query's over every
    row on any build (tests/analyze/test_tables.py); without one, Python's is used (the same to the last bit or
    two)."""
    total = sum(count for _, count in histogram)
    if total == 0:
        return [None for _ in points]
    result: list[float | None] = []
    for point in points:
        position = (total - 1) * point
        low_index, high_index = math.floor(position), math.ceil(position)
        low, high = _value_at(histogram, low_index), _value_at(histogram, high_index)
        weight = position - low_index
        if low_index == high_index:
            result.append(low)
        else:
            result.append(blend(low, high, weight) if blend else low * (1.0 - weight) + high * weight)
    return result


def duckdb_blend(con: Any) -> Callable[[float, float, float], float]:
    """``blend`` for :func:`quantiles` computed by DuckDB itself: ``quantile_cont`` over the two values at
    ``d`` (for two values DuckDB's position is ``1 * d``: exactly ``d``)."""

    def blend(low: float, high: float, weight: float) -> float:
        row = con.execute(
            "SELECT quantile_cont(v, ?) FROM (VALUES (?), (?)) AS pair(v)", [weight, low, high]
        ).fetchone()
        return float(row[0])

    return blend


def _value_at(histogram: Sequence[tuple[float, int]], index: int) -> float:
    """The ``index``-th value (0-based) of the sorted values that ``histogram`` counts."""
    seen = 0
    for value, count in histogram:
        seen += count
        if index < seen:
            return value
    return histogram[-1][0]
