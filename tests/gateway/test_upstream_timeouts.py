"""An upstream's own connect timeout from the config file is the one an attempt uses: a loopback listener whose
accept queue is full (it never accepts) leaves a connect hanging, and the envelope says connection_timeout long
before the gateway-wide caps would."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from gateway_support import RunningGateway

from upstreamkit.gateway.configfile import parse_config

_FILL_TRIES = 8


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose listener never accepts and whose accept queue is full: a SYN to it is dropped."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(_FILL_TRIES):  # bounded: Linux queues backlog + 1 connections, then drops SYNs
            filler = socket.socket()
            filler.settimeout(0.3)
            fillers.append(filler)
            try:
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break  # the queue is full: the next connect hangs too
        else:
            pytest.fail(f"the accept queue of 127.0.0.1:{port} never filled in {_FILL_TRIES} connections")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_the_upstreams_connect_timeout_is_used(unanswered_port: int) -> None:
    settings = parse_config(f"""
[gateway]
port = 0
admin_port = false
timeouts = {{ connect = "1m", response = "1m" }}
[defaults.retry]
attempts = 1
per_try_timeout = "50s"
deadline = "55s"
[upstreams.blackhole]
url = "http://127.0.0.1:{unanswered_port}"
timeouts = {{ connect = "200ms" }}
breaker = false
[[routes]]
prefix = "/bh"
upstream = "blackhole"
""")
    upstream = settings.upstream("blackhole")
    assert upstream is not None
    assert (upstream.connect_timeout, settings.connect_timeout) == (0.2, 60.0)
    gateway = RunningGateway(settings)
    try:
        started = time.monotonic()
        answer = httpx.get(gateway.url("/bh/x"), timeout=30)
        took = time.monotonic() - started
    finally:
        gateway.stop()
    body = answer.json()
    assert (answer.status_code, body["kind"], body["upstream"]) == (504, "connection_timeout", "blackhole")
    # A bound, not a timing: every other cap on this attempt is 50 s or more.
    assert took < 20, f"{took:.1f} s: the upstream's 200 ms connect timeout was not the one used"
