"""Readers: real nginx error-log lines read to their cause, nginx combined and the gateway's JSON, per file
format detection, gzip and stdin, zoneless times in the local zone, credentials only as fingerprints."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from upstreamkit.analyze.engine import load_events
from upstreamkit.analyze.formats import detect_format, formats, parse_line
from upstreamkit.analyze.logsignatures import kind_of_message, log_signatures
from upstreamkit.analyze.steps import COLUMNS, chain, normalize_path, run_chain
from upstreamkit.core.redact import fingerprint
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.accesslog import FIELDS

FIXTURES = Path(__file__).parents[1] / "knowledge" / "fixtures" / "proxies"
NGINX_CASES = sorted(
    (sidecar.stem, line, json.loads(sidecar.read_text())["condition_kind"])
    for sidecar in (FIXTURES / "nginx-1.22.1").glob("*.json")
    for line in json.loads(sidecar.read_text())["error_log"]
)
COMBINED = (
    '203.0.113.7 - alice [28/Nov/2026:14:00:01 +0000] "GET /v1/orders/123?token=abc HTTP/1.1" 502 157 "-" "curl/8.5.0"'
)


def _row(line: str, name: str, **options: object) -> dict[str, object]:
    fmt = formats()[name]
    fields = parse_line(line, fmt)
    assert fields is not None, f"{name} did not parse {line!r}"
    row = run_chain(chain(fmt, **options), fields)  # type: ignore[arg-type]
    assert row is not None
    return dict(zip(COLUMNS, row, strict=True))


def test_the_captured_nginx_error_lines_are_all_here() -> None:
    # the fixtures hold the lines nginx 1.22.1 wrote for 12 failure cases: a guard against an empty glob
    assert len(NGINX_CASES) >= 12


@pytest.mark.parametrize(("case", "line", "expected"), NGINX_CASES, ids=[case for case, _, _ in NGINX_CASES])
def test_a_real_nginx_error_line_is_read_to_its_cause(case: str, line: str, expected: str) -> None:
    row = _row(line, "nginx-error")
    assert row["kind"] == expected, case
    assert row["failed"] is True
    assert row["is_request"] is False
    assert row["client"] == "127.0.0.1"
    assert str(row["endpoint"]).startswith("/")
    assert ", client:" not in str(row["message"])  # the message proper, without nginx's context fields


def test_an_nginx_error_line_names_the_upstream_origin_and_reads_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    line = next(line for case, line, _ in NGINX_CASES if case == "refused")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        utc = _row(line, "nginx-error")
        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        tokyo = _row(line, "nginx-error")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert utc["upstream"] == "http://127.0.0.1:59413"
    assert utc["ts"] == 1795874800.0  # 2026-11-28 14:06:40 read as UTC
    assert tokyo["ts"] == 1795874800.0 - 9 * 3600  # the same wall time in Tokyo is 9 hours earlier


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("no live upstreams while connecting to upstream", ErrorKind.DESTINATION_UNAVAILABLE),
        ("upstream timed out (110: Connection timed out) while connecting to upstream", ErrorKind.CONNECTION_TIMEOUT),
        ("api.example.com could not be resolved (110: Operation timed out)", ErrorKind.DNS_TIMEOUT),
        ("connect() failed (113: No route to host) while connecting to upstream", ErrorKind.DESTINATION_IP_UNROUTABLE),
        (
            "upstream sent too big header while reading response header from upstream",
            ErrorKind.HTTP_RESPONSE_HEADER_SECTION_SIZE,
        ),
        ('limiting connections by zone "addr"', ErrorKind.CONNECTION_LIMIT_REACHED),
        ('open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory)', None),
    ],
)
def test_log_signatures_read_phrases_to_kinds(message: str, kind: ErrorKind | None) -> None:
    signature = kind_of_message(message)
    assert (signature.kind if signature else None) == kind


def test_every_log_signature_has_a_source_and_a_unique_id() -> None:
    ids = [signature.id for signature in log_signatures()]
    assert len(ids) == len(set(ids))
    assert all(signature.source.startswith("https://") for signature in log_signatures())


def test_nginx_combined_line() -> None:
    row = _row(COMBINED, "nginx", credential_field="$remote_user")
    assert row["endpoint"] == "/v1/orders/{id}"  # query dropped, id masked
    assert row["method"] == "GET"
    assert row["status"] == 502
    assert row["kind"] == "upstream_outage"
    assert row["client"] == "203.0.113.7"
    assert row["credential"] == fingerprint("alice")  # never the value itself
    assert row["ts"] == 1795874401.0
    ok = _row(COMBINED.replace('" 502 ', '" 200 '), "nginx")
    assert ok["failed"] is False
    assert ok["kind"] is None
    assert ok["credential"] is None  # no --credential-field: no credential


def test_gateway_json_line_reads_every_contract_field() -> None:
    record = dict.fromkeys(FIELDS)
    record.update(
        ts="2026-11-28T14:00:00.250Z",
        path="/pay/v1/charges/ch_3NqLx8aBcDeFgHiJkLmNoPqR",
        upstream="pay",
        status=504,
        upstream_status=None,
        kind="http_response_timeout",
        error="gateway_timeout",
        duration_ms=3001.5,
        upstream_ms=3000.25,
        client="10.0.0.9",
        credential="sha256:0123abcd",
        gateway="gw-1",
        region="eu-west-1",
        request_id="r1",
    )
    row = _row(json.dumps(record), "upstreamkit")
    assert row["ts"] == 1795874400.25
    assert row["endpoint"] == "/pay/v1/charges/{id}"
    assert (row["status"], row["upstream_status"], row["kind"]) == (504, None, "http_response_timeout")
    assert (row["duration_ms"], row["upstream_ms"]) == (3001.5, 3000.25)
    assert row["credential"] == "sha256:0123abcd"  # already a fingerprint: kept
    assert row["gateway"] == "gw-1/eu-west-1"
    assert row["message"] == "gateway_timeout"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/users/42/orders/7", "/v1/users/{id}/orders/{id}"),
        ("/v1/items/3f2b8c1e-9a4d-4c7e-8f00-1234567890ab", "/v1/items/{id}"),
        ("/v1/blobs/deadbeefdeadbeef00", "/v1/blobs/{id}"),
        ("/v1/health", "/v1/health"),
        ("/v2/x?id=1#frag", "/v2/x"),
    ],
)
def test_normalize_path(path: str, expected: str) -> None:
    assert normalize_path(path) == expected


def _nginx_error_lines() -> list[str]:
    return [line for _, line, _ in NGINX_CASES]


def test_auto_detects_each_file_of_a_mixed_run(tmp_path: Path) -> None:
    access = tmp_path / "access.log.gz"
    with gzip.open(access, "wt") as out:
        out.write(COMBINED + "\nnot a log line\n" + COMBINED.replace("502", "200") + "\n")
    error = tmp_path / "error.log"
    error.write_text("\n".join(_nginx_error_lines()) + "\n")
    con = duckdb.connect()
    stats = load_events(con, [str(access), str(error)])
    assert [(item.format, item.lines, item.parsed, item.unparsed) for item in stats] == [
        ("nginx", 3, 2, 1),
        ("nginx-error", len(NGINX_CASES), len(NGINX_CASES), 0),
    ]
    counts = dict(con.execute("SELECT file, count(*) FROM events GROUP BY 1").fetchall())
    assert counts == {0: 2, 1: len(NGINX_CASES)}


def test_stdin_is_read_as_a_stream(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = tmp_path / "in.log"
    source.write_bytes(gzip.compress((COMBINED + "\n").encode() * 3))
    with source.open("rb") as handle:
        monkeypatch.setattr("sys.stdin", _Stdin(handle))
        con = duckdb.connect()
        stats = load_events(con, ["-"])
    assert (stats[0].format, stats[0].parsed) == ("nginx", 3)


class _Stdin:
    """sys.stdin's shape: a text stream whose ``buffer`` is the bytes."""

    def __init__(self, buffer: object) -> None:
        self.buffer = buffer


