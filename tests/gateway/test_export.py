"""``gateway export``: how each policy is rendered for nginx and HAProxy, the limits comment, and the command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit.cli.app import app
from upstreamkit.cli.gateway_export import quick_settings
from upstreamkit.gateway.accesslog import FIELDS
from upstreamkit.gateway.export import LIMITS, limits_for, render

ROUTES = ["/pay=http://127.0.0.1:9000/v1", "/search=http://127.0.0.1:9001"]


def _render(engine: str, **options: object) -> str:
    settings = quick_settings(
        ROUTES,
        attempts=3,
        per_try_timeout=2.5,
        deadline=12,
        connect_timeout=1,
        **options,  # type: ignore[arg-type]
    )
    return render(settings, engine)


def _header(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_every_limit_is_listed_at_the_top(engine: str) -> None:
    text = _render(engine)
    head = _header(text)
    assert text.startswith(head)  # the comment is the top of the file
    assert limits_for(engine)
    for limit in limits_for(engine):
        assert f"#   - {limit.line()}\n" in head
    assert all(limit.engine in ("nginx", "haproxy") for limit in LIMITS)


def test_limits_name_the_policies_each_engine_lacks() -> None:
    for engine in ("nginx", "haproxy"):
        policies = {limit.policy for limit in limits_for(engine)}
        assert {"retry budget", "circuit breaker", "per-try timeout", "retry backoff and Retry-After"} <= policies
    with pytest.raises(ValueError, match="unknown engine"):
        limits_for("envoy")


def test_nginx_maps_each_policy() -> None:
    text = _render("nginx", rate=5, burst=4)
    assert "proxy_connect_timeout 1000ms;" in text
    assert "proxy_read_timeout 2500ms;" in text
    assert "proxy_send_timeout 2500ms;" in text
    assert "proxy_next_upstream_timeout 12000ms;" in text
    assert "proxy_next_upstream_tries 3;" in text
    assert "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;" in text
    config = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    assert "non_idempotent" not in config  # a sent POST is never passed to the next peer
    # Three peers for three attempts; max_fails spread so the breaker trips after about 5 failures.
    assert text.count("server 127.0.0.1:9000 max_fails=2 fail_timeout=1s;") == 3
    assert "limit_req_zone $uk_rate_key_pay zone=uk_pay:1m rate=5r/s;" in text
    assert "limit_req zone=uk_pay burst=4;" in text
    assert "limit_req_status 429;" in text
    assert "proxy_intercept_errors on;" in text
    assert "error_page 502 = @uk_pay_502;" in text
    assert "add_header Proxy-Status" in text
    assert "add_header Retry-After $uk_retry_after always;" in text
    assert "proxy_set_header X-Request-Id $uk_request_id;" in text
    assert "default $request_id;" in text
    assert "proxy_set_header Host '127.0.0.1:9000';" in text
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert 'proxy_set_header Upgrade "";' in text
    assert "location = /pay {" in text
    assert "location /pay/ {" in text
    assert "proxy_pass http://uk_pay/v1/;" in text
    assert "set $uk_kind destination_not_found; set $uk_error destination_not_found; return 404" in text


def test_haproxy_maps_each_policy() -> None:
    text = _render("haproxy", rate=5, burst=4)
    assert "timeout connect 1000ms" in text
    assert "timeout server 2500ms" in text
    assert "timeout queue 12000ms" in text
    assert "retries 2" in text
    assert "retry-on conn-failure empty-response response-timeout 500 502 503 504" in text
    assert "http-request disable-l7-retry unless { method GET HEAD OPTIONS PUT DELETE TRACE }" in text
    assert re.search(r"server s1 127\.0\.0\.1:9000 .*check .*observe layer7 error-limit 5 on-error mark-down", text)
    assert "store http_req_rate(1s)" in text
    assert re.search(r"http-request deny deny_status 429 .*hdr Retry-After 1 .*sc_http_req_rate\(0\) gt 8", text)
    assert "http-error status 503" in text
    assert "http-error status 504" in text
    assert "unique-id-format" in text
    assert "http-request set-header Host 127.0.0.1:9000" in text
    assert "option forwardfor" in text
    assert "http-request del-header Upgrade" in text
    assert "http-request set-var(txn.uk_rt) str(pay) if !{ var(txn.uk_rt) -m found } { path /pay }" in text
    assert "use_backend uk_pay if { var(txn.uk_rt) -m str pay }" in text


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_access_log_writes_the_gateway_contract(engine: str) -> None:
    text = _render(engine)
    line = next(line for line in text.splitlines() if "log_format upstreamkit" in line or "log-format" in line)
    names = re.findall(r'\\?"([a-z_]+)\\?":', line)
    assert names == list(FIELDS)


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_envelope_bodies_carry_the_contract(engine: str) -> None:
    text = _render(engine)
    for word in ('code\\":600' if engine == "haproxy" else '"code":600', "urn:upstreamkit:kind:connection_terminated"):
        assert word in text
    assert "application/problem+json" in text


def test_haproxy_status_600_is_said_not_dropped() -> None:
    text = _render("haproxy", status_mode="600")
    assert "status mode 600: HAProxy cannot send a raw 600 status line" in _header(text)
    assert "status 600" not in text


def test_nginx_fractional_rate_and_break_are_said() -> None:
    settings = quick_settings(ROUTES, rate=0.5)
    head = _header(render(settings, "nginx"))
    assert "rate 0.5/s is rounded" in head
    assert "0.5s break is fail_timeout=1s" in head


runner = CliRunner()
EXAMPLE = Path(__file__).parents[2] / "examples" / "gateway.toml"
PLANTED = {"PAYMENTS_TOKEN": "sk-live-PLANTEDpay0123456789", "LEDGER_CLIENT_SECRET": "PLANTEDledger0123456789"}


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_export_from_the_config_file(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["gateway", "export", "--format", engine, "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for value in PLANTED.values():
        assert value not in text  # credentials are listed as not exported, never written
    assert "upstream payments: the gateway adds a static credential to every request; not exported" in text
    assert "upstream ledger: the gateway adds a oauth2" in text
    # /pay and /pay/refunds share the payments upstream: one upstream block / backend, one breaker.
    if engine == "nginx":
        assert text.count("upstream uk_payments {") == 1
        assert "proxy_connect_timeout 500ms;" in text  # the upstream's own connect timeout
        assert "rate=200r/s" in text
        assert "proxy_next_upstream_tries 1;" in text  # /pay/refunds: attempts = 1
    else:
        assert text.count("backend uk_payments\n") == 1
        assert "timeout connect 500ms" in text
        assert "http-request disable-l7-retry if { var(txn.uk_rt) -m str payments_2 }" in text
    assert "edge-1" in text


def test_config_refuses_quick_mode_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    args = ["gateway", "export", "-f", "nginx", "--config", str(EXAMPLE), "--port", "9000", "--rate", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--config cannot be combined with --port, --rate" in result.output
    missing = runner.invoke(app, ["gateway", "export", "-f", "nginx", "--config", "/nonexistent/gateway.toml"])
    assert missing.exit_code == 2
    assert "error:" in missing.output


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_export_command_prints_the_config(engine: str) -> None:
    result = runner.invoke(app, ["gateway", "export", "--format", engine, "--route", ROUTES[0], "--port", "8700"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# {engine} config exported by")
    assert "8700" in result.stdout


def test_export_command_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "nginx.conf"
    result = runner.invoke(app, ["gateway", "export", "-f", "nginx", "-r", ROUTES[0], "--snippet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "server {" in out.read_text()
    assert "events {" not in out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gateway", "export", "--format", "envoy", "--route", ROUTES[0]], "--format must be nginx or haproxy"),
        (["gateway", "export", "--format", "nginx"], "give at least one --route"),
        (["gateway", "export", "--format", "nginx", "--route", "pay"], "expected /PREFIX=URL"),
        (["gateway", "export", "--format", "nginx", "--route", ROUTES[0], "--status-mode", "7"], "--status-mode"),
        # The quick mode itself still parses on the group: its own checks answer before anything starts.
        (["gateway", "--route", ROUTES[0], "--status-mode", "7"], "--status-mode must be 5xx, 200 or 600"),
        (["gateway"], "give at least one --route"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_gateway_help_lists_export() -> None:
    result = runner.invoke(app, ["gateway", "--help"])
    assert result.exit_code == 0
    assert "export" in result.output
    assert "--route" in result.output
