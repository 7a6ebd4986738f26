"""analyze on the real nginx's logs (Debian's nginx), written during an incident the test scripts and knows.

nginx proxies ``/v1/orders/`` and ``/v1/users/`` to two simulators and writes four logs at once: ``combined``,
ingress-nginx's ``upstreaminfo`` (its ``log_format`` as ingress-nginx's docs give it), a custom format with the
client's key id (given to analyze with ``--log-format`` and ``--credential-field``), and the error log. The
clients present three keys; ``key-c`` is revoked (the simulator answers it 401 all along). The script:

    healthy 3 s · the orders upstream is stopped 2 s (nginx: connect() failed (111: Connection refused))
    · healthy 3 s · the users upstream hangs 2 s (nginx: upstream timed out, read timeout 250 ms) · healthy

Each access log, read together with the error log, must give both incidents within one bucket (1 s: nginx's
access-log times have whole seconds), read to their causes (connection refused, a response timeout: not
"outage"), the orders endpoint on top, and (where the key is logged) the revoked key's fingerprint on top.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.cli import analyze_json, analyzer_kind, explain_line_json
from support.engines import free_port, nginx_conf, start_nginx
from support.traffic import REVOKED, Run, Upstreams, assert_found
from upstreamkit.core.redact import fingerprint

pytestmark = pytest.mark.engine

BUCKET_S = 1.0
# ingress-nginx's upstreaminfo, as its docs print it (user-guide/nginx-configuration/log-format); the ingress
# controller sets $proxy_upstream_name, $proxy_alternative_upstream_name and $req_id, this config does too.
UPSTREAMINFO = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] '
    "$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"
)
CUSTOM = (
    '$time_iso8601 $request_id $remote_addr "$request" $status $upstream_status $upstream_response_time '
    "$request_time $upstream_addr key=$http_x_api_key_id"
)
HANG = '[{ kind = "hang", at = "before" }]'


def _config(folder: Path, port: int, orders: int, users: int) -> str:
    logs = folder / "logs"
    http = f"""
    log_format upstreaminfo '{UPSTREAMINFO}';
    log_format keyed '{CUSTOM}';
    access_log {logs}/combined.log combined;
    access_log {logs}/upstreaminfo.log upstreaminfo;
    access_log {logs}/keyed.log keyed;
    proxy_connect_timeout 1s;
    proxy_read_timeout 250ms;
    server {{
        listen 127.0.0.1:{port};
        set $req_id $request_id;
        set $proxy_alternative_upstream_name "";
        location /v1/orders/ {{ set $proxy_upstream_name "default-orders-80"; proxy_pass http://127.0.0.1:{orders}; }}
        location /v1/users/ {{ set $proxy_upstream_name "default-users-80"; proxy_pass http://127.0.0.1:{users}; }}
    }}"""
    return nginx_conf(folder, http, error_level="warn")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("real-nginx")
    port = free_port()
    with (
        Upstreams(HANG, "/v1/users/*") as upstreams,
        start_nginx(folder, _config(folder, port, upstreams.orders.port, upstreams.users.port), [port]) as nginx,
    ):
        script = upstreams.play(nginx.url(""))
    return Run(nginx, script)


def _assert_incidents(document: dict[str, Any], run: Run, *, upstream: str | None) -> None:
    refused, timeouts = assert_found(document, run.script, BUCKET_S)
    assert max(timeouts["kinds"], key=timeouts["kinds"].get) == "http_response_timeout", timeouts["kinds"]
    if upstream is not None:
        assert refused["top"]["upstream"] == upstream
    assert document["unparsed"] == 0, document["formats"]
    # The error log explains the access log's failures, it does not add to them: kinds count each failed request
    # once, under the cause the error log gave it (a refused connect is one 502 line and one error line).
    assert sum(document["kinds"].values()) == sum(bucket["failures"] for bucket in document["series"])
    for incident in document["incidents"]:
        assert sum(incident["kinds"].values()) == incident["failures"], incident


def test_the_script_made_the_failures_it_meant(run: Run) -> None:
    assert {401, 502, 504, 200} <= set(run.script.statuses), run.script.statuses
    errors = "\n".join(run.engine.lines("error"))
    assert "connect() failed (111: Connection refused) while connecting to upstream" in errors
    assert "upstream timed out (110: Connection timed out) while reading response header from upstream" in errors


def test_combined_with_the_error_log(run: Run) -> None:
    document = analyze_json(str(run.engine.logs["combined"]), str(run.engine.logs["error"]))
    assert [item["format"] for item in document["formats"]] == ["nginx", "nginx-error"]
    _assert_incidents(document, run, upstream=None)


def test_upstreaminfo_with_the_error_log(run: Run) -> None:
    document = analyze_json(str(run.engine.logs["upstreaminfo"]), str(run.engine.logs["error"]))
    assert [item["format"] for item in document["formats"]] == ["nginx-upstreaminfo", "nginx-error"]
    _assert_incidents(document, run, upstream="default-orders-80")
    assert document["latency"]["p99"] is not None


def test_custom_log_format_with_the_key_and_the_error_log(run: Run) -> None:
    document = analyze_json(
        str(run.engine.logs["keyed"]),
        str(run.engine.logs["error"]),
        "--log-format",
        CUSTOM,
        "--credential-field",
        "$http_x_api_key_id",
    )
    assert [item["format"] for item in document["formats"]][1] == "nginx-error"
    _assert_incidents(document, run, upstream=None)
    by_credential = document["clusters"]["by_credential"]
    assert by_credential[0]["key"] == fingerprint(REVOKED)
    assert max(by_credential[0]["kinds"], key=by_credential[0]["kinds"].get) == "auth_invalid"
    assert REVOKED not in json.dumps(document)


def test_explain_reads_each_real_error_line_as_analyze_does(run: Run) -> None:
    seen: dict[str, str] = {}
    for line in run.engine.lines("error"):
        document = explain_line_json(line)
        assert document["log_line"]["format"] == "nginx-error"
        assert document["kind"] == analyzer_kind(line, "nginx-error"), line
        assert document["producer"] == "nginx"
        assert document["source"].startswith("https://")
        assert document["fixes"], line
        seen[document["signature"]] = document["kind"]
    assert seen["nginx-connect-refused"] == "connection_refused"
    assert seen["nginx-upstream-timed-out"] == "http_response_timeout"


def test_explain_reads_real_access_lines_by_their_status(run: Run) -> None:
    lines = run.engine.lines("upstreaminfo")
    for status, kind in (("502", "upstream_outage"), ("504", "http_response_timeout"), ("401", "auth_invalid")):
        line = next(line for line in lines if f'HTTP/1.1" {status} ' in line)
        document = explain_line_json(line)
        assert document["log_line"]["format"] == "nginx-upstreaminfo"
        assert document["kind"] == kind == analyzer_kind(line, "nginx-upstreaminfo")
        assert document["log_line"]["fields"]["status"] == status
    healthy = next(line for line in lines if 'HTTP/1.1" 200 ' in line)
    assert explain_line_json(healthy)["kind"] is None
    keyed = next(line for line in run.engine.lines("keyed") if " 401 " in line)
    document = explain_line_json(keyed, "--log-format", CUSTOM)
    assert document["log_line"]["format"] == "nginx-log-format"
    assert document["kind"] == "auth_invalid"
