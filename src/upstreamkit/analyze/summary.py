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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.analyze.csvformat import CsvLayout, csv_layout
from upstreamkit.analyze.formats import MAX_LINE, LogFormat
from upstreamkit.analyze.sqlformat import (
    SqlFormat,
    credential_value,
    int_value,
    kind_of,
    normalized_path,
    number_value,
    origin,
    sql_format,
    text_fields,
    text_value,
    time_value,
)
from upstreamkit.analyze.sqlread import holds_any, read_lines_with_sql, run_watched
from upstreamkit.analyze.steps import status_kinds
from upstreamkit.analyze.tables import DIMENSIONS, compact, tables_from_events

if TYPE_CHECKING:
    import duckdb

    from upstreamkit.analyze.engine import FileStats, Progress

__all__ = ["EXTRA_COLUMNS", "summarize"]

EXTRA_COLUMNS = 16
"""Columns past the format's for the tokens of per-attempt lists (``502, 502`` is two tokens: ingress-nginx's
four lists of four attempts make twelve more); a row that fills the last of them may have had more, which the
tokenizer drops: the file then goes the exact way."""
_COLUMN = re.compile(r"\bcolumn\d\d\b")
_GZIP_MAGIC = b"\x1f\x8b"
_PRINTABLE = "'[ -~]*'"


def _columns(expression: str) -> list[str]:
    """The CSV columns an expression reads, in order, once each."""
    return list(dict.fromkeys(_COLUMN.findall(expression)))


def _and(conditions: list[str]) -> str:
    return "coalesce(" + " AND ".join(conditions) + ", false)" if conditions else "true"


def _plain_file(path: str) -> bool:
    """A plain (not gzip), non-empty file without CR or NUL bytes."""
    with open(path, "rb") as handle:  # noqa: PTH123 - two bytes
        if handle.read(2) in (_GZIP_MAGIC, b""):
            return False
    return not holds_any(path, (b"\r", b"\x00"))


@dataclass(frozen=True, slots=True)
class _Set:
    """One grouping set: its name and key columns (names in the scan's relation)."""

    name: str
    keys: tuple[str, ...]


def _layers(source: str, layers: list[str]) -> str:
    """Each SELECT reads the one before it (``{prev}``), the first ``source``: a value computed in one layer is
    computed once (an expression written inside another is evaluated as many times as it is written)."""
    query = source
    for layer in layers:
        query = f"({layer.replace('{prev}', query)})"
    return query


def latency_columns(scan: _Plan) -> list[str]:
    """The CSV columns of the latency fields (not a failed row's: the failed set does not need them)."""
    fields = [scan.value[column] for column in ("upstream_ms", "duration_ms") if column in scan.value]
    return [column for value in fields for column in _columns(value)]


