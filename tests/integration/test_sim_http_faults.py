"""A real httpx client meets each HTTP- and connection-level fault over loopback, as production would."""

from __future__ import annotations

import socket
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from upstreamkit.simulator import Simulator, parse_scenario

pytestmark = pytest.mark.integration


def _one_fault(fault: str, *, name: str = "one-fault") -> Any:
    """A scenario whose /v1/* routes always serve ``fault`` (a TOML inline table)."""
    return parse_scenario(
        f"""
        name = "{name}"
        [[phases]]
        name = "only"
        [phases.routes."/v1/*"]
        faults = [{fault}]
        """
    )


def test_raw_600_status_line_reaches_the_client(simulator_factory: Any) -> None:
    sim = simulator_factory("status-600")
    with httpx.Client() as client:
        response = client.get(sim.url("/v1/orders"))
    assert response.status_code == 600
    assert response.json()["code"] == 600
    assert response.is_error is False  # httpx looks at 400-599 only: why classification must not use it
    assert sim.ledger.entries()[-1].fault == "status_600"


@pytest.mark.parametrize(
    ("shape", "check"),
    [
        ("code", lambda body: body["code"] == 600),
        ("nested", lambda body: body["error"]["code"] == 600),
        ("status", lambda body: body["status"] == 600),
        ("errorCode", lambda body: body["errorCode"] == "600"),
        ("message", lambda body: body["error"] == "gateway_timeout"),
    ],
)
def test_http_200_with_a_600_body(simulator_factory: Any, shape: str, check: Any) -> None:
    sim = simulator_factory(_one_fault(f'{{kind = "body_600", shape = "{shape}"}}'))
    with httpx.Client() as client:
        response = client.get(sim.url("/v1/orders"))
    assert response.status_code == 200
    assert check(response.json())


