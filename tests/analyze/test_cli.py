"""``upstreamkit analyze`` on the command line: the JSON contract's keys, the summary, and usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit.cli.app import app

COMBINED = '203.0.113.7 - - [28/Nov/2026:14:{minute:02d}:01 +0000] "GET /v1/orders/{n} HTTP/1.1" {status} 157 "-" "c"'
CONTRACT_KEYS = {
    "lines",
    "parsed",
    "unparsed",
    "formats",
    "window",
    "series",
    "latency",
    "kinds",
    "incidents",
    "clusters",
    "templates",
}


@pytest.fixture
def access_log(tmp_path: Path) -> Path:
    """Twenty minutes of nginx traffic with a five-minute outage (14:08-14:12) and one unparsable line."""
    lines = []
    for minute in range(20):
        for n in range(20):
            status = 502 if 8 <= minute <= 12 else 200
            lines.append(COMBINED.format(minute=minute, n=n, status=status))
    lines.append("garbage")
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["analyze", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_json_holds_the_contract(access_log: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.write_text(
        "# deploys\n2026-11-28T14:07:30Z deploy api v42 token=sk_live_abcdefghijklmnop\n"
        "2026-11-28T10:00:00Z an old change\n"
    )
    code, out, _ = _run(str(access_log), "--json", "--events", str(events))
    assert code == 0
    document = json.loads(out)
    assert set(document) >= CONTRACT_KEYS
    assert (document["lines"], document["parsed"], document["unparsed"]) == (401, 400, 1)
    assert document["window"] == {"start": "2026-11-28T14:00:01.000Z", "end": "2026-11-28T14:19:01.000Z"}
    assert len(document["series"]) == 20
    assert set(document["series"][0]) >= {"t", "requests", "failures", "rate_600"}
    assert set(document["latency"]) == {"p50", "p95", "p99"}
    assert document["kinds"] == {"upstream_outage": 100}
    [incident] = document["incidents"]
    assert set(incident) >= {"start", "end", "peak_rate", "failures", "kinds", "time_to_recover_s", "top", "events"}
    assert (incident["start"], incident["end"]) == ("2026-11-28T14:08:01.000Z", "2026-11-28T14:12:01.000Z")
    assert incident["time_to_recover_s"] == 300.0  # first 502 at 14:08:01, first 200 after at 14:13:01
    assert set(incident["top"]) == {"endpoint", "upstream", "credential", "gateway", "client"}
    assert incident["top"]["endpoint"] == "/v1/orders/{id}"
    [near] = incident["events"]
    assert near["t"] == "2026-11-28T14:07:30.000Z"
    assert "sk_live_abcdefghijklmnop" not in near["text"]
    assert set(document["clusters"]) == {"by_endpoint", "by_upstream", "by_credential", "by_gateway", "by_client"}
    [client] = document["clusters"]["by_client"]
    assert set(client) >= {"key", "failures", "rate", "kinds"}
    assert (client["key"], client["failures"], client["rate"]) == ("203.0.113.7", 100, 0.25)


def test_the_summary_names_the_incident(access_log: Path) -> None:
    code, out, _ = _run(str(access_log), "--bucket", "1m")
    assert code == 0
    assert "Incidents (1)" in out
    assert "2026-11-28T14:08:01.000Z" in out


def test_stdin(access_log: Path) -> None:
    code, out, _ = _run("-", "--json", stdin=access_log.read_text())
    assert code == 0
    assert json.loads(out)["formats"][0] == {"path": "-", "format": "nginx", "lines": 401, "parsed": 400, "unparsed": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give at least one log file"),
        (["{log}", "--bucket", "0s"], "--bucket '0s'"),
        (["{log}", "--bucket", "fast"], "--bucket 'fast'"),
        (["{log}", "--format", "syslog"], "--format 'syslog' is not one of"),
        (["{log}", "--log-format", "$remote_addr $status"], "--log-format needs a time"),
        (["{log}", "--log-format", "plain text"], "--log-format has no $variable"),
        (["{log}", "--log-format", "$msec $status $status"], "names a $variable twice"),
        (["{log}", "--since", "yesterday"], "--since 'yesterday'"),
        (["{log}", "--since", "2026-11-28T15:00:00Z", "--until", "2026-11-28T14:00:00Z"], "--until must be later"),
        (["{log}", "--events", "{missing}"], "cannot be read"),
        (["{log}", "--events", "{bad_events}"], "line 1"),
        (["{missing}"], "cannot be read"),
        (["{dir}"], "is a directory"),
        (["{bad_gzip}"], "gzip stream is broken"),
        (["-", "-"], "stdin ('-') can be read once"),
        (["{log}", "--bucket", "1ms"], "use a wider one"),
        (["{log}", "--html", "{missing}/r.html"], "--html: the directory of"),
        (["{log}", "--html", "{dir}"], "--html: cannot write"),
    ],
)
def test_usage_errors_exit_2_in_one_line(access_log: Path, tmp_path: Path, args: list[str], message: str) -> None:
    bad_events = tmp_path / "events.txt"
    bad_events.write_text("not-a-time deploy\n")
    bad_gzip = tmp_path / "broken.gz"
    bad_gzip.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"not deflate at all" * 4)
    names = {
        "log": access_log,
        "missing": tmp_path / "nope.log",
        "dir": tmp_path,
        "bad_events": bad_events,
        "bad_gzip": bad_gzip,
    }
    code, out, err = _run(*(arg.format(**names) for arg in args))
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_every_contract_format_is_known() -> None:
    from upstreamkit.analyze.formats import format_names  # noqa: PLC0415
    from upstreamkit.cli.analyze import FORMATS  # noqa: PLC0415

    assert set(FORMATS) - {"auto"} <= set(format_names())


UPSTREAMINFO = (
    '192.168.1.10 - - [28/Nov/2026:14:00:01 +0000] "GET /v1/orders/12 HTTP/1.1" {status} 157 "-" "curl/8" 85 '
    "3.004 [default-api-80] [] 10.0.0.1:8080, 10.0.0.2:8080 0, 0 3.001, 0.002 504, {status} 5f3c1b2a"
)


def test_log_format_compiles_an_nginx_format_string(tmp_path: Path) -> None:
    log = tmp_path / "custom.log"
    log.write_text('1795874401.250 10.0.0.7 "GET /v1/a/1 HTTP/1.1" 504 0.250 key-abc\n')
    code, out, _ = _run(
        str(log),
        "--json",
        "--log-format",
        '$msec $remote_addr "$request" $status $request_time $http_x_api_key',
        "--credential-field",
        "$http_x_api_key",
    )
    assert code == 0
    document = json.loads(out)
    assert (document["parsed"], document["formats"][0]["format"]) == (1, "nginx-log-format")
    assert document["kinds"] == {"http_response_timeout": 1}
    assert document["latency"]["p50"] == 250.0
    [credential] = document["clusters"]["by_credential"]
    assert credential["key"].startswith("sha256:")
    assert "key-abc" not in out


def test_upstreaminfo_is_detected(tmp_path: Path) -> None:
    log = tmp_path / "ingress.log"
    log.write_text(UPSTREAMINFO.format(status=502) + "\n" + UPSTREAMINFO.format(status=200) + "\n")
    code, out, _ = _run(str(log), "--json")
    assert code == 0
    document = json.loads(out)
    assert document["formats"][0]["format"] == "nginx-upstreaminfo"
    assert document["kinds"] == {"upstream_outage": 1}
    [upstream] = document["clusters"]["by_upstream"]
    assert (upstream["key"], upstream["failures"], upstream["rate"]) == ("default-api-80", 1, 0.5)
    assert document["latency"]["p50"] == 2.0  # the last attempt's $upstream_response_time, 0.002 s
