"""One nginx-family file read by DuckDB: parsed, classified and loaded into ``events`` by one statement.

DuckDB reads the file as one text column (no delimiter, no quoting; gzip too); the statement written by
:mod:`.sqlformat` turns each line into an event row and a state. The lines it leaves to Python come back as
text for :mod:`.steps`. A file DuckDB refuses (not UTF-8, a broken gzip stream) is read by Python instead, and so
is a plain file with a NUL byte (DuckDB's reader ends a line's text at a NUL; in a gzip file that goes unseen:
such a line is read up to its NUL).
"""

# S608: table names here are this module's constants and a file index; no value of a log line enters a statement.
# ruff: noqa: S608

from __future__ import annotations

import io
import mmap
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.analyze.sqlformat import SqlFormat, State

if TYPE_CHECKING:
    import duckdb

    from upstreamkit.analyze.engine import FileStats, Progress

__all__ = ["read_with_sql"]

_GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_POLL_S = 0.2
FETCH = 2048


def _has_nul(path: str) -> bool:
    """Whether the (plain) file holds a NUL byte: DuckDB's reader ends a line's text there, Python's does not."""
    with open(path, "rb") as handle:  # noqa: PTH123 - mapped, searched at memchr speed
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(b"\x00") >= 0


def _source(path: str, *, gzip: bool) -> str:
    compression = "gzip" if gzip else "none"
    quoted = path.replace("'", "''")
    return (
        f"read_csv('{quoted}', columns = {{'line': 'VARCHAR'}}, header = false, auto_detect = false, delim = '',"
        f" quote = '', escape = '', new_line = '\\n', strict_mode = false, compression = '{compression}')"
    )


def _run(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    parameters: dict[str, object],
    watch: Progress | None,
    path: str,
    size: int,
) -> None:
    if watch is None:
        con.execute(sql, parameters)
        return
    # DuckDB tracks progress only with its bar on; it must not print its own (ours is on stderr, rich)
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    failure: list[BaseException] = []

    def work() -> None:
        try:
            con.execute(sql, parameters)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="upstreamkit-analyze-sql", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(PROGRESS_POLL_S)
        done = con.query_progress()
        if done >= 0:
            watch(path, int(size * min(done, 100.0) / 100.0), size)
    if failure:
        raise failure[0]
    watch(path, size, size)


def read_with_sql(
    con: duckdb.DuckDBPyConnection,
    path: str,
    plan: SqlFormat,
    stats: FileStats,
    *,
    file_index: int,
    since: float | None,
    until: float | None,
    progress: Progress | None = None,
) -> Iterator[str] | None:
    """Load ``path`` into ``events`` and count its lines into ``stats``; the lines left to Python. None
    when DuckDB cannot read the file (not UTF-8, a broken gzip stream, a line over DuckDB's limit ...): nothing
    was loaded (the statement is atomic) and the Python reader reads the whole file instead."""
    import duckdb  # noqa: PLC0415 - the analyze extra

    if any(char in path for char in "*?[{"):  # DuckDB reads a file name as a glob: another file could answer
        return None
    path = str(Path(path).resolve())  # and "s3://..." or "https://..." as a remote file: never here
    parameters: dict[str, object] = {"since": since, "until": until, "file": file_index}
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:  # noqa: PTH123 - two bytes
        gzip = handle.read(2) == _GZIP_MAGIC
    if not gzip and _has_nul(path):
        return None
    try:
        if plan.fast is not None:
            source = _source(path, gzip=gzip)
            _read_fast(con, source, plan, parameters, watch=progress, name=stats.path, size=size)
        else:
            _run(
                con,
                "INSERT INTO events " + plan.select.replace("{source}", _source(path, gzip=gzip)),
                parameters=parameters,
                watch=progress,
                path=stats.path,
                size=size,
            )
    except duckdb.Error:
        return None
    counts = dict(con.execute("SELECT state, count(*) FROM events WHERE file = ? GROUP BY 1", [file_index]).fetchall())
    parsed = counts.get(State.OK, 0) + counts.get(State.OUTSIDE, 0)
    stats.parsed += parsed
    stats.outside += counts.get(State.OUTSIDE, 0)
    stats.unparsed += counts.get(State.UNPARSED, 0)
    stats.lines += parsed + counts.get(State.UNPARSED, 0)
    return _leftovers(con, file_index, counts.get(State.PYTHON, 0))


def _read_fast(
    con: duckdb.DuckDBPyConnection,
    source: str,
    plan: SqlFormat,
    parameters: dict[str, object],
    *,
    watch: Progress | None,
    name: str,
    size: int,
) -> None:
    """The cutting statement, then the regex statement over the lines whose fields it could not cut."""
    assert plan.fast is not None  # noqa: S101 - the caller's condition
    con.execute("BEGIN TRANSACTION")  # all or nothing, as one statement is: on an error Python reads the file
    try:
        _run(
            con,
            "INSERT INTO events " + plan.fast.replace("{source}", source),
            parameters=parameters,
            watch=watch,
            path=name,
            size=size,
        )
        again = f"(SELECT line FROM events WHERE file = $file AND state = {State.RETRY})"
        con.execute("INSERT INTO events " + plan.select.replace("{source}", again), parameters)
        con.execute(f"DELETE FROM events WHERE file = $file AND state = {State.RETRY}", {"file": parameters["file"]})
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _leftovers(con: duckdb.DuckDBPyConnection, file_index: int, count: int) -> Iterator[str]:
    if count:
        cursor = con.cursor()
        cursor.execute("SELECT line FROM events WHERE file = ? AND state = ?", [file_index, State.PYTHON])
        while batch := cursor.fetchmany(FETCH):
            for (line,) in batch:
                yield from io.StringIO(line, newline="")  # split as the Python reader splits (\r, \n, \r\n)
        cursor.close()
    con.execute("DELETE FROM events WHERE file = ? AND state <> 0", [file_index])
