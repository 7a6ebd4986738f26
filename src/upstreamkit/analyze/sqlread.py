"""One nginx-family file read by DuckDB: parsed, classified and loaded into ``events``.

When the format splits on spaces with quoted fields (:mod:`.csvformat`) and the file is plain, DuckDB's CSV
tokenizer reads it into columns and one statement loads every row that fits the format; the rows that do not fit
(``RETRY``), and the rows the tokenizer rejects (taken again from the file at the places ``store_rejects`` names,
after checking those places account for every line), are read by the regex statement of :mod:`.sqlformat`.
Otherwise DuckDB reads the file as one text column (no delimiter, no quoting; gzip too) for the regex statement
alone. The lines the regex statement leaves to Python come back as text for :mod:`.steps`. A file DuckDB refuses
(not UTF-8, a broken gzip stream) is read by Python instead, and so is a plain file with a NUL byte (DuckDB's
reader ends a line's text at a NUL; in a gzip file that goes unseen: such a line is read up to its NUL).
"""

# S608: table names here are this module's constants and a file index; no value of a log line enters a statement.
# ruff: noqa: S608

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.analyze.sqlformat import SqlFormat, State

if TYPE_CHECKING:
    import duckdb

    from upstreamkit.analyze.engine import FileStats, Progress

__all__ = ["holds_any", "read_lines_with_sql", "read_with_sql", "run_watched"]

_GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_POLL_S = 0.2
FETCH = 2048
CHUNK = 1 << 22


def holds_any(path: str, needles: tuple[bytes, ...]) -> bool:
    """Whether the file holds any of the one-byte ``needles``: read in chunks into one buffer and searched at
    memchr speed (a mapped file would count in the process's memory, all 232 MB of a 1M-line log)."""
    buffer = bytearray(CHUNK)
    with open(path, "rb", buffering=0) as handle:  # noqa: PTH123 - read in chunks
        while size := handle.readinto(buffer):
            chunk = buffer if size == CHUNK else memoryview(buffer)[:size].tobytes()
            if any(chunk.find(needle) >= 0 for needle in needles):
                return True
    return False


def _has_nul(path: str) -> bool:
    """Whether the (plain) file holds a NUL byte: DuckDB's reader ends a line's text at a NUL, Python's does not."""
    return holds_any(path, (b"\x00",))


def _source(path: str, *, gzip: bool) -> str:
    compression = "gzip" if gzip else "none"
    quoted = path.replace("'", "''")
    return (
        f"read_csv('{quoted}', columns = {{'line': 'VARCHAR'}}, header = false, auto_detect = false, delim = '',"
        f" quote = '', escape = '', new_line = '\\n', strict_mode = false, compression = '{compression}')"
    )


def _csv_source(path: str, *, gzip: bool, columns: int, rejects: str) -> str:
    """The file as ``columns`` space-separated fields with ``"`` quoting; rows that do not fit go to ``rejects``."""
    compression = "gzip" if gzip else "none"
    quoted = path.replace("'", "''")
    names = ", ".join(f"'column{index:02d}': 'VARCHAR'" for index in range(columns))
    return (
        f"read_csv('{quoted}', columns = {{{names}}}, header = false, auto_detect = false, delim = ' ',"
        f" quote = '\"', escape = '\"', allow_quoted_nulls = false, new_line = '\\n', strict_mode = true,"
        " store_rejects = true,"
        f" rejects_table = '{rejects}', rejects_scan = '{rejects}_scan', compression = '{compression}')"
    )


