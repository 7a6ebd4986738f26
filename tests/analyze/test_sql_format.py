"""The SQL reader (nginx-family logs parsed by DuckDB) and the Python reader agree on every field of every line,
malformed lines included: the same counts, the same events, whichever reader took which line."""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_settings import FUZZ

from upstreamkit.analyze import engine, sqlread
from upstreamkit.analyze.engine import FileStats, load_events
from upstreamkit.analyze.formats import LogFormat, formats
from upstreamkit.analyze.logformat import compile_log_format
from upstreamkit.analyze.re2dialect import printable_re2
from upstreamkit.analyze.sqlformat import sql_format

SPLICES = settings(FUZZ, max_examples=max(FUZZ.max_examples // 6, 20))
"""Each example loads a file twice (DuckDB, Python): a sixth of the hostile suite's examples."""

COMBINED = (
    '203.0.113.7 - alice [28/Nov/2026:14:00:01 +0000] "GET /v1/orders/123?token=abc HTTP/1.1" 502 157 "-" "curl/8"'
)
UPSTREAMINFO = (
    '192.168.1.10 - bob [28/Nov/2026:14:00:01 +0000] "GET /v1/orders/12 HTTP/1.1" 502 157 "-" "curl/8" 85 '
    "3.004 [default-api-80] [] 10.0.0.1:8080, 10.0.0.2:8080 0, 0 3.001, 0.002 504, 502 5f3c1b2a"
)
CUSTOM_FORMAT = (
    '$msec $remote_addr "$request_method $request_uri" $status $request_time "$http_x_api_key" $upstream_addr '
    "$upstream_status $hostname"
)
CUSTOM = '1795874401.250 10.0.0.7 "POST /v1/a/1?x=2" 504 0.250 "key-abc" 10.1.1.1:80, 10.1.1.2:80 502, 504 gw-1'
ISO_FORMAT = '$time_iso8601 $remote_addr "$request" $status $upstream_response_time $upstream_addr'
ISO = '2026-11-28T14:00:01+01:00 10.0.0.8 "GET https://api.example.com/v1/x/99 HTTP/2.0" 503 - http://10.2.0.1:80/p'

# Each base line with the ways real and broken logs differ from it: other statuses and times, nginx's "-",
# lists, escapes, odd numbers and dates, bytes that are not printable ASCII, truncation, noise.
VARIANTS: tuple[tuple[str, str], ...] = (
    ("", ""),
    (" 502 ", " 200 "),
    (" 502 ", " 429 "),
    (" 502 ", " 401 "),
    (" 502 ", " 999 "),
    (" 502 ", " 5021 "),
    (" 502 ", " - "),
    ("+0000", "+0530"),
    ("+0000", "-1100"),
    ("+0000", "+2400"),
    ("28/Nov", "31/Nov"),
    ("28/Nov", "29/Feb"),
    ("28/Nov", "1/Nov"),
    ("28/Nov", "28/nov"),
    ("14:00:01", "24:00:01"),
    ("14:00:01", "14:00:60"),
    ("2026", "0000"),
    ("3.004", "1e3"),
    ("3.004", ".5"),
    ("3.004", "-"),
    ("3.001, 0.002", "0.002 : 0.003"),
    ("504, 502", "504 : 502"),
    ("504, 502", "-"),
    ("0.250", "inf"),
    ("0.250", "00.250"),
    ("1795874401.250", "1795874401"),
    ("1795874401.250", "99999999999"),
    ("1795874401.250", "-"),
    ("+01:00", "Z"),
    ("+01:00", "+01:00:00"),
    ("GET ", "GET  "),
    ("GET ", ""),
    ("/v1/orders/12", "/v1/orders/12/34/56/78"),
    ("/v1/orders/123", "/v1/orders/3f2b8c1e-9a4d-4c7e-8f00-1234567890ab/deadbeefdeadbeef00/x"),
    ("/v1/orders/123", "/v1/" + "a" * 30 + "/" + "b" * 24),
    ("/v1/orders/12", "http://h:80/v1/orders/12#frag"),
    ("/v1/x/99", "/v1/x/99?a=1"),
    ("https://api.example.com", "https://api.example.com:443"),
    ("GET", 'G\\"ET'),
    ('"curl/8"', '"curl/8 \\x22quoted\\x22"'),
    ('"curl/8"', '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"'),
    ('"curl/8"', '"caf\u00e9 \u2603"'),
    ('"curl/8"', '"tab\there"'),
    ('"curl/8"', '"bell\x07"'),
    ("alice", "sha256:0123abcd"),
    ("alice", "-"),
    ("bob", "b\u00f6b"),
    ("key-abc", ""),
    ("key-abc", "sha256:" + "f" * 40),
    ("10.0.0.1:8080, 10.0.0.2:8080", ", ".join(f"10.0.0.{n}:80" for n in range(40))),
    ("gw-1", "gw-1 trailing words"),
    ("5f3c1b2a", "5f3c1b2a and more"),
    ("5f3c1b2a", "5f3c\u00e9"),
    ("[", "("),
    ("]", ""),
    ("HTTP", "\u00a0HTTP"),
    ("192.168.1.10", " 192.168.1.10"),
    ("203.0.113.7", "   "),
)
NOISE = ("", "   ", "\t", "garbage", "-", "\u00e9\u00e9", "{}", "a" * 70_000)


def _custom(text: str) -> LogFormat:
    return compile_log_format(text)


SQL_FORMATS: dict[str, tuple[LogFormat, str, str | None]] = {
    "nginx": (formats()["nginx"], COMBINED, "$remote_user"),
    "nginx-upstreaminfo": (formats()["nginx-upstreaminfo"], UPSTREAMINFO, "$remote_user"),
    "custom": (_custom(CUSTOM_FORMAT), CUSTOM, "$http_x_api_key"),
    "iso": (_custom(ISO_FORMAT), ISO, None),
}


def _lines(base: str) -> Iterator[str]:
    for old, new in VARIANTS:
        if old in base:
            yield base.replace(old, new, 1)
            yield base.replace(old, new, 1)[: len(base) // 2]  # cut short
    yield from NOISE


def _load(
    path: Path, fmt: LogFormat, credential: str | None, *, sql: bool, expect_sql: bool = True, **options: Any
) -> tuple[Any, ...]:
    """The counts and events of one file: ``sql`` lets DuckDB read it (which it must, unless ``expect_sql`` is
    False), otherwise the Python reader reads it all."""
    name = "nginx" if fmt.name in {"nginx", "nginx-log-format"} else fmt.name
    custom = fmt if fmt.name == "nginx-log-format" else None
    con = duckdb.connect()
    original, reader = engine.sql_format, engine.read_with_sql
    by_sql: list[bool] = []

    def read(*args: Any, **kwargs: Any) -> Any:
        leftovers = reader(*args, **kwargs)
        by_sql.append(leftovers is not None)
        return leftovers

    engine.read_with_sql = read  # type: ignore[assignment]
    if not sql:
        engine.sql_format = lambda *_args, **_kwargs: None  # type: ignore[assignment]
    try:
        [stats] = load_events(
            con, [str(path)], format_name=name, custom_format=custom, credential_field=credential, **options
        )
    finally:
        engine.sql_format, engine.read_with_sql = original, reader
    assert by_sql == ([expect_sql] if sql else [])
    rows = con.execute("SELECT * FROM events").fetchall()
    return _counts(stats), sorted(rows, key=repr)


def _counts(stats: FileStats) -> tuple[int, int, int, int]:
    return (stats.lines, stats.parsed, stats.unparsed, stats.outside)


def _same(path: Path, fmt: LogFormat, credential: str | None, **options: Any) -> tuple[Any, ...]:
    by_sql = _load(path, fmt, credential, sql=True, **options)
    options.pop("expect_sql", None)
    by_python = _load(path, fmt, credential, sql=False, **options)
    assert by_sql[0] == by_python[0]
    for got, expected in zip(by_sql[1], by_python[1], strict=True):
        assert got == expected
    return by_sql


@pytest.mark.parametrize("name", list(SQL_FORMATS))
def test_every_nginx_family_format_has_a_sql_reader(name: str) -> None:
    fmt, _, credential = SQL_FORMATS[name]
    assert sql_format(fmt, credential) is not None


@pytest.mark.parametrize("name", ["upstreamkit", "nginx-error", "haproxy", "envoy", "alb", "caddy"])
def test_other_formats_stay_with_python(name: str) -> None:
    assert sql_format(formats()[name]) is None


@pytest.mark.parametrize("name", list(SQL_FORMATS))
def test_sql_and_python_agree_on_every_line(name: str, tmp_path: Path) -> None:
    fmt, base, credential = SQL_FORMATS[name]
    lines = list(_lines(base))
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (lines_read, parsed, unparsed, _), rows = _same(path, fmt, credential)
    assert lines_read == sum(bool(line.strip()) for line in lines)
    assert parsed >= 5  # the base line and several variants are read
    assert unparsed > 0  # and the noise is counted, never fatal
    assert len(rows) == parsed


@pytest.mark.parametrize("name", list(SQL_FORMATS))
def test_a_clean_log_is_read_by_sql_alone(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fmt, base, credential = SQL_FORMATS[name]
    path = tmp_path / "access.log"
    path.write_text((base + "\n") * 50 + "not a line\n", encoding="utf-8")
    python_lines: list[str] = []
    original = engine._rows  # the Python reader's row loop, observed

    def watched(stats: FileStats, lines: Iterator[str], *args: Any, **kwargs: Any) -> Iterator[tuple[Any, ...]]:
        seen = list(lines)
        python_lines.extend(seen)
        return original(stats, iter(seen), *args, **kwargs)

    monkeypatch.setattr(engine, "_rows", watched)
    (lines_read, parsed, unparsed, _), _rows = _load(path, fmt, credential, sql=True)
    assert (lines_read, parsed, unparsed) == (51, 50, 1)
    assert python_lines == []  # every line, the unparsable one too, was decided in SQL


def test_the_window_and_gzip_and_crlf_agree(tmp_path: Path) -> None:
    fmt, base, credential = SQL_FORMATS["nginx-upstreaminfo"]
    lines = [base.replace("14:00:01", f"14:00:{second:02d}") for second in range(10)]
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n\r\n").encode()))
    (lines_read, parsed, _, outside), rows = _same(path, fmt, credential, since=1795874402.0, until=1795874405.0)
    assert (lines_read, parsed, outside, len(rows)) == (10, 10, 7, 3)


@pytest.mark.parametrize(
    ("odd", "counts"),
    [
        (b"\xff\xfe broken \x80", (3, 2, 1)),  # not UTF-8: DuckDB refuses the file
        (b"a NUL \x00 byte", (3, 2, 1)),  # DuckDB's reader would cut the line at the NUL
        (COMBINED.replace("curl/8", "c\x00url").encode(), (3, 3, 0)),
    ],
)
def test_a_file_duckdb_cannot_read_as_python_does_is_read_by_python(
    odd: bytes, counts: tuple[int, int, int], tmp_path: Path
) -> None:
    fmt, base, credential = SQL_FORMATS["nginx"]
    path = tmp_path / "access.log"
    path.write_bytes((base + "\n").encode() + odd + b"\n" + (base + "\r\n").encode())
    (lines_read, parsed, unparsed, _), _rows = _same(path, fmt, credential, expect_sql=False)
    assert (lines_read, parsed, unparsed) == counts


def test_lone_carriage_returns_split_lines_as_python_does(tmp_path: Path) -> None:
    fmt, base, credential = SQL_FORMATS["nginx"]
    path = tmp_path / "access.log"
    path.write_bytes(f"{base}\r{base}\r\r\n\n{base}".encode())
    (lines_read, parsed, _, _), _rows = _same(path, fmt, credential)
    assert (lines_read, parsed) == (3, 3)


def test_a_file_name_duckdb_would_read_as_a_glob_is_read_by_python(tmp_path: Path) -> None:
    fmt, base, credential = SQL_FORMATS["nginx"]
    (tmp_path / "access-1.log").write_text("garbage\n" * 5)  # what "access-?.log" would match as a glob
    path = tmp_path / "access-?.log"
    path.write_text(base + "\n")
    (lines_read, parsed, _, _), _rows = _same(path, fmt, credential, expect_sql=False)
    assert (lines_read, parsed) == (1, 1)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?P<a>[^ ]*) ", r"(?P<a>[\x21-\x7e]*) "),
        (r"\[(?P<t>[^\]]+)\]", r"[\x5b](?P<t>[\x20-\x5c\x5e-\x7e]+)[\x5d]"),
        (r"(?P<n>[0-9]{3})", r"(?P<n>[\x30-\x39]{3})"),
        (r"(?P<rest>.*)", r"(?P<rest>[\x20-\x7e]*)"),
        (r"(?=a)", None),
        (r"(?P<a>\d+)", None),
        (r"(?P<a>x)(?P=a)", None),
    ],
)
def test_printable_re2(pattern: str, expected: str | None) -> None:
    assert printable_re2(pattern) == expected


@SPLICES
@given(
    st.sampled_from(list(SQL_FORMATS)),
    # any text a UTF-8 file can hold, NUL aside (such a file is read by Python: see above)
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40),
    st.integers(0, 260),
)
def test_any_text_spliced_into_a_line_is_read_alike(name: str, noise: str, at: int) -> None:
    fmt, base, credential = SQL_FORMATS[name]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "access.log"
        path.write_text(base + "\n" + base[:at] + noise + base[at:] + "\n", encoding="utf-8")
        _same(path, fmt, credential)


