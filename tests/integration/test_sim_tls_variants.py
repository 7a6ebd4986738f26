"""TLS variants over loopback: httpx trusts the simulator's CA file and sees each certificate problem."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from upstreamkit.simulator import Simulator

pytestmark = pytest.mark.integration


def test_valid_certificate_works_with_the_ca_file(simulator_factory: Any) -> None:
    sim = simulator_factory("healthy", tls="valid")
    assert sim.base_url.startswith("https://127.0.0.1:")
    assert sim.ca_file is not None
    assert sim.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    with httpx.Client(verify=context) as client:
        assert client.get(sim.url("/v1/items")).status_code == 200
    with httpx.Client(verify=sim.ssl_context()) as client:
        assert client.get(sim.url("/v1/items").replace("127.0.0.1", "localhost")).status_code == 200


@pytest.mark.parametrize(
    ("scenario", "tls", "problem"),
    [
        ("tls-expired", None, "certificate has expired"),
        ("healthy", "not-yet-valid", "certificate is not yet valid"),
        ("tls-mismatch", None, "mismatch"),
        ("tls-untrusted", None, "self-signed certificate"),
    ],
)
def test_certificate_problems_are_connect_errors_naming_the_problem(
    simulator_factory: Any, scenario: str, tls: str | None, problem: str
) -> None:
    sim: Simulator = simulator_factory(scenario, tls=tls)
    with httpx.Client(verify=sim.ssl_context()) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(sim.url("/v1/items"))
    message = str(caught.value)
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert problem in message
    assert sim.stats()["requests"] == 0  # the request never left: nothing reached the upstream


def test_tls_files_are_removed_on_stop() -> None:
    sim = Simulator("healthy", tls="valid").start()
    ca_file = sim.ca_file
    assert ca_file is not None
    assert ca_file.exists()
    sim.stop()
    assert not ca_file.exists()
