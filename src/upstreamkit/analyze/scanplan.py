"""The summary scan's statement for one format (:mod:`.summary` runs it and reads its groups).

:class:`ScanPlan` turns a format's CSV layout (:mod:`.csvformat`) into one ``CREATE TABLE ... AS SELECT ... GROUP BY
GROUPING SETS`` over DuckDB's ``read_csv``: which texts each grouping set keeps, which of the format's conditions
are checked per row and which on the distinct texts of a set, and how a row that is not plainly of the format is
rebuilt as its line. Each grouping set is one more pass over DuckDB's copy of the rows, so the sets are few.
"""

# S608: the SQL is written from the format definitions and this module's constants; no value of a log line
# enters a statement's text.
# ruff: noqa: S608

from __future__ import annotations

import re
from dataclasses import dataclass

from upstreamkit.analyze.csvformat import CsvLayout
from upstreamkit.analyze.formats import LogFormat
from upstreamkit.analyze.sqlformat import normalized_path, status_ranges, text_value

__all__ = ["COLUMN", "EXTRA_COLUMNS", "ScanPlan", "all_of", "columns_of"]

EXTRA_COLUMNS = 16
"""Columns past the format's for the tokens of per-attempt lists (``502, 502`` is two tokens: ingress-nginx's
four lists of four attempts make twelve more); a row that fills the last of them may have had more, which the
tokenizer drops: the file then goes the exact way."""
COLUMN = re.compile(r"\bcolumn\d\d\b")


def columns_of(expression: str) -> list[str]:
    """The CSV columns an expression reads, in order, once each."""
    return list(dict.fromkeys(COLUMN.findall(expression)))


def all_of(conditions: list[str]) -> str:
    """SQL: every condition holds (NULL, a missing column, counts as not)."""
    return "coalesce(" + " AND ".join(conditions) + ", false)" if conditions else "true"


@dataclass(frozen=True, slots=True)
class GroupingSet:
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


def latencycolumns_of(scan: ScanPlan) -> list[str]:
    """The CSV columns of the latency fields (not a failed row's: the failed set does not need them)."""
    fields = [scan.value[column] for column in ("upstream_ms", "duration_ms") if column in scan.value]
    return [column for value in fields for column in columns_of(value)]


class ScanPlan:
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
        small = [*(columns_of(self.status) if self.status else []), *(c for v in latency for c in columns_of(v))]
        small += columns_of(self.dimensions.pop("upstream")) if "upstream" in self.dimensions else []
        sets = [
            GroupingSet("time", tuple(columns_of(self.time))),
            GroupingSet("small", tuple(dict.fromkeys(small))),
            GroupingSet("endpoint", tuple(columns_of(self.target)) if self.target else ()),
            *(GroupingSet(column, tuple(columns_of(value))) for column, value in self.dimensions.items()),
        ]
        failed_keys = dict.fromkeys(key for item in sets for key in item.keys if key not in latencycolumns_of(self))
        # a failed row's texts in one list (NULL for the other rows: one column, not one per text, in DuckDB's
        # copy of the rows that GROUPING SETS makes)
        sets.append(GroupingSet("failed", ("f_texts", "_line")))
        self.sets = [item for item in sets if item.keys]
        self.failed_texts = list(failed_keys)
        self.keys = list(dict.fromkeys(key for item in self.sets for key in item.keys))
        # a condition is checked on the distinct texts when every column it reads is a key of one set
        self.per_row: list[str] = []
        self.per_set: dict[str, list[str]] = {item.name: [] for item in self.sets}
        read_in_part = {layout.fields[fields[column]] for column in ("request", "method") if column in fields}
        for check in (*layout.checks, *layout.texts):
            used = set(columns_of(check))
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
        tests = [
            f"{status} = '{low:03d}'" if low == high else f"{status} BETWEEN '{low:03d}' AND '{high:03d}'"
            for low, high, _ in status_ranges(by_kind=False)
        ]
        return "coalesce(" + " OR ".join(tests) + ", false)"

    def statement(self, source: str) -> str:
        """The scan: ``CREATE TABLE upstreamkit_scan AS`` the groups of ``source`` (the CSV columns)."""
        layout = self.layout
        last, extra = f"column{layout.columns - 1:02d}", f"column{layout.columns:02d}"
        quoted = columns_of(" ".join(part for part in layout.line.split(" || ' ' || ") if part.startswith("'\"'")))
        extras = [f"column{index:02d}" for index in range(layout.columns, layout.columns + EXTRA_COLUMNS)]
        clean = all_of([*self.per_row, f"{last} IS NOT NULL", f"{extra} IS NULL"])
        # A row rebuilt as its line must be the line (the tokenizer is strict: a quote out of place is an error,
        # and the file goes the exact way): every quoted column read (an unquoted empty field is NULL), all the
        # format's columns there, and extra tokens only from per-attempt lists: every column before the first
        # list passes its checks (the same tokens as a row without lists), and no quoted column after it.
        before = [
            check
            for check in (*layout.checks, *layout.texts)
            if all(int(column[6:]) < layout.list_start for column in columns_of(check))
        ]
        lists = all_of(before) if layout.lists_last else "false"
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
                f" CASE WHEN _clean THEN false ELSE NOT {all_of(faithful)} END AS _unsure,"
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