def _watch_rejects(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What the check of the tokenizer's rejects answers, per file (False: the file went the regex way)."""
    whole: list[bool] = []
    original = sqlread._rejects_whole

    def watched(*args: Any) -> bool:
        whole.append(original(*args))
        return whole[-1]

    monkeypatch.setattr(sqlread, "_rejects_whole", watched)
    return whole


@pytest.mark.parametrize("name", ["nginx", "nginx-upstreaminfo", "iso"])
def test_the_csv_tokenizer_reads_what_it_can_and_agrees(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines whose quotes pair up: DuckDB's CSV tokenizer reads the file, its rejects (lists, other column counts,
    noise) and the rows that do not fit go the exact way, and every count and event is the Python reader's."""
    fmt, base, credential = SQL_FORMATS[name]
    lines = [line for line in _lines(base) if line.count('"') % 2 == 0 and '\\"' not in line and line.strip()]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert sql_format(fmt, credential).fast is not None  # type: ignore[union-attr]
    whole = _watch_rejects(monkeypatch)
    (lines_read, parsed, unparsed, _), rows = _same(path, fmt, credential)
    assert whole == [True]  # the tokenizer's path, not the fallback
    assert (lines_read, len(rows)) == (len(lines), parsed)
    assert parsed >= 5
    assert unparsed > 0


@pytest.mark.parametrize("name", ["nginx", "nginx-upstreaminfo"])
def test_a_tokenizer_that_loses_its_place_sends_the_file_the_exact_way(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every variant, broken quotes included: DuckDB's tokenizer resumes mid-line after some of them (a line goes
    missing, a piece of it comes back as a row), the check sees it and the regex way reads the file."""
    fmt, base, credential = SQL_FORMATS[name]
    lines = [line for line in _lines(base) if line.strip() and len(line) < 10_000]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole = _watch_rejects(monkeypatch)
    (lines_read, parsed, unparsed, _), _rows = _same(path, fmt, credential)
    assert (lines_read, parsed + unparsed) == (len(lines), len(lines))
    assert whole == [False]
