"""The TOML config file: what it builds, and one clear error (the key's path) for each kind of mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit.cli.app import app
from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.gateway.config import GatewaySettings
from upstreamkit.gateway.configfile import ConfigError, load_config, parse_config, parse_duration
from upstreamkit.gateway.degrade import Fallback
from upstreamkit.gateway.envelope import StatusMode

EXAMPLE = Path(__file__).parents[2] / "examples" / "gateway.toml"

BASE = """
[upstreams.pay]
url = "http://127.0.0.1:9000/v1"
{upstream}
[[routes]]
prefix = "/pay"
upstream = "pay"
{routes}
"""


def config(upstream: str = "", routes: str = "", head: str = "") -> str:
    return head + BASE.format(upstream=upstream, routes=routes)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source_name="gw.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("gw.toml: ")
    return message.removeprefix("gw.toml: ")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(2, 2.0), (0.25, 0.25), ("250ms", 0.25), ("2s", 2.0), ("1m", 60.0), ("1.5m", 90.0), ("1h", 3600.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 fortnights", "ms", "-1s", "1e400", True, "1d", [1]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_full_file_builds_the_settings() -> None:
    settings = parse_config(
        config(
            head="""
[gateway]
port = 0
admin_port = false
name = "edge-1"
region = "eu"
status_mode = "600"
drain_timeout = "2s"
timeouts = { connect = "250ms", response = "3s" }
limits = { max_body_bytes = 1024 }
[defaults.retry]
attempts = 4
deadline = "20s"
""",
            upstream="""
timeouts = { connect = "100ms" }
retry = { per_try_timeout = "1s", backoff = { base = "50ms" } }
breaker = { consecutive_failures = 2, open_for = "2s" }
budget = false
rate_limit = { rate = 5, burst = 2 }
""",
            routes="""
[[routes]]
prefix = "/pay/slow/"
upstream = "pay"
retry = { attempts = 1 }
""",
        )
    )
    assert settings.port == 0
    assert settings.admin_port is None
    assert (settings.name, settings.region, settings.status_mode) == ("edge-1", "eu", StatusMode.STATUS_600)
    assert (settings.connect_timeout, settings.timeout, settings.drain_timeout) == (0.25, 3.0, 2.0)
    assert settings.limits.max_body_bytes == 1024
    upstream = settings.upstream("pay")
    assert upstream is not None
    assert upstream.connect_timeout == 0.1
    fast, slow = settings.routes
    assert (fast.prefix, slow.prefix) == ("/pay", "/pay/slow")
    assert fast.url == slow.url == "http://127.0.0.1:9000/v1"
    policy = fast.policy
    assert policy is not None
    # Each table overrides only what it names: defaults over the client's, the upstream over the defaults.
    assert (policy.retry.attempts, policy.retry.deadline, policy.retry.per_try_timeout) == (4, 20.0, 1.0)
    assert policy.retry.backoff.base == 0.05
    assert policy.retry.backoff.cap == 5.0
    assert policy.breaker == BreakerConfig(consecutive_failures=2, open_for=2.0)
    assert policy.budget is None
    assert (policy.rate, policy.burst) == (5, 2)
    assert slow.policy is not None
    assert slow.policy.retry.attempts == 1
    assert slow.policy.retry.per_try_timeout == 1.0  # the rest of the upstream's retry stays
    assert slow.policy.breaker == policy.breaker


def test_degraded_mode_and_data_plane_keys(tmp_path: Path) -> None:
    (tmp_path / "down.json").write_bytes(b'{"down": true}')
    (tmp_path / "gw.toml").write_text(
        config(
            head="""
[gateway.limits]
stream_threshold = 4096
max_connections_per_upstream = 8
connection_queue_timeout = "250ms"
connection_queue_max = 16
stale_cache_entries = 100
stale_cache_bytes = 65536
""",
            upstream="""
stale_if_error = "5m"
fallback = { status = 503, body_file = "down.json" }
""",
            routes="""
