"""The access log's time format and line format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from upstreamkit.gateway import accesslog
from upstreamkit.gateway.accesslog import FIELDS, AccessLog, rfc3339_ms


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (1_800_000_000.1234, "2027-01-15T08:00:00.123Z"),
        (1_800_000_000.9999, "2027-01-15T08:00:00.999Z"),
        (1_800_000_001.0, "2027-01-15T08:00:01.000Z"),
        (0.5, "1970-01-01T00:00:00.500Z"),
    ],
)
def test_rfc3339_with_milliseconds(epoch: float, text: str) -> None:
    assert rfc3339_ms(epoch) == text


def test_one_json_object_per_line(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "a.jsonl")
    record = dict.fromkeys(FIELDS)
    log.write({**record, "path": "/caf\u00e9", "status": 200})
    log.write({**record, "status": 502, "kind": "connection_refused"})
    log.close()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == [200, 502]
    assert json.loads(lines[0])["path"] == "/caf\u00e9"


def test_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    log = AccessLog("-")
    log.write({"status": 200})
    log.close()  # flushes; never closes stdout
    assert json.loads(capsys.readouterr().out) == {"status": 200}


def test_the_fast_encoder_and_the_standard_one_write_the_same_records() -> None:
    # orjson (the gateway extra) writes the lines; json is the fallback without it: both must say the same.
    record = {
        **dict.fromkeys(FIELDS),
        "path": '/caf\u00e9/\u2028\x01"q\\',
        "status": 503,
        "duration_ms": 1.234,
        "bypassed": ["retry", "breaker"],
        "attempts": 3,
    }
    fast, standard = accesslog._line(record), accesslog._line_json(record)
    assert fast.endswith(b"\n")
    assert standard.endswith(b"\n")
    assert json.loads(fast) == json.loads(standard) == record
    assert b"\n" not in fast[:-1]  # one line, whatever the path holds


def test_a_string_orjson_refuses_is_still_written() -> None:
    record = {"path": "/\ud800", "status": 200}
    assert json.loads(accesslog._line(record)) == record
