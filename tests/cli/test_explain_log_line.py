"""``explain --log-line``: real nginx error-log lines and HAProxy httplog lines for the failures the incident
tests do not make (no live upstreams, an upstream that closes or resets, the proxy's own rate limit), and the
option's usage errors.

The lines come from Debian's nginx and HAProxy, run here in front of the simulator (one fault per path), asked
once per path; each line must be explained with the knowledge base's signature and the kind analyze's reader
gives it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from support.cli import analyze_json, analyzer_kind, explain_line_json
from support.engines import free_port, haproxy_cfg, nginx_conf, start_haproxy, start_nginx
from upstreamkit.analyze.logline import read_log_line
from upstreamkit.cli.app import app
from upstreamkit.simulator import Simulator
from upstreamkit.simulator.scenario import parse_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "hostile"))
from hostile_profile import FUZZ

FAULTS = """
name = "one-fault-per-path"
[[phases]]
name = "faults"
start = 0
[phases.routes."/close*"]
faults = [{ kind = "close" }]
[phases.routes."/reset*"]
faults = [{ kind = "reset", at = "before" }]
"""
ASKED = ("/nolive/x", "/nolive/x", "/close", "/reset", "/limited/x", "/limited/x")
"""``/nolive`` twice: the first request marks both (closed) servers failed, the second finds none live;
``/limited`` twice: the second is over the 1 request a minute."""


@pytest.fixture(scope="module")
def nginx_errors(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("nginx-lines")
    port, closed, also_closed = free_port(), free_port(), free_port()
    with Simulator(parse_scenario(FAULTS)) as sim:
        http = f"""
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    upstream pair {{ server 127.0.0.1:{closed}; server 127.0.0.1:{also_closed}; }}
    server {{
        listen 127.0.0.1:{port};
        location /nolive/ {{ proxy_pass http://pair; }}
        location /limited/ {{ limit_req zone=one; proxy_pass http://127.0.0.1:{sim.port}/v1/; }}
        location / {{ proxy_pass http://127.0.0.1:{sim.port}; }}
    }}"""
        nginx = start_nginx(folder, nginx_conf(folder, http, error_level="error"), [port])
        with nginx, httpx.Client(base_url=nginx.url(""), timeout=5) as client:
            statuses = [client.get(path).status_code for path in ASKED]
        assert statuses == [502, 502, 502, 502, 200, 503], statuses
    return nginx.lines("error")


@pytest.fixture(scope="module")
def haproxy_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("haproxy-lines")
    port, closed = free_port(), free_port()
    with Simulator(parse_scenario(FAULTS)) as sim:
        body = f"""
frontend web
    bind 127.0.0.1:{port}
    http-request deny deny_status 429 if {{ path_beg /limited/ }}
    use_backend refused if {{ path_beg /refused/ }}
    default_backend sim
backend refused
    retries 0
    server gone 127.0.0.1:{closed}
backend sim
    server sim1 127.0.0.1:{sim.port}
"""
        haproxy = start_haproxy(folder, haproxy_cfg(body), [port])
        with haproxy:  # a connection per request: on a kept-alive one, the request after the 503 found it closed
            statuses = [
                httpx.get(haproxy.url(path), timeout=5).status_code
                for path in ("/refused/x", "/close", "/reset", "/limited/x")
            ]
        assert statuses == [503, 502, 502, 429], statuses
    return haproxy.lines("stdout")


@pytest.mark.engine
@pytest.mark.parametrize(
    ("path", "state", "signature", "kind"),
    [
        ("/refused/x", "SC", "haproxy-sc", "connection_refused"),
        ("/close", "SH", "haproxy-sh", "http_response_incomplete"),
        ("/reset", "SH", "haproxy-sh", "http_response_incomplete"),
        ("/limited/x", "PR", "haproxy-pr-429", "rate_limited"),
    ],
)
def test_real_haproxy_lines(haproxy_lines: list[str], path: str, state: str, signature: str, kind: str) -> None:
    line = next((line for line in haproxy_lines if f'"GET {path} HTTP/1.1"' in line), None)
    assert line is not None, haproxy_lines
    assert f" {state}-- " in line
    document = explain_line_json(line)
    assert (document["signature"], document["kind"]) == (signature, kind)
    assert document["kind"] == analyzer_kind(line, "haproxy")
    assert document["log_line"]["fields"]["flags"] == state


@pytest.mark.engine
@pytest.mark.parametrize(
    ("phrase", "signature", "kind"),
    [
        ("no live upstreams", "nginx-no-live-upstreams", "destination_unavailable"),
        ("prematurely closed connection while reading response header", "nginx-premature-close-header", None),
        ("(104: Connection reset by peer) while reading response header", "nginx-reset-before-header", None),
        ("limiting requests", "nginx-limiting-requests", "rate_limited"),
        ("(111: Connection refused) while connecting to upstream", "nginx-connect-refused", "connection_refused"),
    ],
)
def test_real_nginx_error_lines(nginx_errors: list[str], phrase: str, signature: str, kind: str | None) -> None:
    line = next((line for line in nginx_errors if phrase in line), None)
    assert line is not None, nginx_errors
    document = explain_line_json(line)
    assert document["signature"] == signature
    assert document["kind"] == analyzer_kind(line, "nginx-error")
    if kind is not None:
        assert document["kind"] == kind
    assert document["meaning"]
    assert document["fixes"]
    assert document["explanation"]
    assert document["log_line"]["fields"]["request"].startswith("GET /")


def _usage(*args: str, given: str | None = None) -> str:
    result = CliRunner().invoke(app, ["explain", *args], input=given)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def test_usage_errors() -> None:
    line = '127.0.0.1 - - [28/Nov/2026:16:13:41 +0000] "GET /v1/x HTTP/1.1" 502 157 "-" "curl/8"'
    assert "not a line of a log format" in _usage("--log-line", "hello world")
    assert "is empty" in _usage("--log-line", "  ")
    assert "drop --status" in _usage("--log-line", line, "--status", "502")
    assert "--log-format" in _usage("--log-line", line, "--log-format", "$remote_addr $status")
    assert "reads the line given with --log-line" in _usage("--status", "502", "--log-format", "$time_local")


def test_a_line_from_stdin(tmp_path: Path) -> None:
    line = "2026/11/28 16:13:41 [error] 81#81: *3 no live upstreams while connecting to upstream, client: 10.0.0.7"
    result = CliRunner().invoke(app, ["explain", "--log-line", "-", "--json"], input=f"\n{line}\n")
    assert result.exit_code == 0, result.output
    assert '"kind": "destination_unavailable"' in result.stdout


def test_a_secret_in_the_line_is_not_shown() -> None:
    secret = "sk_live_0123456789abcdefghij"
    line = f'10.0.0.7 - - [28/Nov/2026:16:13:41 +0000] "GET /v1/x?api_key={secret} HTTP/1.1" 502 157 "-" "curl/8"'
    result = CliRunner().invoke(app, ["explain", "--log-line", line])
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    assert "upstream_outage" in result.output


@pytest.mark.engine
def test_analyze_counts_the_kinds_explain_gives(nginx_errors: list[str], tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text("\n".join(nginx_errors) + "\n", encoding="utf-8")
    document = analyze_json(str(log))
    explained: dict[str, int] = {}
    for line in nginx_errors:
        kind = explain_line_json(line)["kind"]
        explained[kind] = explained.get(kind, 0) + 1
    assert document["kinds"] == explained
    assert {"destination_unavailable", "http_response_incomplete", "connection_terminated", "rate_limited"} <= set(
        explained
    )


_LINES = st.sampled_from(
    [
        '127.0.0.1:1 [28/Nov/2026:16:47:22.641] web b/s1 0/0/0/-1/1 502 209 - - SH-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"',
        "2026/11/28 16:13:41 [error] 81#81: *3 upstream timed out (110: Connection timed out), client: 10.0.0.7",
        '10.0.0.7 - - [28/Nov/2026:16:13:41 +0000] "GET /v1/x HTTP/1.1" 502 157 "-" "curl/8"',
    ]
)


@FUZZ
@given(st.binary(max_size=2048) | st.tuples(_LINES, st.text(max_size=200)).map("".join))
def test_no_line_crashes_the_log_line_reader(line: str | bytes) -> None:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    reading = read_log_line(text)
    if reading is not None:
        assert (reading.outcome.kind is None) == reading.outcome.ok
        json.dumps(reading.to_dict())
