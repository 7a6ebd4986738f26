"""Credentials the gateway injects: static (env, file) and OAuth2 client credentials against the simulator's
real token endpoint on loopback; refresh before expiry and after a 401; secrets in no output."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario

from upstreamkit.core.redact import fingerprint
from upstreamkit.gateway import GatewaySettings
from upstreamkit.gateway.configfile import parse_config
from upstreamkit.simulator import Simulator
from upstreamkit.simulator.scenario import Scenario, parse_scenario
from upstreamkit.testing import FakeClock
from upstreamkit.testing import testing as fake_time

pytestmark = pytest.mark.integration

CLIENT_SECRET = "cs-PLANTED-7f3a9e1c55"
STATIC_SECRET = "st-PLANTED-b81d0c2e44"


def auth_scenario(*, api_keys: list[str] | None = None, lifetime: float = 3600.0) -> Scenario:
    keys = json.dumps(api_keys or ["unused-key"])
    return parse_scenario(
        f"""
name = "auth"
[auth]
mode = "required"
token_lifetime = {lifetime}
clients = {{ "gw-client" = "{CLIENT_SECRET}" }}
api_keys = {keys}
[[phases]]
name = "healthy"
start = 0
"""
    )


def settings_for(url: str, credentials: str, tmp_path: Path) -> GatewaySettings:
    log = tmp_path / "access.log"
    text = f"""
