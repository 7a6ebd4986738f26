"""Bad command lines: every user mistake is exit code 2 and exactly one line ``error: ...`` on stderr, never a
traceback, never a planted secret echoed back; typer's own usage errors (unknown options, missing values)
included. Hostile but valid inputs (deep JSON, lone surrogates in a body) never give a traceback either.

The table runs in-process (typer's CliRunner) for speed; a few rows also run through a real subprocess, where
the arguments are real bytes (a non-UTF-8 ``--body``) and stdout/stderr are real pipes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit.cli.app import app

SECRET = "sk_live_PLANTEDcli0123456789abcdef"
ARABIC_502 = "\u0665\u0660\u0662"
NOT_UTF8 = "\udcff\udcfe"  # what Python makes of the argument bytes b"\xff\xfe"
LONG_LABEL = "a" * 64


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED = f"http://127.0.0.1:{_closed_port()}/v1/items"
"""A URL nothing listens on: a row that got past the checks would fail fast, not hang."""

# Files a row may name as {key}; made in a temporary directory by the `files` fixture.
FILES: dict[str, bytes | None] = {
    "empty": b"",
    "no_status": b"Content-Type: text/plain\n\nhello",
    "arabic_status": f"HTTP/1.1 {ARABIC_502} Bad Gateway\r\n\r\n".encode(),
    "bad_header": b"HTTP/1.1 502 Bad Gateway\r\nno colon here\r\n\r\n",
    "not_json_har": b"not json {",
    "deep_har": b"[" * 100_000 + b"]" * 100_000,
    "no_entries_har": b'{"log": {"entries": []}}',
    "ipv6_har": json.dumps({"log": {"entries": [{"request": {"method": "GET", "url": "http://[::1"}}]}}).encode(),
    "surrogate_header_har": json.dumps(
        {"log": {"entries": [{"request": {"url": CLOSED, "headers": [{"name": "X-Key", "value": "\ud800"}]}}]}}
    ).encode(),
    "surrogate_body_har": json.dumps(
        {"log": {"entries": [{"request": {"method": "POST", "url": CLOSED, "postData": {"text": "\udfff"}}}]}}
    ).encode(),
    "bad_method_har": json.dumps({"log": {"entries": [{"request": {"method": "G E T", "url": CLOSED}}]}}).encode(),
    "existing": b"x",
    "directory": None,
    "body": b"{}",
}

BAD: list[tuple[str, list[str]]] = [
    # explain: numbers, text, files, headers, contradictions, typer's own errors
    ("status in Arabic-Indic digits", ["explain", "--status", ARABIC_502]),
    ("status with an underscore", ["explain", "--status", "5_02"]),
    ("status below 100", ["explain", "--status", "99"]),
    ("status above 999", ["explain", "--status", "1000"]),
    ("status a word", ["explain", "--status", "bad"]),
    ("status empty", ["explain", "--status", ""]),
    ("status a secret", ["explain", "--status", SECRET]),
    ("--now nan", ["explain", "--status", "502", "--now", "nan"]),
    ("--now inf", ["explain", "--status", "502", "--now", "inf"]),
    ("--now -inf", ["explain", "--status", "502", "--now", "-inf"]),
    ("--now overflowing", ["explain", "--status", "502", "--now", "1e999"]),
    ("--now negative", ["explain", "--status", "502", "--now", "-5"]),
    ("--now Arabic-Indic", ["explain", "--status", "502", "--now", "\u0661\u0662"]),
    ("--now a secret", ["explain", "--status", "502", "--now", SECRET]),
    ("--body not UTF-8", ["explain", "--status", "502", "--body", NOT_UTF8]),
    ("--body-file /dev/zero", ["explain", "--status", "502", "--body-file", "/dev/zero"]),
    ("--body-file missing", ["explain", "--status", "502", "--body-file", "/no/such/body.json"]),
    ("--body-file a directory", ["explain", "--status", "502", "--body-file", "{directory}"]),
    ("--body-file empty name", ["explain", "--status", "502", "--body-file", ""]),
    ("--body and --body-file", ["explain", "--status", "502", "--body", "x", "--body-file", "{body}"]),
    ("--response and --status", ["explain", "--response", "{body}", "--status", "502"]),
    ("--response empty", ["explain", "--response", "{empty}"]),
    ("--response without status line", ["explain", "--response", "{no_status}"]),
    ("--response Arabic-Indic status", ["explain", "--response", "{arabic_status}"]),
    ("--response header without colon", ["explain", "--response", "{bad_header}"]),
    ("--response /dev/zero", ["explain", "--response", "/dev/zero"]),
    ("header without colon", ["explain", "--status", "502", "-H", "NoColon"]),
    ("header name with a space", ["explain", "--status", "502", "-H", "Bad Name: x"]),
    ("header value with a line break", ["explain", "--status", "502", "-H", "X-Id: a\r\nInjected: b"]),
    ("header with a secret, no colon", ["explain", "--status", "502", "-H", f"Authorization Bearer {SECRET}"]),
    ("explain alone", ["explain"]),
    ("explain --status without a value", ["explain", "--status"]),
    ("explain unknown option", ["explain", "--frobnicate"]),
    ("explain extra argument", ["explain", "--status", "502", SECRET]),
    # diagnose: URLs in all three options that take one
    ("URL [::1 unclosed", ["diagnose", "http://[::1"]),
    ("--status-page [::1 unclosed", ["diagnose", CLOSED, "--status-page", "http://[::1"]),
    ("--from-curl [::1 unclosed", ["diagnose", "--from-curl", "curl http://[::1"]),
    ("URL port 0", ["diagnose", "http://127.0.0.1:0/"]),
    ("URL port 70000", ["diagnose", "http://127.0.0.1:70000/"]),
    ("URL port in Arabic-Indic digits", ["diagnose", "http://127.0.0.1:\u0668\u0660/"]),
    ("URL port with a space", ["diagnose", "http://127.0.0.1: 80/"]),
    ("URL ftp", ["diagnose", "ftp://example.com/x"]),
    ("URL without scheme", ["diagnose", "example.com/x"]),
    ("URL without host", ["diagnose", "http:///x"]),
    ("URL host label over 63", ["diagnose", f"http://{LONG_LABEL}.example/"]),
    ("URL with a control character", ["diagnose", "http://exa\x01mple.test/"]),
    ("URL not UTF-8", ["diagnose", f"http://ex{NOT_UTF8}ample.test/"]),
    ("URL longer than 16 KiB", ["diagnose", "http://example.test/" + "a" * 17_000]),
    ("URL with a secret and a bad port", ["diagnose", f"http://127.0.0.1:99999/?api_key={SECRET}"]),
    ("--status-page port 0", ["diagnose", CLOSED, "--status-page", "http://127.0.0.1:0/"]),
    ("--status-page not a URL", ["diagnose", CLOSED, "--status-page", "status.example"]),
    # diagnose: methods, bodies, headers
    ("-X empty", ["diagnose", CLOSED, "-X", ""]),
    ("-X with a space", ["diagnose", CLOSED, "-X", "GE T"]),
    ("-X with a line break", ["diagnose", CLOSED, "-X", "GET\r\nX: y"]),
    ("-X not UTF-8", ["diagnose", CLOSED, "-X", NOT_UTF8]),
    ("-d not UTF-8", ["diagnose", CLOSED, "-d", NOT_UTF8]),
    ("--data-file /dev/zero", ["diagnose", CLOSED, "--data-file", "/dev/zero"]),
    ("-d @/dev/zero", ["diagnose", CLOSED, "-d", "@/dev/zero"]),
    ("--data-file missing", ["diagnose", CLOSED, "--data-file", "/no/such/file.json"]),
    ("-d and --data-file", ["diagnose", CLOSED, "-d", "{}", "--data-file", "{body}"]),
    ("-H without colon", ["diagnose", CLOSED, "-H", "no colon here"]),
    ("-H with a line break", ["diagnose", CLOSED, "-H", "X: a\nb"]),
    ("-H not UTF-8", ["diagnose", CLOSED, "-H", f"X: {NOT_UTF8}"]),
    # diagnose: numbers
    ("--repeat 0", ["diagnose", CLOSED, "--repeat", "0"]),
    ("--repeat 101", ["diagnose", CLOSED, "--repeat", "101"]),
    ("--repeat Arabic-Indic", ["diagnose", CLOSED, "--repeat", "\u0665"]),
    ("--repeat with an underscore", ["diagnose", CLOSED, "--repeat", "1_0"]),
    ("--repeat nan", ["diagnose", CLOSED, "--repeat", "nan"]),
    ("--timeout nan", ["diagnose", CLOSED, "--timeout", "nan"]),
    ("--timeout inf", ["diagnose", CLOSED, "--timeout", "inf"]),
    ("--timeout 0", ["diagnose", CLOSED, "--timeout", "0"]),
    ("--timeout -1", ["diagnose", CLOSED, "--timeout", "-1"]),
    ("--timeout 301", ["diagnose", CLOSED, "--timeout", "301"]),
    ("--timeout Arabic-Indic", ["diagnose", CLOSED, "--timeout", "\u0661"]),
    ("--har-entry a word", ["diagnose", CLOSED, "--har-entry", "x"]),
    ("--har-entry without --har", ["diagnose", CLOSED, "--har-entry", "1"]),
    # diagnose: --resolve, --dns-server, --cacert, --bundle
    ("--resolve nonsense", ["diagnose", CLOSED, "--resolve", "nonsense"]),
    ("--resolve port 0", ["diagnose", CLOSED, "--resolve", "api.test:0:127.0.0.1"]),
    ("--resolve port Arabic-Indic", ["diagnose", CLOSED, "--resolve", "api.test:\u0664\u0664\u0663:127.0.0.1"]),
    ("--resolve a name", ["diagnose", CLOSED, "--resolve", "api.test:443:not-an-ip"]),
    ("--resolve a secret", ["diagnose", CLOSED, "--resolve", SECRET]),
    ("--dns-server port 0", ["diagnose", CLOSED, "--dns-server", "127.0.0.1:0"]),
    ("--dns-server port 70000", ["diagnose", CLOSED, "--dns-server", "127.0.0.1:70000"]),
    ("--dns-server a name", ["diagnose", CLOSED, "--dns-server", "resolver.example"]),
    ("--cacert missing", ["diagnose", CLOSED, "--cacert", "/no/such/ca.pem"]),
    ("--bundle an existing file", ["diagnose", CLOSED, "--bundle", "{existing}"]),
    # diagnose: --from-curl and --har
    ("--from-curl -X empty", ["diagnose", "--from-curl", f"curl -X '' {CLOSED}"]),
    ("--from-curl -m nan", ["diagnose", "--from-curl", f"curl -m nan {CLOSED}"]),
    ("--from-curl not UTF-8", ["diagnose", "--from-curl", f"curl -H 'X: {NOT_UTF8}' {CLOSED}"]),
    ("--from-curl -d @/dev/zero", ["diagnose", "--from-curl", f"curl -d @/dev/zero {CLOSED}"]),
    ("--from-curl unclosed quote", ["diagnose", "--from-curl", f"curl '{CLOSED}"]),
    ("--from-curl unknown option", ["diagnose", "--from-curl", f"curl --frobnicate {CLOSED}"]),
    ("--from-curl secret, bad URL", ["diagnose", "--from-curl", f"curl -H 'X-Api-Key: {SECRET}' http://[::1"]),
    ("--from-curl and --har", ["diagnose", "--from-curl", f"curl {CLOSED}", "--har", "{no_entries_har}"]),
    ("--har missing", ["diagnose", "--har", "/no/such/file.har"]),
    ("--har not JSON", ["diagnose", "--har", "{not_json_har}"]),
    ("--har nested 100,000 deep", ["diagnose", "--har", "{deep_har}"]),
    ("--har without entries", ["diagnose", "--har", "{no_entries_har}"]),
    ("--har URL [::1 unclosed", ["diagnose", "--har", "{ipv6_har}"]),
    ("--har header with a lone surrogate", ["diagnose", "--har", "{surrogate_header_har}"]),
    ("--har body with a lone surrogate", ["diagnose", "--har", "{surrogate_body_har}"]),
    ("--har method with a space", ["diagnose", "--har", "{bad_method_har}"]),
    ("--isolate-payload on POST", ["diagnose", CLOSED, "-X", "POST", "-d", "{}", "--isolate-payload"]),
    ("diagnose alone", ["diagnose"]),
    ("diagnose unknown option", ["diagnose", CLOSED, "--frobnicate"]),
    ("diagnose two URLs", ["diagnose", CLOSED, CLOSED]),
    # simulate
    ("--time-scale inf", ["simulate", "--time-scale", "inf"]),
    ("--time-scale nan", ["simulate", "--time-scale", "nan"]),
    ("--time-scale -1", ["simulate", "--time-scale", "-1"]),
    ("--time-scale 0", ["simulate", "--time-scale", "0"]),
    ("--time-scale 1e9", ["simulate", "--time-scale", "1e9"]),
    ("--time-scale Arabic-Indic", ["simulate", "--time-scale", "\u0662"]),
    ("--port 70000", ["simulate", "--port", "70000"]),
    ("--port -1", ["simulate", "--port", "-1"]),
    ("--port Arabic-Indic", ["simulate", "--port", "\u0665\u0660"]),
    ("--port with an underscore", ["simulate", "--port", "86_00"]),
    ("--seed a word", ["simulate", "--seed", "x"]),
    ("--seed negative", ["simulate", "--seed", "-1"]),
    ("--seed Arabic-Indic", ["simulate", "--seed", "\u0661"]),
    ("--scenario unknown", ["simulate", "--scenario", "outgae"]),
    ("--scenario empty", ["simulate", "--scenario", ""]),
    ("--tls unknown", ["simulate", "--tls", "expird"]),
    ("--host not UTF-8", ["simulate", "--host", NOT_UTF8]),
    ("--header-timeout nan", ["simulate", "--header-timeout", "nan"]),
    ("--header-timeout 0", ["simulate", "--header-timeout", "0"]),
    ("--idle-timeout inf", ["simulate", "--idle-timeout", "inf"]),
    ("--idle-timeout -1", ["simulate", "--idle-timeout", "-1"]),
    ("simulate unknown option", ["simulate", "--frobnicate"]),
    # gateway (every row fails before anything listens)
    ("gateway --timeout inf", ["gateway", "--route", "/a=http://127.0.0.1:9", "--timeout", "inf"]),
    ("gateway --timeout nan", ["gateway", "--route", "/a=http://127.0.0.1:9", "--timeout", "nan"]),
    ("gateway --connect-timeout 0", ["gateway", "--route", "/a=http://127.0.0.1:9", "--connect-timeout", "0"]),
    ("gateway --drain-timeout -1", ["gateway", "--route", "/a=http://127.0.0.1:9", "--drain-timeout", "-1"]),
    ("gateway --port Arabic-Indic", ["gateway", "--route", "/a=http://127.0.0.1:9", "--port", "\u0665\u0660"]),
    ("gateway --admin-port 70000", ["gateway", "--route", "/a=http://127.0.0.1:9", "--admin-port", "70000"]),
    ("gateway --route [::1 unclosed", ["gateway", "--route", "/a=http://[::1"]),
    ("gateway --route port 0", ["gateway", "--route", "/a=http://127.0.0.1:0/"]),
    ("gateway --route with a secret", ["gateway", "--route", f"/a=http://127.0.0.1:99999/?api_key={SECRET}"]),
    ("gateway without a route", ["gateway"]),
    # demo and the root command
    ("--incident-seconds nan", ["demo", "--incident-seconds", "nan"]),
    ("--incident-seconds inf", ["demo", "--incident-seconds", "inf"]),
    ("--incident-seconds 1", ["demo", "--incident-seconds", "1"]),
    ("--incident-seconds 100", ["demo", "--incident-seconds", "100"]),
    ("--incident-seconds Arabic-Indic", ["demo", "--incident-seconds", "\u0663"]),
    ("demo unknown option", ["demo", "--frobnicate"]),
    ("unknown command", ["nosuchcommand"]),
    ("unknown root option", ["--frobnicate"]),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad-inputs")
    paths = {}
    for key, content in FILES.items():
        path = folder / key
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        paths[key] = str(path)
    return paths


def _args(args: list[str], files: dict[str, str]) -> list[str]:
    return [files[arg[1:-1]] if arg[:1] == "{" and arg[1:-1] in files else arg for arg in args]


def _assert_one_line_error(code: int, stdout: str, stderr: str) -> None:
    assert code == 2, (stdout, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert len(lines[0]) > len("error: ")
    assert "Traceback" not in stdout + stderr
    assert SECRET not in stdout + stderr
    assert stdout == ""


def test_the_table_has_every_command_and_enough_rows() -> None:
    commands = {args[0] for _, args in BAD}
    assert {"explain", "diagnose", "simulate", "demo", "gateway"} <= commands
    assert len(BAD) >= 60
    assert len({name for name, _ in BAD}) == len(BAD)


@pytest.mark.parametrize("args", [args for _, args in BAD], ids=[name for name, _ in BAD])
def test_a_bad_command_line_is_exit_2_and_one_line(args: list[str], files: dict[str, str]) -> None:
    result = CliRunner().invoke(app, _args(args, files))
    _assert_one_line_error(result.exit_code, result.stdout, result.stderr)


def test_stdin_over_the_size_limit_is_one_line() -> None:
    result = CliRunner().invoke(app, ["explain", "--status", "502", "--body-file", "-"], input=b"x" * (17 << 20))
    _assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert "16 MiB" in result.stderr


# --- hostile but valid: no traceback, a documented exit code ---------------------------------------------------

HOSTILE: dict[str, bytes] = {
    "deep.json": b"[" * 10_000 + b"]" * 10_000,
    "deep_object.json": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "surrogate.json": b'{"message": "bad \\ud800 gateway", "error": "x\\udfff"}',
    "surrogate_response.txt": (
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n\r\n"
        b'{"message": "bad \\ud800 gateway", "code": 600}'
    ),
    "cesu_response.txt": b"HTTP/1.1 502 Bad Gateway\r\n\r\n\xed\xa0\x80 \xff oops",
    "continue_response.txt": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n",
    "surrogate_response.har": json.dumps(
        {
            "log": {
                "entries": [
                    {
                        "request": {"method": "GET", "url": CLOSED},
                        "response": {"status": 502, "content": {"text": '{"m": "\\ud800"}'}},
                    }
                ]
            }
        }
    ).encode(),
}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["explain", "--status", "502", "--body-file", "deep.json"], 0),
        (["explain", "--status", "200", "--body-file", "deep_object.json", "--json"], 0),
        (["explain", "--status", "502", "--body-file", "surrogate.json"], 0),
        (["explain", "--response", "surrogate_response.txt"], 0),
        (["explain", "--response", "surrogate_response.txt", "--json"], 0),
        (["explain", "--response", "cesu_response.txt"], 0),
        (["explain", "--response", "continue_response.txt", "--json"], 0),
        (["diagnose", "--har", "surrogate_response.har", "--timeout", "2"], 1),
    ],
    ids=lambda value: " ".join(value[1:3]) if isinstance(value, list) else str(value),
)
def test_hostile_but_valid_input_is_answered(args: list[str], code: int, tmp_path: Path) -> None:
    for name, content in HOSTILE.items():
        (tmp_path / name).write_bytes(content)
    result = CliRunner().invoke(app, [str(tmp_path / arg) if arg in HOSTILE else arg for arg in args])
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, output  # explained (0), or a cause found (1: the closed port)
    assert result.stderr == ""
    if "--json" in args:
        json.loads(result.stdout)


def test_continue_before_the_response_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "continue.txt"
    path.write_bytes(HOSTILE["continue_response.txt"])
    result = CliRunner().invoke(app, ["explain", "--response", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == 503


# --- through a real process --------------------------------------------------------------------------------------

Run = Callable[[list[bytes]], subprocess.CompletedProcess[bytes]]


@pytest.fixture
def run_cli() -> Run:
    def run(args: list[bytes]) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
        env.pop("UPSTREAMKIT_DEBUG", None)
        return subprocess.run(
            [sys.executable, "-m", "upstreamkit", *args], capture_output=True, timeout=60, env=env, check=False
        )

    return run


@pytest.mark.parametrize(
    "args",
    [
        [b"explain", b"--status", b"502", b"--body", b"\xff\xfe"],
        [b"explain", b"--status", ARABIC_502.encode()],
        [b"explain", b"--status", b"502", b"--body-file", b"/dev/zero"],
        [b"diagnose", b"http://[::1"],
        [b"diagnose", b"http://127.0.0.1:1/", b"-X", b""],
        [b"diagnose", b"--from-curl", b"curl -H 'Authorization: Bearer " + SECRET.encode() + b"' http://[::1"],
        [b"simulate", b"--time-scale", b"inf"],
        [b"demo", b"--frobnicate"],
    ],
    ids=["non-UTF-8 body", "Arabic-Indic status", "/dev/zero", "[::1", "-X ''", "curl secret", "inf", "unknown"],
)
def test_a_bad_command_line_through_a_real_process(args: list[bytes], run_cli: Run) -> None:
    done = run_cli(args)
    _assert_one_line_error(done.returncode, done.stdout.decode(), done.stderr.decode("utf-8", "replace"))
