"""No line of any bytes crashes a reader: every format's parse and step chain return a row or None."""

from __future__ import annotations

import json
import tempfile

import duckdb
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_settings import FUZZ

from upstreamkit.analyze.engine import load_events
from upstreamkit.analyze.formats import detect_format, formats, parse_line
from upstreamkit.analyze.logformat import LogFormatError, compile_log_format
from upstreamkit.analyze.steps import COLUMNS, chain, run_chain
from upstreamkit.gateway.accesslog import FIELDS

NGINX_ERROR = (
    "2026/11/28 14:06:40 [error] 18826#18826: *2 connect() failed (111: Connection refused) while connecting to "
    'upstream, client: 127.0.0.1, server: , request: "GET /refused/v1/x HTTP/1.1", upstream: "http://127.0.0.1:59413/v1/x"'
)
COMBINED = '203.0.113.7 - - [28/Nov/2026:14:00:01 +0000] "GET /v1/x HTTP/1.1" 502 157 "-" "curl/8.5.0"'
_CHAINS = {name: chain(fmt, credential_field="$remote_user") for name, fmt in formats().items()}
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)


def _read_everywhere(line: str) -> None:
    for name, fmt in formats().items():
        fields = parse_line(line, fmt)
        if fields is not None:
            row = run_chain(_CHAINS[name], fields)
            assert row is None or len(row) == len(COLUMNS)
    detect_format([line])


@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes(data: bytes) -> None:
    _read_everywhere(data.decode("utf-8", "replace"))


@FUZZ
@given(st.text(max_size=300), st.sampled_from([NGINX_ERROR, COMBINED]), st.integers(0, 400))
def test_real_lines_with_text_spliced_in(noise: str, line: str, at: int) -> None:
    _read_everywhere(line[:at] + noise + line[at:])


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS), _SCALARS | st.lists(_SCALARS, max_size=3), max_size=len(FIELDS)))
def test_gateway_json_of_any_field_types(record: dict[str, object]) -> None:
    record.update(ts=record.get("ts", "2026-11-28T14:00:00Z"), request_id="r", upstream_ms=1, gateway="g")
    _read_everywhere(json.dumps(record))


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_a_file_of_any_lines_loads(lines: list[bytes]) -> None:
    # a fresh file per example: a function-scoped fixture would be shared by all of them
    with tempfile.NamedTemporaryFile(suffix=".log") as handle:
        handle.write(b"\n".join([COMBINED.encode(), *lines, NGINX_ERROR.encode()]))
        handle.flush()
        con = duckdb.connect()
        [stats] = load_events(con, [handle.name])
        stored = con.execute("SELECT count(*) FROM events").fetchone()
        assert stored is not None
        assert stats.parsed == stored[0]
        assert stats.parsed + stats.unparsed == stats.lines


@FUZZ
@given(
    st.text(alphabet=st.sampled_from(list('$_{}"[] -:ab1time_localmsecrequest')), max_size=80), st.text(max_size=200)
)
def test_any_log_format_string_compiles_or_says_why(text: str, line: str) -> None:
    try:
        fmt = compile_log_format(text)
    except LogFormatError:
        return
    fields = parse_line(line, fmt)
    if fields is not None:
        run_chain(chain(fmt), fields)