def test_detection_finds_no_format_in_prose() -> None:
    assert detect_format(["hello world", "", "nothing to see"]) is None


def test_an_unknown_file_counts_every_line_unparsed(tmp_path: Path) -> None:
    prose = tmp_path / "notes.txt"
    prose.write_text("one\ntwo\n\nthree\n")
    stats = load_events(duckdb.connect(), [str(prose)])
    assert (stats[0].format, stats[0].lines, stats[0].unparsed) == (None, 3, 3)


def _lines(count: int) -> Iterator[str]:
    for second in range(count):
        yield COMBINED.replace("14:00:01", f"14:00:{second:02d}")


def test_since_and_until_keep_the_window(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("\n".join(_lines(10)) + "\n")
    con = duckdb.connect()
    stats = load_events(con, [str(log)], since=1795874402.0, until=1795874405.0)
    assert stats[0].outside == 7
    assert con.execute("SELECT min(ts), max(ts) FROM events").fetchone() == (1795874402.0, 1795874404.0)


# What each captured HAProxy 2.6.12 httplog line says, read from its termination state and status. Where the
# line is less precise than the condition that caused it, the table says what the line gives: HAProxy logs a
# failed TLS handshake and a name that did not resolve as SC, a reset before headers as SH, and a 200 when it
# did not verify the certificate.
HAPROXY_EXPECTED = {
    "close-before-headers": "http_response_incomplete",
    "dns-nxdomain": "connection_refused",
    "garbage-response": "http_protocol_error",
    "limit-req": "rate_limited",
    "refused": "connection_refused",
    "reset-before-headers": "http_response_incomplete",
    "reset-mid-body": "http_response_incomplete",
    "timeout": "http_response_timeout",
    "tls-expired": "connection_refused",
    "tls-hostname-mismatch": None,
    "tls-plain-port": "connection_refused",
    "tls-untrusted": "connection_refused",
    "truncated-body": "http_response_incomplete",
    "upstream-502": "upstream_outage",
    "upstream-600": "upstream_600",
}
HAPROXY_CASES = sorted(
    (sidecar.stem, json.loads(sidecar.read_text())["error_log"][-1])  # "refused" first logs the probe's BADREQ
    for sidecar in (FIXTURES / "haproxy-2.6.12").glob("*.json")
)


def test_every_captured_haproxy_case_has_an_expectation() -> None:
    assert {case for case, _ in HAPROXY_CASES} == set(HAPROXY_EXPECTED)


@pytest.mark.parametrize(("case", "line"), HAPROXY_CASES, ids=[case for case, _ in HAPROXY_CASES])
def test_a_real_haproxy_line_is_read_from_its_termination_state(case: str, line: str) -> None:
    assert detect_format([line]) is formats()["haproxy"]
    row = _row(line, "haproxy")
    assert row["kind"] == HAPROXY_EXPECTED[case]
    assert row["failed"] is (HAPROXY_EXPECTED[case] is not None)
    assert row["is_request"] is True
    assert row["client"] == "127.0.0.1"
    assert str(row["endpoint"]).startswith("/")


def test_haproxy_timers_and_syslog_prefix() -> None:
    line = (
        "Nov 28 14:07:47 edge-1 haproxy[4242]: 10.1.2.3:47092 [28/Nov/2026:14:07:47.365] fe api/s1 "
        '0/0/1/-1/1002 504 198 - - sH-- 1/1/0/0/0 0/0 {api.example.com} "GET /v1/orders/9 HTTP/1.1"'
    )
    row = _row(line, "haproxy")
    assert (row["kind"], row["status"], row["upstream"], row["client"]) == (
        "http_response_timeout",
        504,
        "api",
        "10.1.2.3",
    )
    assert (row["upstream_ms"], row["duration_ms"]) == (None, 1002.0)  # -1: no response came
    assert row["endpoint"] == "/v1/orders/{id}"


CADDY_CASES = sorted(
    (sidecar.stem, tuple(sidecar_data["error_log"]), sidecar_data["condition_kind"])
    for sidecar in (FIXTURES / "caddy-2.6.2").glob("*.json")
    if (sidecar_data := json.loads(sidecar.read_text()))["error_log"]
)


def test_the_captured_caddy_cases_are_all_here() -> None:
    assert len(CADDY_CASES) >= 12


@pytest.mark.parametrize(("case", "lines", "expected"), CADDY_CASES, ids=[case for case, _, _ in CADDY_CASES])
def test_a_real_caddy_error_log_is_read_to_its_cause(case: str, lines: tuple[str, ...], expected: str) -> None:
    assert detect_format(lines) is formats()["caddy"]
    rows = [_row(line, "caddy") for line in lines]
    # Caddy writes one line per failure, or two (reverse_proxy's own, then the error): the cause is among them
    assert expected in {row["kind"] for row in rows}, case
    assert all(row["is_request"] is False for row in rows)  # error-log lines are events, not traffic


def test_a_caddy_access_line_is_a_request() -> None:
    line = json.dumps(
        {
            "level": "error",
            "ts": 1795874840.5,
            "logger": "http.log.access.log0",
            "msg": "handled request",
            "request": {"remote_ip": "10.0.0.5", "method": "POST", "uri": "/v1/pay/42?x=1"},
            "duration": 0.25,
            "status": 502,
        }
    )
    row = _row(line, "caddy")
    assert (row["is_request"], row["ts"], row["duration_ms"], row["status"]) == (True, 1795874840.5, 250.0, 502)
    assert (row["endpoint"], row["method"], row["client"], row["kind"]) == (
        "/v1/pay/{id}",
        "POST",
        "10.0.0.5",
        "upstream_outage",
    )


# Envoy lines in the default format, before 1.19 and after (with RESPONSE_CODE_DETAILS and the transport failure
# reason, and more fields at the end). Written from Envoy's documentation, not captured from a running Envoy.
ENVOY_OLD = (
    '[2026-11-28T14:00:00.123Z] "GET /v1/orders/7 HTTP/1.1" {status} {flags} 0 91 3001 - "10.0.0.1" "curl/8" '
    '"abc-123" "api.example.com" "10.1.2.3:8080"'
)
ENVOY_NEW = (
    '[2026-11-28T14:00:00.123Z] "GET /v1/orders/7 HTTP/1.1" {status} {flags} upstream_reset_before_response_started'
    '{{connection_failure}} - "delayed_connect_error:_111" 0 91 3001 - "-" "curl/8" "abc" "api" "10.1.2.3:8080" '
    "outbound|80||api 10.0.0.2:41234 10.0.0.2:80 10.0.0.9:5555 - default"
)


@pytest.mark.parametrize("template", [ENVOY_OLD, ENVOY_NEW])
@pytest.mark.parametrize(
    ("status", "flags", "kind"),
    [
        (503, "UF,URX", "connection_refused"),
        (503, "URX", "upstream_outage"),
        (503, "UH", "destination_unavailable"),
        (504, "UT", "http_response_timeout"),
        (503, "UO", "connection_limit_reached"),
        (404, "NR", "proxy_configuration_error"),
        (429, "RL", "rate_limited"),
        (503, "UC", "connection_terminated"),
        (502, "-", "upstream_outage"),  # no flag: the upstream's own 502
        (200, "-", None),
        (0, "DC", None),  # the client went away: not an upstream failure
    ],
)
def test_envoy_response_flags(template: str, status: int, flags: str, kind: str | None) -> None:
    line = template.format(status=status, flags=flags)
    assert detect_format([line]) is formats()["envoy"]
    row = _row(line, "envoy")
    assert (row["kind"], row["status"], row["upstream"]) == (kind, status, "10.1.2.3:8080")
    assert (row["ts"], row["duration_ms"], row["endpoint"]) == (1795874400.123, 3001.0, "/v1/orders/{id}")


# The entry of AWS's documentation (an HTTP entry), and the same request when the target never answered:
# processing times -1, target_status_code "-".
ALB_OK = (
    "http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 "
    '0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" '
    '"10.0.0.1:80" "200" "-" "-"'
)
ALB_FAILED = (
    ALB_OK.replace("0.000 0.001 0.000 200 200", "0.001 -1 -1 502 -")
    .replace("http://www.example.com:80/", "http://www.example.com:80/v1/orders/42?x=1")
    .replace('"forward" "-" "-"', '"forward" "-" "TargetConnectionError"')
)


def test_alb_lines() -> None:
    assert detect_format([ALB_OK, ALB_FAILED]) is formats()["alb"]
    ok = _row(ALB_OK, "alb")
    assert (ok["status"], ok["upstream_status"], ok["kind"], ok["upstream_ms"]) == (200, 200, None, 1.0)
    assert (ok["endpoint"], ok["client"], ok["upstream"]) == ("/", "192.168.131.39", "10.0.0.1:80")
    assert ok["gateway"] == "app/my-loadbalancer/50dc6c495c0c9188"
    assert ok["ts"] == 1530570180.186641
    failed = _row(ALB_FAILED, "alb")
    assert (failed["status"], failed["upstream_status"], failed["upstream_ms"]) == (502, None, None)
    assert (failed["kind"], failed["endpoint"], failed["message"]) == (
        "upstream_outage",
        "/v1/orders/{id}",
        "TargetConnectionError",
    )


def test_progress_is_reported_in_file_bytes(tmp_path: Path) -> None:
    # the Python reader (here: the nginx error log) reports every 16,384 lines and at the end
    log = tmp_path / "error.log"
    log.write_text(("\n".join(_nginx_error_lines()) + "\n") * 3000)  # 36,000 lines or more
    seen: list[tuple[str, int, int | None]] = []
    load_events(duckdb.connect(), [str(log)], progress=lambda path, done, size: seen.append((path, done, size)))
    size = log.stat().st_size
    assert len(seen) == 3
    assert all(path == str(log) and total == size for path, _, total in seen)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)
    assert seen[-1][1] == size


def test_progress_of_a_file_read_by_duckdb_ends_at_its_size(tmp_path: Path) -> None:
    # an nginx access log is read by DuckDB, whose progress is polled while the statement runs: how many reports
    # depends on the machine's speed, their order and the last one do not
    log = tmp_path / "long.log"
    log.write_text(("\n".join(_lines(60)) + "\n") * 600)
    seen: list[tuple[str, int, int | None]] = []
    load_events(duckdb.connect(), [str(log)], progress=lambda path, done, size: seen.append((path, done, size)))
    size = log.stat().st_size
    assert seen
    assert all(path == str(log) and total == size for path, _, total in seen)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)
    assert seen[-1][1] == size
