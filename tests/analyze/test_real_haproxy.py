"""analyze on the real HAProxy's log (Debian's haproxy, ``option httplog``), written during an incident the test
scripts and knows.

HAProxy routes ``/v1/orders/`` to one simulator (health-checked every 100 ms) and the rest to another, and
captures the client's key id (``capture request header X-Api-Key-Id``, the log's ``{...}``). ``key-c`` is
revoked (401 all along). The script:

    healthy 3 s · the orders upstream is stopped 2 s (termination state SC: refused, then ``<NOSRV>`` once
    the health check marks the server down) · healthy 3 s · the users upstream answers 30 % of its requests
    429 with Retry-After and leaves 30 % hanging for 2 s (sH: ``timeout server`` 250 ms) · healthy

The analysis must find both incidents within one bucket, read to their causes (connection refused; rate
limit and response timeout), the orders endpoint on top and, with ``--credential-field hr``, the revoked
key's fingerprint on top.
"""

from __future__ import annotations

import json

import pytest

from support.cli import analyze_json, explain_line_json
from support.engines import free_port, haproxy_cfg, start_haproxy
from support.traffic import REVOKED, Run, Upstreams, assert_found
from upstreamkit.core.redact import fingerprint

pytestmark = pytest.mark.engine

BUCKET_S = 1.0
THROTTLE_OR_HANG = '[{ kind = "rate_limited", p = 0.3, retry_after = 1 }, { kind = "hang", at = "before", p = 0.3 }]'


def _config(port: int, orders: int, users: int) -> str:
    body = f"""
frontend web
    bind 127.0.0.1:{port}
    capture request header X-Api-Key-Id len 32
    use_backend orders if {{ path_beg /v1/orders/ }}
    default_backend users
backend orders
    retries 0
    server orders1 127.0.0.1:{orders} check inter 100ms fall 1 rise 1
backend users
    server users1 127.0.0.1:{users}
"""
    return haproxy_cfg(body, timeouts="timeout connect 500ms\n    timeout client 10s\n    timeout server 250ms")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("real-haproxy")
    port = free_port()
    with (
        Upstreams(THROTTLE_OR_HANG, seed=14) as upstreams,
        start_haproxy(folder, _config(port, upstreams.orders.port, upstreams.users.port), [port]) as haproxy,
    ):
        script = upstreams.play(haproxy.url(""))
    return Run(haproxy, script)


def test_the_script_made_the_failures_it_meant(run: Run) -> None:
    assert {200, 401, 429, 503, 504} <= set(run.script.statuses), run.script.statuses
    log = "\n".join(run.engine.lines("stdout"))
    assert " orders/<NOSRV> " in log
    assert " 503 " in log
    assert " SC-- " in log
    assert " sH-- " in log
    assert "{key-c}" in log


def test_httplog_read_to_the_causes(run: Run) -> None:
    document = analyze_json(str(run.engine.logs["stdout"]), "--credential-field", "hr")
    assert [item["format"] for item in document["formats"]] == ["haproxy"]
    # HAProxy's own server-state lines ("Server orders/orders1 is DOWN ...") carry no time in the raw format
    states = [line for line in run.engine.lines("stdout") if not line.startswith("127.0.0.1:")]
    assert len(states) >= 2, states
    assert document["unparsed"] == len(states), states
    refused, throttled = assert_found(document, run.script, BUCKET_S)
    assert refused["top"]["upstream"] == "orders"
    assert {"rate_limited", "http_response_timeout"} <= set(throttled["kinds"]), throttled["kinds"]
    by_credential = document["clusters"]["by_credential"]
    assert by_credential[0]["key"] == fingerprint(REVOKED)
    assert max(by_credential[0]["kinds"], key=by_credential[0]["kinds"].get) == "auth_invalid"
    assert REVOKED not in json.dumps(document)


def test_explain_reads_real_httplog_lines_by_their_termination_state(run: Run) -> None:
    lines = run.engine.lines("stdout")
    expected = {
        " SC-- ": ("connection_refused", "haproxy-sc"),
        " sH-- ": ("http_response_timeout", "haproxy-sh-timeout"),
        " 429 ": ("rate_limited", None),
        " 401 ": ("auth_invalid", None),
    }
    for marker, (kind, signature) in expected.items():
        line = next(line for line in lines if marker in line and line.startswith("127.0.0.1:"))
        document = explain_line_json(line)
        assert document["log_line"]["format"] == "haproxy"
        assert (document["kind"], document["signature"]) == (kind, signature), line
    nosrv = next(line for line in lines if "/<NOSRV> " in line)
    assert explain_line_json(nosrv)["kind"] == "connection_refused"


def test_explain_reads_real_server_state_lines(run: Run) -> None:
    states = [line for line in run.engine.lines("stdout") if not line.startswith("127.0.0.1:")]
    down = next(line for line in states if " is DOWN" in line)
    document = explain_line_json(down)
    assert document["log_line"]["format"] == "text"
    assert (document["kind"], document["signature"]) == ("connection_refused", "haproxy-check-refused")
    assert "Debian's haproxy" in document["source"]  # the version it was seen from
    none_left = next(line for line in states if "has no server available" in line)
    assert explain_line_json(none_left)["kind"] == "destination_unavailable"