def test_outage_503_with_retry_after_seconds_and_502(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "outage", status = 503, retry_after = 7}'))
    with httpx.Client() as client:
        response = client.get(sim.url("/v1/orders"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    sim502 = simulator_factory(_one_fault('{kind = "outage", status = 502}'))
    with httpx.Client() as client:
        assert client.get(sim502.url("/v1/orders")).status_code == 502


def test_retry_after_as_http_date_is_in_the_future(simulator_factory: Any) -> None:
    sim = simulator_factory(
        _one_fault('{kind = "status", status = 503, retry_after = 30, retry_after_format = "http-date"}')
    )
    with httpx.Client() as client:
        response = client.get(sim.url("/v1/orders"))
    when = parsedate_to_datetime(response.headers["retry-after"]).timestamp()
    assert response.status_code == 503
    assert 25 < when - time.time() <= 31


def test_gateway_timeout_504_after_its_delay(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "gateway_timeout", delay = 0.2}'))
    with httpx.Client() as client:
        started = time.monotonic()
        response = client.get(sim.url("/v1/orders"))
        took = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"] == "gateway_timeout"
    assert took >= 0.19


@pytest.mark.parametrize("at", ["before", "body"])
def test_reset_is_a_read_error(simulator_factory: Any, at: str) -> None:
    sim = simulator_factory(_one_fault(f'{{kind = "reset", at = "{at}"}}'))
    with httpx.Client() as client, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as caught:
        client.get(sim.url("/v1/orders"))
    if at == "before":
        assert "reset" in str(caught.value).lower() or isinstance(caught.value, httpx.RemoteProtocolError)
    assert sim.ledger.entries()[-1].fault == "reset"


def test_close_without_response(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "close"}'))
    with httpx.Client() as client, pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        client.get(sim.url("/v1/orders"))


def test_truncated_body(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "truncate", fraction = 0.5}'))
    with httpx.Client() as client, pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete"):
        client.get(sim.url("/v1/orders"))


@pytest.mark.parametrize("at", ["before", "body"])
def test_hang_ends_in_a_read_timeout(simulator_factory: Any, at: str) -> None:
    sim = simulator_factory(_one_fault(f'{{kind = "hang", at = "{at}"}}'))
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get(sim.url("/v1/orders"))
        took = time.monotonic() - started
    assert took >= 0.29


def test_stop_closes_hung_connections(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "hang"}'))
    with httpx.Client(timeout=10.0) as client:
        started = time.monotonic()
        sim_stopper = _stop_later(sim, 0.2)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get(sim.url("/v1/orders"))
        sim_stopper.join()
    assert time.monotonic() - started < 5  # ended by stop(), not by the 10 s timeout


def _stop_later(sim: Simulator, delay: float) -> Any:
    thread = threading.Timer(delay, sim.stop)
    thread.start()
    return thread


def test_slow_body_is_limited_by_bandwidth(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "slow_body", bytes_per_second = 8192, size = 4096, chunk = 1024}'))
    with httpx.Client() as client:
        started = time.monotonic()
        response = client.get(sim.url("/v1/orders"))
        took = time.monotonic() - started
    assert response.status_code == 200
    assert len(response.content) == 4096
    assert took >= 0.3  # 4 chunks of 1 KiB at 8 KiB/s, 0.125 s apart: the last leaves at 0.375 s


def test_slow_body_trips_a_short_read_timeout(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "slow_body", bytes_per_second = 1024, size = 4096, chunk = 512}'))
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as client, pytest.raises(httpx.ReadTimeout):
        client.get(sim.url("/v1/orders"))


def test_fixed_latency(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "latency", delay = 0.2}'))
    with httpx.Client() as client:
        started = time.monotonic()
        response = client.get(sim.url("/v1/orders"))
        took = time.monotonic() - started
    assert response.status_code == 200
    assert took >= 0.19


def test_latency_from_a_distribution_repeats_with_the_seed(simulator_factory: Any) -> None:
    scenario = _one_fault('{kind = "latency", distribution = "uniform", delay = 0.0, high = 0.05}')
    with httpx.Client() as client:
        for _ in range(2):
            sim = simulator_factory(scenario, seed=3)
            assert [client.get(sim.url("/v1/x")).status_code for _ in range(5)] == [200] * 5


def test_forced_rate_limit_and_auth_faults(simulator_factory: Any) -> None:
    sim = simulator_factory(
        parse_scenario(
            """
            name = "mix"
            [[phases]]
            name = "only"
            [phases.routes."/v1/limited"]
            faults = [{kind = "rate_limited", retry_after = 3}]
            [phases.routes."/v1/expired"]
            faults = [{kind = "auth_expired"}]
            [phases.routes."/v1/forbidden"]
            faults = [{kind = "auth_invalid", status = 403}]
            """
        )
    )
    with httpx.Client() as client:
        limited = client.get(sim.url("/v1/limited"))
        expired = client.get(sim.url("/v1/expired"))
        forbidden = client.get(sim.url("/v1/forbidden"))
        fine = client.get(sim.url("/v1/other"))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert limited.headers["ratelimit"] == '"default";r=0;t=3'
    assert expired.status_code == 401
    assert 'error_description="The access token expired"' in expired.headers["www-authenticate"]
    assert forbidden.status_code == 403
    assert fine.status_code == 200


def test_keep_alive_reuses_one_connection(simulator: Simulator) -> None:
    with httpx.Client() as client:
        for _ in range(50):
            assert client.get(simulator.url("/v1/items")).status_code == 200
        assert simulator.stats()["connections"] == 1
    assert simulator.stats()["requests"] == 50


def test_same_seed_same_faults(simulator_factory: Any) -> None:
    scenario = _one_fault('{kind = "outage", p = 0.5}')
    runs = []
    with httpx.Client() as client:
        for seed in (7, 7, 8):
            sim = simulator_factory(scenario, seed=seed)
            runs.append([client.get(sim.url("/v1/x")).status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert set(runs[0]) == {200, 503}


def test_control_endpoints_are_never_faulted(simulator_factory: Any) -> None:
    sim = simulator_factory(_one_fault('{kind = "reset"}'))
    with httpx.Client() as client:
        with pytest.raises(httpx.TransportError):
            client.get(sim.url("/v1/x"))
        stats = client.get(sim.url("/__sim/stats")).json()
        ledger = client.get(sim.url("/__sim/ledger")).json()
        reset = client.post(sim.url("/__sim/reset"))
        scenario = client.get(sim.url("/__sim/scenario")).json()
    assert stats["requests"] == 1
    assert stats["by_fault"] == {"reset": 1}
    assert ledger["entries"][0]["fault"] == "reset"
    assert reset.json() == {"reset": True}
    assert scenario["name"] == "one-fault"
    assert sim.stats()["requests"] == 0


def test_malformed_request_gets_400(simulator: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