[gateway]
port = 0
admin_port = 0
access_log = "{log}"
[upstreams.api]
url = "{url}"
credentials = {credentials}
[[routes]]
prefix = "/api"
upstream = "api"
"""
    return parse_config(text)


@pytest.fixture
def start() -> Iterator[Callable[[GatewaySettings], RunningGateway]]:
    started: list[RunningGateway] = []

    def factory(settings: GatewaySettings) -> RunningGateway:
        running = RunningGateway(settings, clock=FakeClock())
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        running.stop()


def everything_said(gw: RunningGateway, tmp_path: Path, *responses: httpx.Response) -> str:
    """Every output of the gateway a secret could leak into: answers, access log, /status, /metrics."""
    gw.stop()
    parts = [(tmp_path / "access.log").read_text()]
    for response in responses:
        parts += [response.text, json.dumps(dict(response.headers))]
    return "\n".join(parts)


def admin_said(gw: RunningGateway) -> str:
    return httpx.get(gw.admin_url("/status")).text + httpx.get(gw.admin_url("/metrics")).text


def test_static_from_env_replaces_the_callers_credential(
    start: Callable[[GatewaySettings], RunningGateway],
    echo_upstream: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSTREAMKIT_TEST_STATIC", STATIC_SECRET)
    creds = '{ type = "static", header = "X-Api-Key", value = "key={secret}", secret_env = "UPSTREAMKIT_TEST_STATIC" }'
    gw = start(settings_for(echo_upstream, creds, tmp_path))
    response = httpx.get(
        gw.url("/api/thing"), headers={"Authorization": "Bearer caller-own-token", "X-Api-Key": "caller-key"}
    )
    assert response.status_code == 200
    headers = [(name.lower(), value) for name, value in response.json()["headers"]]
    assert ("x-api-key", f"key={STATIC_SECRET}") in headers
    assert [name for name, _ in headers].count("x-api-key") == 1
    assert "authorization" not in [name for name, _ in headers]  # the caller's own is not forwarded
    said = admin_said(gw)
    said += everything_said(gw, tmp_path)  # the echo's body holds the secret by design: not searched
    assert STATIC_SECRET not in said
    line = json.loads((tmp_path / "access.log").read_text().splitlines()[0])
    assert line["credential"] == fingerprint("caller-own-token")  # the caller's, as the contract says


def test_static_file_is_reread_after_a_401_and_when_it_changes(
    start: Callable[[GatewaySettings], RunningGateway],
    simulator_factory: Any,
    tmp_path: Path,
) -> None:
    sim: Simulator = simulator_factory(auth_scenario(api_keys=["key-two", "key-three"]))
    secret_file = tmp_path / "api-key"
    secret_file.write_text("key-one\n")
    creds = f'{{ type = "static", secret_file = "{secret_file}" }}'
    gw = start(settings_for(f"{sim.base_url}/v1", creds, tmp_path))

    refused = httpx.get(gw.url("/api/a"))  # key-one is not valid: refresh (same file), retry, still refused
    assert refused.status_code == 502
    body = refused.json()
    assert (body["kind"], body["upstream"], body["upstream_status"], body["code"]) == ("auth_invalid", "api", 401, 600)
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e.status for e in sim.ledger.entries()] == [401, 401]

    secret_file.write_text("key-two\n")  # rotated; the gateway's clock has not moved, so only the 401 tells it
    assert httpx.get(gw.url("/api/b")).status_code == 200
    entries = sim.ledger.entries()[2:]
    assert [(e.status, e.key_fingerprint) for e in entries] == [
        (401, fingerprint("key-one")),
        (200, fingerprint("key-two")),
    ]

    secret_file.write_text("key-three\n")
    gw.clock.advance(2.0)  # type: ignore[attr-defined]  # the file's modification time is looked at once a second
    assert httpx.get(gw.url("/api/c")).status_code == 200
    last = sim.ledger.entries()[-1]
    assert (last.status, last.key_fingerprint) == (200, fingerprint("key-three"))  # no 401 first


def oauth_creds(sim: Simulator, secret_file: Path) -> str:
    return (
        f'{{ type = "oauth2_client_credentials", token_url = "{sim.base_url}/oauth/token", client_id = "gw-client", '
        f'client_secret_file = "{secret_file}", scope = "api" }}'
    )


def token_fetches(sim: Simulator) -> int:
    return sum(1 for e in sim.ledger.entries() if e.path == "/oauth/token")


def test_oauth2_token_is_cached_single_flight_and_refreshed_before_expiry(
    start: Callable[[GatewaySettings], RunningGateway], simulator_factory: Any, tmp_path: Path
) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET)
    with fake_time() as clock:  # upstreamkit's clock: the token's expiry, as the gateway sees it
        sim: Simulator = simulator_factory(auth_scenario(), clock=clock.time)
        gw = start(settings_for(f"{sim.base_url}/v1", oauth_creds(sim, secret_file), tmp_path))
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: httpx.get(gw.url(f"/api/r{i}"), timeout=10), range(16)))
        assert [a.status_code for a in answers] == [200] * 16
        assert token_fetches(sim) == 1  # sixteen requests, one token

        clock.advance(3600 - 30)  # within the 60 s skew of expiry: refreshed before sending, never refused
        assert httpx.get(gw.url("/api/later")).status_code == 200
        assert token_fetches(sim) == 2
        assert 401 not in [e.status for e in sim.ledger.entries()]
        said = admin_said(gw) + everything_said(gw, tmp_path, *answers)
    assert CLIENT_SECRET not in said
    assert "eyJ" not in said  # no JWT (the access token) anywhere either


def test_oauth2_401_refreshes_once_and_retries(
    start: Callable[[GatewaySettings], RunningGateway], simulator_factory: Any, tmp_path: Path
) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET)
    ahead = [0.0]
    with fake_time() as clock:
        # The upstream's clock runs ahead of the gateway's: a token the gateway holds fresh is expired to it.
        sim: Simulator = simulator_factory(auth_scenario(), clock=lambda: clock.time() + ahead[0])
        gw = start(settings_for(f"{sim.base_url}/v1", oauth_creds(sim, secret_file), tmp_path))
        assert httpx.get(gw.url("/api/one")).status_code == 200
        ahead[0] = 7200.0
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: httpx.get(gw.url(f"/api/r{i}"), timeout=10), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert token_fetches(sim) == 2  # up to four 401s for one old token: one refresh
    statuses = [e.status for e in sim.ledger.entries() if e.path.startswith("/v1/")]
    # Each concurrent caller that left before the refresh landed met one 401 (a late one finds the new token).
    assert 1 <= statuses.count(401) <= 4
    assert len(statuses) == 1 + 4 + statuses.count(401)  # the first call, the four, one retry per 401
    assert statuses[-4:].count(200) >= 1


def test_oauth2_wrong_client_secret_is_an_auth_envelope(
    start: Callable[[GatewaySettings], RunningGateway], simulator_factory: Any, tmp_path: Path
) -> None:
    wrong = "cs-PLANTED-wrong-0a9b8c"
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(wrong)
    sim: Simulator = simulator_factory(auth_scenario())
    gw = start(settings_for(f"{sim.base_url}/v1", oauth_creds(sim, secret_file), tmp_path))
    response = httpx.get(gw.url("/api/x"))
    assert response.status_code == 502
    body = response.json()
    assert (body["kind"], body["upstream"], body["code"]) == ("auth_invalid", "api", 600)
    assert "token endpoint" in body["detail"]
    assert [e.path for e in sim.ledger.entries()] == ["/oauth/token"]  # the API itself was never called
    said = admin_said(gw) + everything_said(gw, tmp_path, response)
    assert wrong not in said


@pytest.mark.parametrize(
    ("fault", "kind", "calls"),
    [
        ('{ kind = "auth_expired" }', "auth_expired", 2),  # a 401: one refresh, one retry, then the envelope
        ('{ kind = "auth_invalid", status = 403 }', "auth_forbidden", 1),  # a 403: a new credential would not help
    ],
)
def test_a_refusal_of_the_injected_credential_is_the_gateways_failure(
    start: Callable[[GatewaySettings], RunningGateway],
    simulator_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    kind: str,
    calls: int,
) -> None:
    monkeypatch.setenv("UPSTREAMKIT_TEST_STATIC", STATIC_SECRET)
    sim: Simulator = simulator_factory(fault_scenario(fault))
    creds = '{ type = "static", secret_env = "UPSTREAMKIT_TEST_STATIC" }'
    gw = start(settings_for(f"{sim.base_url}/v1", creds, tmp_path))
    response = httpx.get(gw.url("/api/x"))
    status = 403 if kind == "auth_forbidden" else 401
    assert response.status_code == 502
    assert response.json()["kind"] == kind
    assert response.json()["upstream_status"] == status
    assert "proxy-status" in response.headers
    assert len(sim.ledger.entries()) == calls
    said = admin_said(gw) + everything_said(gw, tmp_path, response)
    assert STATIC_SECRET not in said
    line = json.loads((tmp_path / "access.log").read_text().splitlines()[0])
    assert (line["kind"], line["upstream_status"], line["status"]) == (kind, status, 502)


def test_without_injection_a_401_passes_through(gateway_factory: Any, simulator_factory: Any) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "auth_expired" }'))
    gw = gateway_factory(f"/api={sim.base_url}/v1")
    response = httpx.get(gw.url("/api/x"), headers={"Authorization": "Bearer caller-token"})
    assert response.status_code == 401  # the caller's credential: the caller's problem
    assert len(sim.ledger.entries()) == 1


def test_an_unreachable_token_endpoint_is_an_envelope_and_the_upstream_is_not_called(
    start: Callable[[GatewaySettings], RunningGateway], echo_upstream: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    creds = (
        f'{{ type = "oauth2_client_credentials", token_url = "http://127.0.0.1:{closed}/token", '
        f'client_id = "gw-client", client_secret_file = "{secret_file}" }}'
    )
    gw = start(settings_for(echo_upstream, creds, tmp_path))
    response = httpx.get(gw.url("/api/x"))
    assert response.status_code == 502
    assert response.json()["kind"] == "connection_refused"
    assert response.json()["upstream_status"] is None
    assert CLIENT_SECRET not in admin_said(gw) + everything_said(gw, tmp_path, response)
