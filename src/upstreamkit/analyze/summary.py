"""One nginx access log counted in one scan: the summary tables (:mod:`.tables`) with no row kept per line.

For a single plain file in an nginx-family format that DuckDB's CSV tokenizer can split (:mod:`.csvformat`),
one statement reads the file and counts its rows in ``GROUPING SETS``: per time text, per status, per latency
text, per request text, per key of each dimension, per failed row's columns, and per row that is not plainly of
the format. The values are then read from those groups by the regex statement's own expressions
(:mod:`.sqlformat`), over thousands of distinct texts instead of a million lines. The exact way
(:func:`.engine.load_events`, then :func:`.tables.tables_from_events`) gives the same tables; the tests hold
the two to the same document.

Exactness, the Python reader being the definition:

- a row's conditions on columns that are counted by their text (the time, the status, the numbers, the
  client, the upstream ...) are checked on the distinct texts; one that fails sends the whole file the exact
  way, as nginx never writes such a line;
- the other conditions (quotes, brackets, spaces in the other columns) are checked per row; a row that fails
  them, or holds a per-attempt list's extra tokens (``502, 502`` is two tokens), is rebuilt as its line and read
  by the regex statement, then by Python when that says so: what :mod:`.sqlread` does with such rows;
- the tokenizer is strict: a quote out of place is an error (its lenient mode drops what follows a closing
  quote), and so is a line over the readers' limit (``max_line_size``); a row that cannot be rebuilt as its line
  (too few tokens, an unquoted empty field where quotes belong, more tokens than the scan has columns, extra
  tokens that are not a list's), a CR (Python ends a line there) or a NUL (DuckDB ends a text there) anywhere
  in the file, and any DuckDB error: the whole file goes the exact way;
- what the tokenizer cannot tell, whether a field was quoted, is conceded as by :mod:`.csvformat`: nginx never
  writes a bare field in quotes or a quoted one bare.
"""

# S608: the SQL is written from the format definitions and this module's constants; no value of a log line
# enters a statement's text.
# ruff: noqa: S608

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.analyze.formats import MAX_LINE, LogFormat
from upstreamkit.analyze.scanplan import COLUMN, EXTRA_COLUMNS, ScanPlan, all_of, columns_of
from upstreamkit.analyze.sqlformat import (
    SqlFormat,
    credential_value,
    int_value,
    kind_of,
    number_value,
    origin,
    sql_format,
    text_value,
    time_value,
)
from upstreamkit.analyze.sqlread import holds_any, read_lines_with_sql, run_watched
from upstreamkit.analyze.tables import DIMENSIONS, compact, tables_from_events

if TYPE_CHECKING:
    import duckdb

    from upstreamkit.analyze.engine import FileStats, Progress

__all__ = ["EXTRA_COLUMNS", "summarize"]

_GZIP_MAGIC = b"\x1f\x8b"
_PRINTABLE = "'[ -~]*'"


def _plain_file(path: str) -> bool:
    """A plain (not gzip), non-empty file without CR or NUL bytes."""
    with open(path, "rb") as handle:  # noqa: PTH123 - two bytes
        if handle.read(2) in (_GZIP_MAGIC, b""):
            return False
    return not holds_any(path, (b"\r", b"\x00"))


def summarize(
    con: duckdb.DuckDBPyConnection,
    path: str,
    fmt: LogFormat | None,
    stats: FileStats,
    *,
    credential_field: str | None,
    progress: Progress | None = None,
) -> bool:
    """Add ``path`` to the summary tables and count it into ``stats``; False, with nothing added, when it must be
    read the exact way (another format, gzip, a line this way cannot read exactly: see the module docstring)."""
    import duckdb  # noqa: PLC0415 - the analyze extra

    if fmt is None or any(char in path for char in "*?[{"):
        return False
    plan = sql_format(fmt, credential_field)
    if plan is None or plan.fast is None:
        return False
    resolved = str(Path(path).resolve())
    if plan.layout is None or not _plain_file(resolved):
        return False
    scan = ScanPlan(fmt, plan.layout, dict(plan.fields), credential_field)
    try:
        return _summarize(con, scan, plan, resolved, stats, progress=progress)
    except duckdb.Error:
        return False
    finally:
        con.execute("DROP TABLE IF EXISTS upstreamkit_scan")
        con.execute("DROP TABLE IF EXISTS upstreamkit_endpoints")


