"""The events table in DuckDB, file by file.

nginx-family files (``combined``, ``upstreaminfo``, any ``--log-format``) are parsed, classified and loaded by
DuckDB statements (:mod:`.sqlread`: the CSV tokenizer where the format allows, a regex over the line otherwise);
the lines those leave to Python, and files of the other formats, are read in a stream by the Python reader,
staged as CSV and loaded in one statement at the end. Nothing
proportional to the log's size is held in Python; stdin is spooled to a temporary file in chunks first.
"""

from __future__ import annotations

import csv
import itertools
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upstreamkit.analyze.formats import LogFormat, detect_format, formats, parse_line
from upstreamkit.analyze.sources import Source, open_lines, spool_stdin
from upstreamkit.analyze.sqlformat import sql_format
from upstreamkit.analyze.sqlread import read_with_sql
from upstreamkit.analyze.steps import COLUMNS, chain, run_chain

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "DETECT_SAMPLE",
    "FileStats",
    "Progress",
    "choose_format",
    "create_events",
    "load_events",
    "load_python_lines",
]

Progress = Callable[[str, int, "int | None"], None]
"""``progress(path, bytes_read, size)``: called every :data:`PROGRESS_EVERY` lines (size None for stdin)."""
PROGRESS_EVERY = 16_384

DETECT_SAMPLE = 50
"""Lines of each file that ``--format auto`` looks at to choose the file's format."""

_TYPES = {
    "ts": "DOUBLE",
    "status": "INTEGER",
    "upstream_status": "INTEGER",
    "failed": "BOOLEAN",
    "is_request": "BOOLEAN",
    "duration_ms": "DOUBLE",
    "upstream_ms": "DOUBLE",
    "file": "INTEGER",
}


@dataclass(slots=True)
class FileStats:
    """What one input gave: its format and its line counts."""

    path: str
    format: str | None
    lines: int = 0
    parsed: int = 0
    unparsed: int = 0
    outside: int = 0
    """Parsed lines outside ``--since``/``--until``."""


def _rows(
    stats: FileStats,
    lines: Iterator[str],
    fmt: LogFormat | None,
    steps: Any,
    *,
    since: float | None,
    until: float | None,
    tick: Callable[[], None],
) -> Iterator[tuple[Any, ...]]:
    for line in lines:
        if not line.strip():
            continue
        stats.lines += 1
        if stats.lines % PROGRESS_EVERY == 0:
            tick()
        fields = parse_line(line, fmt) if fmt is not None else None
        row = run_chain(steps, fields) if fields is not None else None
        if row is None:
            stats.unparsed += 1
            continue
        stats.parsed += 1
        ts = row[0]
        if (since is not None and ts < since) or (until is not None and ts >= until):
            stats.outside += 1
            continue
        yield row


def _silent() -> None:
    return None


def _ticker(progress: Progress | None, path: str, source: Source) -> Callable[[], None]:
    if progress is None:
        return lambda: None
    return lambda: progress(path, source.position(), source.size)


def choose_format(format_name: str, custom: LogFormat | None, head: list[str]) -> LogFormat | None:
    """``--format``'s choice; ``--log-format`` stands for nginx's access log when it is given."""
    if format_name == "auto":
        return detect_format(head, custom)
    if format_name == "nginx" and custom is not None:
        return custom
    return formats()[format_name]


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


def create_events(con: duckdb.DuckDBPyConnection) -> None:
    """An empty ``events`` table, as the loaders fill it (with the working columns ``state`` and ``line``)."""
    columns = ", ".join(f"{column} {_TYPES.get(column, 'VARCHAR')}" for column in COLUMNS)
    # while files load, a row also says what became of its line (sqlformat.State) and keeps the lines left to
    # Python; every row left at the end is an event, and the two columns go
    con.execute(f"CREATE OR REPLACE TABLE events ({columns}, state UTINYINT, line VARCHAR)")


def load_events(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[str],
    *,
    format_name: str = "auto",
    custom_format: LogFormat | None = None,
    credential_field: str | None = None,
    since: float | None = None,
    until: float | None = None,
    progress: Progress | None = None,
) -> list[FileStats]:
    """Read every file into table ``events``; the per-file counts. Raises SourceError for unreadable files.

    ``custom_format`` is ``--log-format`` compiled: tried first by ``auto``, and what ``nginx`` means. nginx-family
    files are read by DuckDB itself (:mod:`.sqlread`); the other formats, and the lines SQL leaves to Python, by
    the Python reader."""
    create_events(con)
    all_stats: list[FileStats] = []
    with tempfile.TemporaryDirectory(prefix="upstreamkit-analyze-") as scratch:
        staged = Path(scratch) / "events.csv"
        with staged.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            for index, given in enumerate(paths):
                path = spool_stdin(Path(scratch) / "stdin") if given == "-" else given
                with open_lines(path) as source:
                    lines = source.lines
                    head = list(itertools.islice(lines, DETECT_SAMPLE))
                    fmt = choose_format(format_name, custom_format, head)
                    stats = FileStats(path=given, format=fmt.name if fmt else None)
                    all_stats.append(stats)
                    steps = chain(fmt, credential_field=credential_field, file_index=index) if fmt else ()
                    plan = sql_format(fmt, credential_field) if fmt else None
                    leftovers = (
                        read_with_sql(
                            con, path, plan, stats, file_index=index, since=since, until=until, progress=progress
                        )
                        if plan is not None
                        else None
                    )
                    if leftovers is not None:
                        rows = _rows(stats, leftovers, fmt, steps, since=since, until=until, tick=_silent)
                        writer.writerows([_csv_value(value) for value in row] for row in rows)
                        continue
                    tick = _ticker(progress, given, source)
                    rows = _rows(stats, itertools.chain(head, lines), fmt, steps, since=since, until=until, tick=tick)
                    writer.writerows([_csv_value(value) for value in row] for row in rows)
                    tick()
        _insert_staged(con, staged)
    con.execute("ALTER TABLE events DROP COLUMN line")
    con.execute("ALTER TABLE events DROP COLUMN state")
    return all_stats


def _insert_staged(con: duckdb.DuckDBPyConnection, staged: Path) -> None:
    """Load the rows staged as CSV into ``events``."""
    columns = {column: _TYPES.get(column, "VARCHAR") for column in COLUMNS}
    con.execute(
        "INSERT INTO events SELECT *, 0, NULL FROM read_csv(?, header = false, delim = ',', quote = '\"',"
        " escape = '\"', columns = $columns, auto_detect = false)".replace("$columns", _struct(columns)),
        [str(staged)],
    )


def load_python_lines(
    con: duckdb.DuckDBPyConnection,
    lines: Iterator[str],
    fmt: LogFormat,
    stats: FileStats,
    *,
    credential_field: str | None,
    file_index: int,
) -> None:
    """Read ``lines`` with the Python reader into ``events`` (state 0), counting them into ``stats``."""
    steps = chain(fmt, credential_field=credential_field, file_index=file_index)
    with tempfile.TemporaryDirectory(prefix="upstreamkit-analyze-") as scratch:
        staged = Path(scratch) / "events.csv"
        with staged.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            rows = _rows(stats, lines, fmt, steps, since=None, until=None, tick=_silent)
            writer.writerows([_csv_value(value) for value in row] for row in rows)
        _insert_staged(con, staged)


def _struct(columns: dict[str, str]) -> str:
    """A DuckDB struct literal ``{'name': 'TYPE', ...}`` (names and types are this module's constants)."""
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
