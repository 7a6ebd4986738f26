"""The summary tables' quantiles read from a histogram are DuckDB's quantile_cont over every row."""

from __future__ import annotations

import collections

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstreamkit.analyze.tables import duckdb_blend, quantiles

POINTS = (0.0, 0.5, 0.95, 0.99, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.integers(0, 60_000).map(float), st.floats(0, 1e6, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=300,
    )
)
def test_the_histogram_gives_duckdb_s_quantile_cont(values: list[float]) -> None:
    histogram = sorted(collections.Counter(values).items())
    con = duckdb.connect()
    row = con.execute("SELECT quantile_cont(v, ?) FROM (SELECT unnest(?) AS v)", [list(POINTS), values]).fetchone()
    assert row is not None
    assert quantiles(histogram, POINTS, duckdb_blend(con)) == row[0]  # equal, not close
    assert quantiles(histogram, POINTS) == pytest.approx(row[0], rel=1e-12)  # Python's own blend: to the last bits


def test_no_values_no_quantiles() -> None:
    assert quantiles([], POINTS) == [None] * len(POINTS)