def _source(path: str, columns: int) -> str:
    quoted = path.replace("'", "''")
    names = ", ".join(f"'column{index:02d}': 'VARCHAR'" for index in range(columns))
    return (
        f"read_csv('{quoted}', columns = {{{names}}}, header = false, auto_detect = false, delim = ' ',"
        " quote = '\"', escape = '\"', allow_quoted_nulls = false, new_line = '\\n', strict_mode = true,"
        f" null_padding = true, max_line_size = {MAX_LINE - 1}, compression = 'none')"
    )


def _summarize(
    con: duckdb.DuckDBPyConnection,
    scan: ScanPlan,
    plan: SqlFormat,
    path: str,
    stats: FileStats,
    *,
    progress: Progress | None,
) -> bool:
    source = _source(path, scan.layout.columns + EXTRA_COLUMNS)
    run_watched(
        con, scan.statement(source), parameters={}, watch=progress, path=stats.path, size=Path(path).stat().st_size
    )
    total = con.execute(  # the time set groups every row
        "SELECT sum(n), sum(n_retry), coalesce(bool_or(unsure), false), coalesce(bool_or(overflow), false)"
        f" FROM upstreamkit_scan WHERE g = {scan.mask('time')}"
    ).fetchone()
    if total is None or total[0] is None:
        return False
    clean, retry, unsure, overflow = total
    if unsure or overflow:
        return False
    _endpoints(con, scan)
    if not _groups_valid(con, scan):
        return False
    _insert_groups(con, scan)
    counts = _read_retry(con, scan, plan, stats) if retry else {}
    stats.lines += clean + counts.get("lines", 0)  # a blank line (spaces) is a row, not a line
    stats.parsed += clean + counts.get("parsed", 0)
    stats.unparsed += counts.get("unparsed", 0)
    return True


def _where(scan: ScanPlan, name: str, count: str = "n") -> str:
    return f"FROM upstreamkit_scan WHERE g = {scan.mask(name)} AND {count} > 0"


def _endpoints(con: duckdb.DuckDBPyConnection, scan: ScanPlan) -> None:
    """Table ``upstreamkit_endpoints``: the endpoint set's groups with their endpoints, made once (checked by
    :func:`_groups_valid`, counted by :func:`_insert_groups`); the scan table keeps the other sets."""
    if scan.target is None:
        return
    columns = ", ".join([*columns_of(scan.target), "n", "n_failed"])
    relation = scan.endpoint(f"(SELECT {columns} {_where(scan, 'endpoint')})", scan.target)
    con.execute(f"CREATE OR REPLACE TEMP TABLE upstreamkit_endpoints AS SELECT {columns}, _endpoint FROM {relation}")
    con.execute(f"DELETE FROM upstreamkit_scan WHERE g = {scan.mask('endpoint')}")  # most of its rows


def _groups_valid(con: duckdb.DuckDBPyConnection, scan: ScanPlan) -> bool:
    """Whether every counted group's texts pass the conditions the regex statement puts on them."""
    for name, conditions in _conditions(scan).items():
        if not conditions or name not in scan.per_set:
            continue
        relation = "upstreamkit_endpoints" if name == "endpoint" else f"(SELECT * {_where(scan, name)})"
        row = con.execute(f"SELECT count(*) FROM {relation} WHERE NOT {all_of(conditions)}").fetchone()
        if row is None or row[0]:
            return False
    return True


def _conditions(scan: ScanPlan) -> dict[str, list[str]]:
    """Per grouping set, the conditions on its texts."""
    conditions = {name: list(checks) for name, checks in scan.per_set.items()}
    ts, time_checks = time_value(scan.time, scan.fmt.time_format)
    conditions["time"] += [*time_checks, f"{ts} IS NOT NULL"]
    if scan.status is not None:  # three digits, as the scan's test of a failure reads them
        conditions["small"].append(f"strlen({scan.status}) = 3 AND ltrim({scan.status}, '0123456789') = ''")
    for column in ("upstream_ms", "duration_ms"):
        if column in scan.value:
            conditions["small"].append(number_value(scan.value[column], 1.0)[1])
    if scan.upstream is not None:
        conditions["small"].append(f"regexp_full_match({scan.upstream}, {_PRINTABLE})")
    if "endpoint" in conditions:
        # the request's printable check is the endpoint's: the steps read only the target of it
        conditions["endpoint"].append(f"(_endpoint IS NULL OR regexp_full_match(_endpoint, {_PRINTABLE}))")
    for column, value in scan.dimensions.items():
        conditions[column].append(f"regexp_full_match({value}, {_PRINTABLE})")
    return conditions