def run_watched(
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
        expected = _lines_without_blanks(path) if plan.fast is not None and not gzip else None
        if expected is not None:
            _read_fast(con, path, plan, parameters, expected, gzip=gzip, watch=progress, name=stats.path, size=size)
        else:
            run_watched(
                con,
                "INSERT INTO events " + plan.select.replace("{source}", _source(path, gzip=gzip)),
                parameters=parameters,
                watch=progress,
                path=stats.path,
                size=size,
            )
    except duckdb.Error:
        return None
    return _counted(con, stats, file_index)


def read_lines_with_sql(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    plan: SqlFormat,
    stats: FileStats,
    *,
    file_index: int,
    since: float | None = None,
    until: float | None = None,
) -> Iterator[str]:
    """Load the lines of ``relation`` (SQL giving a ``line`` column) into ``events`` by the regex statement and
    count them into ``stats``; the lines left to Python."""
    parameters: dict[str, object] = {"since": since, "until": until, "file": file_index}
    con.execute("INSERT INTO events " + plan.select.replace("{source}", f"({relation})"), parameters)
    return _counted(con, stats, file_index)


def _counted(con: duckdb.DuckDBPyConnection, stats: FileStats, file_index: int) -> Iterator[str]:
    """Count file ``file_index``'s rows of ``events`` by state into ``stats``; its lines left to Python."""
    counts = dict(con.execute("SELECT state, count(*) FROM events WHERE file = ? GROUP BY 1", [file_index]).fetchall())
    parsed = counts.get(State.OK, 0) + counts.get(State.OUTSIDE, 0)
    stats.parsed += parsed
    stats.outside += counts.get(State.OUTSIDE, 0)
    stats.unparsed += counts.get(State.UNPARSED, 0)
    stats.lines += parsed + counts.get(State.UNPARSED, 0)
    return _leftovers(con, file_index, counts.get(State.PYTHON, 0))


def _lines_without_blanks(path: str) -> int | None:
    """The lines of a plain file (empty ones too: the tokenizer skips them, so a file with any is read the
    exact way), when it has no CR (Python ends a line there, the tokenizer does not); else None."""
    lines, previous = 0, b"\n"
    buffer = bytearray(CHUNK)  # one buffer, refilled: fresh 16 MiB chunks would each be page-faulted in
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:  # noqa: PTH123 - counted in chunks, at memchr speed
        while size := handle.readinto(buffer):
            chunk = view[:size] if size < CHUNK else buffer
            data = bytes(chunk) if size < CHUNK else buffer
            if b"\r" in data:  # Python ends a line at a CR too
                return None
            lines += data.count(b"\n")
            previous = bytes(data[-1:])
    if previous == b"\n" and lines == 0:
        return None
    return lines + (previous != b"\n")


def _read_fast(
    con: duckdb.DuckDBPyConnection,
    path: str,
    plan: SqlFormat,
    parameters: dict[str, object],
    expected: int,
    *,
    gzip: bool,
    watch: Progress | None,
    name: str,
    size: int,
) -> None:
    """The CSV tokenizer's statement, then the regex statement over the lines it left (rebuilt or rejected)."""
    assert plan.fast is not None  # noqa: S101 - the caller's condition
    rejects = f"upstreamkit_rejects_{parameters['file']}"
    try:
        source = _csv_source(path, gzip=gzip, columns=plan.csv_columns, rejects=rejects)
        run_watched(
            con,
            "INSERT INTO events " + plan.fast.replace("{source}", source),
            parameters=parameters,
            watch=watch,
            path=name,
            size=size,
        )
        # a rejected row may span lines (a quote left open): its lines are taken one by one from the file
        again = (
            f"(SELECT line FROM events WHERE file = $file AND state = {State.RETRY} UNION ALL"
            f" SELECT line FROM {rejects}_lines)"
        )
        file = {"file": parameters["file"]}
        if not _rejects_whole(con, path, rejects, expected, file):
            con.execute("DELETE FROM events WHERE file = $file", file)
            again = _source(path, gzip=gzip)
        con.execute("INSERT INTO events " + plan.select.replace("{source}", again), parameters)
        con.execute(f"DELETE FROM events WHERE file = $file AND state = {State.RETRY}", {"file": parameters["file"]})
    except Exception:
        # several statements: undo what the first ones loaded, as one failed statement would (Python then
        # reads the whole file)
        con.execute("DELETE FROM events WHERE file = $file", {"file": parameters["file"]})
        raise
    finally:
        for table in (rejects, f"{rejects}_scan", f"{rejects}_lines"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _rejects_whole(
    con: duckdb.DuckDBPyConnection, path: str, rejects: str, expected: int, file: dict[str, object]
) -> bool:
    """Copy the rejected rows' lines, read from the file at their places, into table ``{rejects}_lines``; whether
    each place is the start of a line and, with the rows read, they count every line. After an error inside
    quotes DuckDB's tokenizer may resume mid-line (a line then goes missing, a piece of it comes back as a row):
    the file is then read the exact way instead. (The file's own bytes, as DuckDB keeps at most 10,000
    characters of a rejected row.)"""
    rows = con.execute("SELECT count(*) FROM events WHERE file = $file", file).fetchone()
    accounted = rows[0] if rows else 0
    places = con.execute(  # the rejects table is temporary: this connection's own
        f"SELECT line_byte_position - 1, any_value(csv_line) FROM {rejects} GROUP BY 1 ORDER BY 1"
    ).fetchall()  # one short row per rejected row
    con.execute(f"CREATE OR REPLACE TEMP TABLE {rejects}_lines (line VARCHAR)")
    batch: list[str] = []
    end = 0
    with open(path, "rb") as handle:  # noqa: PTH123 - a few reads at known places
        for position, text in places:
            if position < end:
                return False  # two rows over the same bytes
            handle.seek(max(position - 1, 0))
            if position and handle.read(1) != b"\n":
                return False
            spanned = text.count("\n") + 1
            lines = [handle.readline() for _ in range(spanned)]
            end = handle.tell()
            accounted += spanned
            batch.extend(line.decode("utf-8", "replace").removesuffix("\n") for line in lines)
            if len(batch) >= FETCH:
                con.execute(f"INSERT INTO {rejects}_lines SELECT unnest($lines)", {"lines": batch})
                batch = []
    if batch:
        con.execute(f"INSERT INTO {rejects}_lines SELECT unnest($lines)", {"lines": batch})
    return accounted == expected


def _leftovers(con: duckdb.DuckDBPyConnection, file_index: int, count: int) -> Iterator[str]:
    if count:
        cursor = con.cursor()
        cursor.execute("SELECT line FROM events WHERE file = ? AND state = ?", [file_index, State.PYTHON])
        while batch := cursor.fetchmany(FETCH):
            for (line,) in batch:
                yield from io.StringIO(line, newline="")  # split as the Python reader splits (\r, \n, \r\n)
        cursor.close()
    con.execute("DELETE FROM events WHERE file = ? AND state <> 0", [file_index])