class _Plan:
    """The scan statement of one format and the queries that read its groups."""

    def __init__(self, fmt: LogFormat, layout: CsvLayout, fields: dict[str, str], credential_field: str | None) -> None:
        self.fmt, self.layout, self.credential_field = fmt, layout, credential_field
        self.value = {column: layout.fields[name] for column, name in fields.items() if name in layout.fields}
        self.status = self.value.get("status")
        self.time = layout.fields[fmt.time_field]
        self.dimensions = {
            column: self.value[column]
            for column in ("upstream", "credential", "gateway", "client")
            if column in self.value
        }
        self.target = self.value.get("endpoint", self.value.get("request"))
        latency = [self.value[column] for column in ("upstream_ms", "duration_ms") if column in self.value]
        # Each grouping set is one more pass over DuckDB's copy of the rows: the status, the latency texts and the
        # upstream share one (an upstream's latencies are its own: a few thousand groups, not their product); the
        # failed rows and the rows read again share another (each is NULL where the other is not).
        small = [*(_columns(self.status) if self.status else []), *(c for v in latency for c in _columns(v))]
        small += _columns(self.dimensions.pop("upstream")) if "upstream" in self.dimensions else []
        self.small_upstream = "upstream" in self.value
        sets = [
            _Set("time", tuple(_columns(self.time))),
            _Set("small", tuple(dict.fromkeys(small))),
            _Set("endpoint", tuple(_columns(self.target)) if self.target else ()),
            *(_Set(column, tuple(_columns(value))) for column, value in self.dimensions.items()),
        ]
        failed_keys = dict.fromkeys(key for item in sets for key in item.keys if key not in latency_columns(self))
        # a failed row's texts in one list (NULL for the other rows: one column, not one per text, in DuckDB's
        # copy of the rows that GROUPING SETS makes)
        sets.append(_Set("failed", ("f_texts", "_line")))
        self.sets = [item for item in sets if item.keys]
        self.failed_texts = list(failed_keys)
        self.keys = list(dict.fromkeys(key for item in self.sets for key in item.keys))
        # a condition is checked on the distinct texts when every column it reads is a key of one set
        self.per_row: list[str] = []
        self.per_set: dict[str, list[str]] = {item.name: [] for item in self.sets}
        read_in_part = {layout.fields[fields[column]] for column in ("request", "method") if column in fields}
        for check in (*layout.checks, *layout.texts):
            used = set(_columns(check))
            home = next((item.name for item in self.sets[:-1] if used <= set(item.keys)), None)
            if home is not None:
                self.per_set[home].append(check)
            elif check not in layout.texts or not any(f"({value}," in check for value in read_in_part):
                self.per_row.append(check)
            # else: the printable check of the request (or method), which the steps read only the target of:
            # the endpoint made of it is checked instead (_conditions)

    @property
    def upstream(self) -> str | None:
        """The upstream field's value over the CSV columns (counted in the ``small`` set)."""
        return self.value.get("upstream")

    def failed(self, status: str | None) -> str:
        """Whether the status text ``status`` (three digits: checked on the distinct texts) is a failure's:
        the status ranges of steps.status_kinds compared as text, no number made per row."""
        if status is None:
            return "false"
        ranges: list[list[int]] = []
        for code in sorted(status_kinds()):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
        tests = [
            f"{status} = '{low:03d}'" if low == high else f"{status} BETWEEN '{low:03d}' AND '{high:03d}'"
            for low, high in ranges
        ]
        return "coalesce(" + " OR ".join(tests) + ", false)"

    def statement(self, source: str) -> str:
        """The scan: ``CREATE TABLE upstreamkit_scan AS`` the groups of ``source`` (the CSV columns)."""
        layout = self.layout
        last, extra = f"column{layout.columns - 1:02d}", f"column{layout.columns:02d}"
        quoted = _columns(" ".join(part for part in layout.line.split(" || ' ' || ") if part.startswith("'\"'")))
        extras = [f"column{index:02d}" for index in range(layout.columns, layout.columns + EXTRA_COLUMNS)]
        clean = _and([*self.per_row, f"{last} IS NOT NULL", f"{extra} IS NULL"])
        # A row rebuilt as its line must be the line (the tokenizer is strict: a quote out of place is an error,
        # and the file goes the exact way): every quoted column read (an unquoted empty field is NULL), all the
        # format's columns there, and extra tokens only from per-attempt lists: every column before the first
        # list passes its checks (the same tokens as a row without lists), and no quoted column after it.
        before = [
            check
            for check in (*layout.checks, *layout.texts)
            if all(int(column[6:]) < layout.list_start for column in _columns(check))
        ]
        lists = _and(before) if layout.lists_last else "false"
        faithful = [f"{column} IS NOT NULL" for column in [*quoted, last]]
        faithful.append(f"({extra} IS NULL OR {lists})")
        line = f"concat_ws(' ', {layout.line}, {', '.join(extras)})"
        layers = [
            (
                f"SELECT {', '.join(layout.names + extras)}, {clean} AS _clean,"
                f" {self.failed(self.status)} AS _failed FROM {{prev}}"
            ),
            (
                f"SELECT *, CASE WHEN _clean AND _failed THEN [{', '.join(self.failed_texts)}] END AS f_texts,"
                f" CASE WHEN NOT _clean THEN {line} END AS _line,"
                f" CASE WHEN _clean THEN false ELSE NOT {_and(faithful)} END AS _unsure,"
                f" {extras[-1]} IS NOT NULL AS _overflow FROM {{prev}}"
            ),
        ]
        grouping = ", ".join("(" + ", ".join(item.keys) + ")" for item in self.sets)
        return (
            f"CREATE OR REPLACE TEMP TABLE upstreamkit_scan AS SELECT GROUPING({', '.join(self.keys)}) AS g,"
            f" {', '.join(self.keys)}, count(*) FILTER (WHERE _clean) AS n,"
            " count(*) FILTER (WHERE _clean AND _failed) AS n_failed, count(*) FILTER (WHERE NOT _clean)"
            " AS n_retry, count(*) AS n_rows, bool_or(_unsure) AS unsure, bool_or(_overflow) AS overflow"
            f" FROM {_layers(source, layers)} GROUP BY GROUPING SETS ({grouping})"
        )

    def endpoint(self, relation: str, target: str) -> str:
        """``relation`` with column ``_endpoint``: steps' endpoint of the request (or endpoint) text ``target``.

        steps.request_line: the request's text, its first two words (split on " "), the target's path when
        absolute; a request of one word, "" or "-" has none. A format with an endpoint field gives it as is."""
        if self.target is None:
            return f"(SELECT *, NULL::VARCHAR AS _endpoint FROM {relation})"
        if "endpoint" in self.value:
            layers = [f"SELECT *, {target} AS _whole FROM {{prev}}"]
        else:
            rest = "substr(_request, strpos(_request, ' ') + 1)"
            word = f"CASE WHEN strpos({rest}, ' ') > 0 THEN left({rest}, strpos({rest}, ' ') - 1) ELSE {rest} END"
            after = "substr(_target, strpos(_target, '://') + 3)"
            path = f"CASE WHEN strpos({after}, '/') > 0 THEN substr({after}, strpos({after}, '/') + 1) ELSE '' END"
            layers = [
                f"SELECT *, {text_value(target)} AS _request FROM {{prev}}",
                f"SELECT *, CASE WHEN strpos(_request, ' ') > 0 THEN {word} END AS _target FROM {{prev}}",
                (
                    f"SELECT *, CASE WHEN strpos(_target, '://') > 0 THEN '/' || {path} ELSE _target END AS _whole"
                    " FROM {prev}"
                ),
            ]
        layers += [
            f"SELECT *, {text_value('_whole')} AS _path FROM {{prev}}",
            f"SELECT *, {normalized_path('_path')} AS _endpoint FROM {{prev}}",
        ]
        return _layers(relation, layers)

    def mask(self, name: str) -> int:
        """The GROUPING() value of set ``name``: a bit per key, set where the key is not grouped."""
        item = next(item for item in self.sets if item.name == name)
        width = len(self.keys)
        return sum(1 << (width - 1 - index) for index, key in enumerate(self.keys) if key not in item.keys)


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
    fields = dict(fmt.fields)
    if credential_field:
        fields["credential"] = credential_field.lstrip("$")
    layout = csv_layout(fmt, text_fields(fields))
    resolved = str(Path(path).resolve())
    if layout is None or not _plain_file(resolved):
        return False
    scan = _Plan(fmt, layout, fields, credential_field)
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
    scan: _Plan,
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
    if unsure or overflow or not _groups_valid(con, scan):
        return False
    _insert_groups(con, scan)
    counts = _read_retry(con, scan, plan, stats) if retry else {}
    stats.lines += clean + counts.get("lines", 0)  # a blank line (spaces) is a row, not a line
    stats.parsed += clean + counts.get("parsed", 0)
    stats.unparsed += counts.get("unparsed", 0)
    return True