def _prefixed(scan: ScanPlan, expression: str) -> str:
    """``expression`` over the failed set's texts (``f_texts[2]`` for the second of :attr:`ScanPlan.failed_texts`)."""
    return COLUMN.sub(lambda match: f"f_texts[{scan.failed_texts.index(match.group(0)) + 1}]", expression)


def _dimension_value(column: str, value: str) -> str:
    if column == "upstream":
        return origin(text_value(value))
    if column == "credential":
        return credential_value(value)
    return text_value(value)


def _insert_groups(con: duckdb.DuckDBPyConnection, scan: ScanPlan) -> None:
    """The groups' counts into the summary tables, read by the regex statement's expressions."""

    def split(name: str, relation: str | None = None) -> str:
        # a group's rows as two: n - n_failed that did not fail, n_failed that did (``rows`` of each)
        source = relation or f"(SELECT * {_where(scan, name)})"
        return (
            f"(SELECT *, CASE WHEN failed THEN n_failed ELSE n - n_failed END AS rows"
            f" FROM {source}, (VALUES (false), (true)) AS split(failed))"
        )

    ts = time_value(scan.time, scan.fmt.time_format)[0]
    con.execute(
        f"INSERT INTO sum_time SELECT {ts}, true, failed, sum(rows) FROM {split('time')} WHERE rows > 0 GROUP BY ALL"
    )
    latency = [
        number_value(scan.value[column], scan.fmt.scale.get(column, 1.0))[0]
        for column in ("upstream_ms", "duration_ms")
        if column in scan.value
    ]
    if latency:
        con.execute(
            f"INSERT INTO sum_latency SELECT ms, sum(n) FROM (SELECT coalesce({', '.join(latency)}) AS ms, n"
            f" {_where(scan, 'small')}) WHERE ms IS NOT NULL GROUP BY ALL"
        )
    # each dimension's keys from its own set; the upstream's from the set it shares with the status
    keys = {column: _dimension_value(column, value) for column, value in scan.dimensions.items()}
    sets = dict.fromkeys(keys)
    if scan.upstream is not None:
        keys["upstream"], sets["upstream"] = _dimension_value("upstream", scan.upstream), "small"
    if scan.target is not None:
        con.execute(
            f"INSERT INTO sum_keys SELECT 'endpoint', _endpoint, true, failed, sum(rows)"
            f" FROM {split('endpoint', 'upstreamkit_endpoints')} WHERE _endpoint IS NOT NULL AND rows > 0 GROUP BY ALL"
        )
    for column, key in keys.items():
        source = split(sets[column] or column)
        con.execute(
            f"INSERT INTO sum_keys SELECT '{column}', {key} AS key, true, failed, sum(rows) FROM {source}"
            " WHERE key IS NOT NULL AND rows > 0 GROUP BY ALL"
        )
    kind = kind_of(int_value(_prefixed(scan, scan.status))) if scan.status else "NULL::VARCHAR"
    values = {column: _prefixed(scan, key) for column, key in keys.items()} | {"endpoint": "_endpoint"}
    dimensions = ", ".join(values.get(column, "NULL::VARCHAR") for column in DIMENSIONS)
    relation = scan.endpoint(
        f"(SELECT * {_where(scan, 'failed')} AND f_texts IS NOT NULL)", _prefixed(scan, scan.target or "NULL")
    )
    con.execute(
        f"INSERT INTO sum_fail SELECT {_prefixed(scan, ts)}, true, {kind} AS kind, {dimensions}, NULL, n"
        f" FROM {relation} WHERE kind IS NOT NULL"
    )


def _read_retry(con: duckdb.DuckDBPyConnection, scan: ScanPlan, plan: SqlFormat, stats: FileStats) -> dict[str, int]:
    """The rows that are not plainly of the format, as their lines, read the exact way; their counts."""
    from upstreamkit.analyze.engine import FileStats, create_events, load_python_lines  # noqa: PLC0415 - a cycle

    create_events(con)
    lines = f"SELECT _line AS line FROM (SELECT _line, unnest(range(n_retry)) {_where(scan, 'failed', 'n_retry')})"
    counted = FileStats(path=stats.path, format=stats.format)
    leftovers = read_lines_with_sql(con, lines, plan, counted, file_index=0)
    load_python_lines(con, leftovers, scan.fmt, counted, credential_field=scan.credential_field, file_index=0)
    tables_from_events(con)
    con.execute("DROP TABLE events")
    compact(con)
    return {"parsed": counted.parsed, "unparsed": counted.unparsed, "lines": counted.lines}