[[routes]]
prefix = "/pay/mine"
upstream = "pay"
stale_if_error = 30
stale_cache_authorized = true
fallback = { content_type = "text/plain", body = "later" }
[[routes]]
prefix = "/pay/live"
upstream = "pay"
stale_if_error = false
fallback = false
""",
        )
    )
    settings = load_config(tmp_path / "gw.toml")
    assert (settings.stream_threshold, settings.max_connections_per_upstream) == (4096, 8)
    assert (settings.connection_queue_timeout, settings.connection_queue_max) == (0.25, 16)
    assert (settings.stale_cache_entries, settings.stale_cache_bytes) == (100, 65536)
    inherits, mine, live = settings.routes
    # A route takes its upstream's keys unless it gives its own; the body file is read from the file's folder.
    assert (inherits.stale_if_error, inherits.stale_cache_authorized) == (300.0, False)
    assert inherits.fallback == Fallback(status=503, content_type="application/json", body=b'{"down": true}')
    assert (mine.stale_if_error, mine.stale_cache_authorized) == (30.0, True)
    assert mine.fallback == Fallback(status=200, content_type="text/plain", body=b"later")
    assert (live.stale_if_error, live.fallback) == (None, None)


def test_data_plane_defaults_are_the_settings_own() -> None:
    settings = parse_config(config(head="[gateway.limits]\nstream_threshold = false\n"))
    plain = GatewaySettings(routes=())
    assert settings.stream_threshold is None
    assert settings.max_connections_per_upstream is None
    assert (settings.stale_cache_entries, settings.connection_queue_max) == (
        plain.stale_cache_entries,
        plain.connection_queue_max,
    )
    assert parse_config(config()).stream_threshold == plain.stream_threshold
    route = parse_config(config()).routes[0]
    assert (route.stale_if_error, route.stale_cache_authorized, route.fallback) == (None, False, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (config(upstream="colour = 1"), "upstreams.pay.colour: unknown key"),
        (config(upstream='stale_if_error = "soon"'), "upstreams.pay.stale_if_error: bad duration 'soon'"),
        (config(upstream="fallback = { status = 503 }"), "upstreams.pay.fallback: give exactly one of body and"),
        (
            config(upstream='fallback = { body = "x", body_file = "y" }'),
            "upstreams.pay.fallback: give exactly one of body and body_file",
        ),
        (config(upstream='fallback = { status = 600, body = "x" }'), "upstreams.pay.fallback.status: Input should"),
        (
            config(upstream='fallback = { body_file = "/nonexistent/upstreamkit-fallback.json" }'),
            "upstreams.pay.fallback.body_file (/nonexistent/upstreamkit-fallback.json): No such file",
        ),
        (
            config(routes='[[routes]]\nprefix = "/x"\nupstream = "pay"\nfallback = { body = "x", colour = 1 }'),
            "routes[1].fallback.colour: unknown key",
        ),
        (
            config(routes='[[routes]]\nprefix = "/x"\nupstream = "pay"\nstale_if_error = -1'),
            "routes[1].stale_if_error: a",
        ),
        (
            config(head="[gateway.limits]\nmax_connections_per_upstream = 0\n"),
            "gateway.limits.max_connections_per_upstream: ",
        ),
        (config(head="[gateway.limits]\nstream_threshold = 10\n"), "gateway.limits.stream_threshold: Input should be"),
        (config(head="[gateway.limits]\nstale_cache_bytes = 0\n"), "gateway.limits.stale_cache_bytes: Input should be"),
        (
            config(head='[gateway.limits]\nconnection_queue_timeout = "x"\n'),
            "gateway.limits.connection_queue_timeout: bad",
        ),
        (config(head="[gateway]\nprot = 1\n"), "gateway.prot: unknown key"),
        (config(routes='[[routes]]\nprefix = "/x"\nupstream = "pay"\nweight = 2'), "routes[1].weight: unknown key"),
        (config(upstream='retry = { deadline = "soon" }'), "upstreams.pay.retry.deadline: bad duration 'soon'"),
        (
            config(head='[gateway.timeouts]\nconnect = "5 parsecs"\n'),
            "gateway.timeouts.connect: bad duration '5 parsecs'",
        ),
        (config(routes='[[routes]]\nprefix = "/x"\nupstream = "pya"'), 'routes[1].upstream: no upstream named "pya"'),
        (
            config(routes='[[routes]]\nprefix = "/pay/"\nupstream = "pay"'),
            "routes[1].prefix: '/pay' is already the prefix of routes[0]",
        ),
        (config(routes='[[routes]]\nprefix = "pay"\nupstream = "pay"'), "routes[1].prefix: route prefix 'pay' must"),
        (config(upstream="retry = { attempts = 0 }"), "upstreams.pay.retry.attempts: Input should be greater"),
        ('[[routes]]\nprefix = "/x"\nupstream = "x"\n', "upstreams: missing required key"),
        (config(head='[gateway]\nstatus_mode = "418"\n'), "gateway.status_mode: Input should be"),
        (
            config(upstream="breaker = { open_for = 5, max_open_for = 1 }"),
            "upstreams.pay: BreakerConfig.max_open_for must be >= open_for",
        ),
        (config(upstream='credentials = { type = "static" }'), "upstreams.pay.credentials: give exactly one of"),
        (config(upstream='credentials = { type = "magic" }'), "upstreams.pay.credentials.type: Input should be"),
        (
            config(upstream='credentials = { type = "static", secret_env = "UPSTREAMKIT_TEST_UNSET_VAR" }'),
            "upstreams.pay.credentials.secret_env (environment variable UPSTREAMKIT_TEST_UNSET_VAR) is not set",
        ),
        (
            config(upstream='credentials = { type = "static", secret_env = "X", value = "Token" }'),
            "upstreams.pay.credentials: Value must hold {secret} once",
        ),
        ("[gateway\n", "invalid TOML"),
    ],
)
def test_one_error_naming_the_key(text: str, message: str) -> None:
    assert error_of(text).lower().startswith(message.lower())


def test_upstream_url_errors_name_the_upstream() -> None:
    text = BASE.format(upstream="", routes="").replace("http://127.0.0.1:9000/v1", "ftp://127.0.0.1/v1")
    assert error_of(text).startswith("upstreams.pay.url: ")


def test_a_missing_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: No such file"):
        load_config(tmp_path / "nope.toml")


def test_the_shipped_example_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_TOKEN", "example-token-value")
    monkeypatch.setenv("LEDGER_CLIENT_SECRET", "example-client-secret")
    settings = load_config(EXAMPLE)
    assert [route.prefix for route in settings.routes] == ["/pay", "/pay/refunds", "/ledger"]
    kinds = {u.name: u.credentials.kind for u in settings.upstreams if u.credentials is not None}
    assert kinds == {"payments": "static", "ledger": "oauth2"}
    pay, refunds, ledger = settings.routes
    assert (pay.stale_if_error, refunds.stale_if_error, ledger.stale_if_error) == (300.0, 300.0, None)
    assert pay.fallback is not None
    assert (pay.fallback.status, json.loads(pay.fallback.body)) == (503, {"payments": "unavailable"})
    assert (refunds.fallback, ledger.fallback) == (None, None)
    assert (settings.max_connections_per_upstream, settings.stream_threshold) == (256, 1024 * 1024)


def test_check_prints_the_routes_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    secret, client_secret = "tok-PLANTED-check-8c1f", "cs-PLANTED-check-77aa"
    monkeypatch.setenv("PAYMENTS_TOKEN", secret)
    monkeypatch.setenv("LEDGER_CLIENT_SECRET", client_secret)
    result = CliRunner().invoke(app, ["gateway", "--config", str(EXAMPLE), "--check"])
    assert result.exit_code == 0, result.output
    assert "/pay/refunds" in result.output
    assert "-> ledger http://127.0.0.1:9001" in result.output
    assert "stale-if-error 300s, fallback 503" in result.output
    assert secret not in result.output
    assert client_secret not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check"], "error: --check needs --config FILE"),
        (["--config", "{file}", "--port", "0"], "error: --config cannot be combined with --port"),
        (["--config", "{file}", "--route", "/a=http://127.0.0.1:1"], "error: --config cannot be combined with --route"),
        (["--config", "{bad}", "--check"], 'routes[0].upstream: no upstream named "nope"'),
        (["--config", "{bad}"], 'routes[0].upstream: no upstream named "nope"'),
    ],
)
def test_command_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    good = tmp_path / "good.toml"
    good.write_text(config())
    bad = tmp_path / "bad.toml"
    bad.write_text(config().replace('upstream = "pay"', 'upstream = "nope"'))
    argv = ["gateway", *(a.format(file=good, bad=bad) for a in args)]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