def _where(scan: _Plan, name: str, count: str = "n") -> str:
    return f"FROM upstreamkit_scan WHERE g = {scan.mask(name)} AND {count} > 0"


def _groups_valid(con: duckdb.DuckDBPyConnection, scan: _Plan) -> bool:
    """Whether every counted group's texts pass the conditions the regex statement puts on them."""
    if scan.target is not None:  # the endpoints, made once: checked here, counted by _insert_groups
        columns = ", ".join([*_columns(scan.target), "n", "n_failed"])
        relation = scan.endpoint(f"(SELECT {columns} {_where(scan, 'endpoint')})", scan.target)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE upstreamkit_endpoints AS SELECT {columns}, _endpoint FROM {relation}"
        )
        con.execute(f"DELETE FROM upstreamkit_scan WHERE g = {scan.mask('endpoint')}")  # most of its rows
    for name, conditions in _conditions(scan).items():
        if not conditions or name not in scan.per_set:
            continue
        relation = "upstreamkit_endpoints" if name == "endpoint" else f"(SELECT * {_where(scan, name)})"
        row = con.execute(f"SELECT count(*) FROM {relation} WHERE NOT {_and(conditions)}").fetchone()
        if row is None or row[0]:
            return False
    return True


def _conditions(scan: _Plan) -> dict[str, list[str]]:
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


def _prefixed(scan: _Plan, expression: str) -> str:
    """``expression`` over the failed set's texts (``f_texts[2]`` for the second of :attr:`_Plan.failed_texts`)."""
    return _COLUMN.sub(lambda match: f"f_texts[{scan.failed_texts.index(match.group(0)) + 1}]", expression)


def _dimension_value(column: str, value: str) -> str:
    if column == "upstream":
        return origin(text_value(value))
    if column == "credential":
        return credential_value(value)
    return text_value(value)


def _insert_groups(con: duckdb.DuckDBPyConnection, scan: _Plan) -> None:
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
    keys = {column: _dimension_value(column, value) for column, value in scan.dimensions.items()}
    if scan.upstream is not None:
        key = _dimension_value("upstream", scan.upstream)
        con.execute(
            f"INSERT INTO sum_keys SELECT 'upstream', {key} AS key, true, failed, sum(rows) FROM {split('small')}"
            " WHERE key IS NOT NULL AND rows > 0 GROUP BY ALL"
        )
        keys["upstream"] = key
    insert = {column: key for column, key in keys.items() if column != "upstream"}
    if scan.target is not None:
        con.execute(
            f"INSERT INTO sum_keys SELECT 'endpoint', _endpoint, true, failed, sum(rows)"
            f" FROM {split('endpoint', 'upstreamkit_endpoints')} WHERE _endpoint IS NOT NULL AND rows > 0 GROUP BY ALL"
        )
    for column, key in insert.items():
        con.execute(
            f"INSERT INTO sum_keys SELECT '{column}', {key} AS key, true, failed, sum(rows) FROM {split(column)}"
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


def _read_retry(con: duckdb.DuckDBPyConnection, scan: _Plan, plan: SqlFormat, stats: FileStats) -> dict[str, int]:
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
