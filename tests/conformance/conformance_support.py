"""The three gateways of the conformance suite (fixtures for conftest.py), each a process on loopback in front
of the same simulators.

``upstreamkit gateway`` runs from the quick mode's options; nginx and HAProxy run the config
``upstreamkit gateway export`` renders from the same options (:func:`~upstreamkit.cli.gateway_export.quick_settings`,
the function the command uses). One process per engine for the module; every one is stopped by its PID.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support.engines import Engine, free_port, start_engine, start_haproxy, start_nginx
from upstreamkit.cli.gateway_export import quick_settings
from upstreamkit.gateway.export import render
from upstreamkit.simulator import Simulator, parse_scenario

ENGINES = ("upstreamkit", "nginx", "haproxy")
ATTEMPTS = 2
PER_TRY = 0.5
DEADLINE = 5.0
OUTAGE_SECONDS = 2.0

# One path per fault; each test uses its own route (so its own upstream, breaker and health state).
_FAULTS = """
name = "conformance"
[auth]
mode = "none"
[[phases]]
name = "faults"
start = 0
[phases.routes."/v1/hang*"]
faults = [{ kind = "hang" }]
[phases.routes."/v1/reset*"]
faults = [{ kind = "reset", at = "before" }]
[phases.routes."/v1/down*"]
faults = [{ kind = "outage", status = 503 }]
[phases.routes."/v1/shed*"]
faults = [{ kind = "outage", status = 503, retry_after = 7 }]
[phases.routes."/v1/throttled*"]
faults = [{ kind = "rate_limited", retry_after = 3 }]
"""

# The outage route's upstream: 503 for OUTAGE_SECONDS from each reset of its timeline, then healthy.
_OUTAGE = f"""
name = "conformance-outage"
[auth]
mode = "none"
[[phases]]
name = "outage"
start = 0
end = {OUTAGE_SECONDS}
[phases.routes."/v1/*"]
faults = [{{ kind = "outage", status = 503 }}]
[[phases]]
name = "recovered"
start = {OUTAGE_SECONDS}
"""


@dataclass(frozen=True, slots=True)
class Upstreams:
    """The simulators behind every gateway, and a port nothing listens on."""

    faults: Simulator
    outage: Simulator
    closed_port: int
    echo_port: int


@dataclass(frozen=True, slots=True)
class GatewayUnderTest:
    """One running gateway: its name (``upstreamkit``, ``nginx``, ``haproxy``), process and access log."""

    name: str
    engine: Engine
    access_log: Path

    def url(self, path: str) -> str:
        return self.engine.url(path)


def route_options(upstreams: Upstreams) -> list[str]:
    """The quick-mode options every gateway runs with."""
    sim, outage = upstreams.faults.base_url, upstreams.outage.base_url
    routes = {
        "/ok": f"{sim}/v1",
        "/timeout": f"{sim}/v1/hang",
        "/reset": f"{sim}/v1/reset",
        "/down": f"{sim}/v1/down",
        "/post": f"{sim}/v1/down",
        "/retry": f"{sim}/v1/down",
        "/throttled": f"{sim}/v1/throttled",
        "/shed": f"{sim}/v1/shed",
        "/refused": f"http://127.0.0.1:{upstreams.closed_port}/v1",
        "/outage": f"{outage}/v1",
        "/echo": f"http://127.0.0.1:{upstreams.echo_port}/base",
    }
    options: list[str] = []
    for prefix, url in routes.items():
        options += ["--route", f"{prefix}={url}"]
    return options


class _Echo(BaseHTTPRequestHandler):
    """Answers with the request line and header fields it received, and hop-by-hop fields of its own
    (``Connection: X-Echo-Hop``, ``X-Echo-Hop``, ``Keep-Alive``) that a proxy must not pass on."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        payload = json.dumps({"target": self.path, "headers": [[k.lower(), v] for k, v in self.headers.items()]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "X-Echo-Hop")
        self.send_header("X-Echo-Hop", "must not reach the caller")
        self.send_header("Keep-Alive", "timeout=5")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        del format, args


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    """The simulators and a header-echoing upstream (started once for the module), and a closed port."""
    faults = Simulator(parse_scenario(_FAULTS)).start()
    outage = Simulator(parse_scenario(_OUTAGE)).start()
    echo = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    thread = threading.Thread(target=echo.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Upstreams(faults, outage, free_port(), echo.server_address[1])
    finally:
        echo.shutdown()
        echo.server_close()
        thread.join(10)
        outage.stop()
        faults.stop()


def _upstreamkit_command() -> str:
    found = Path(sys.executable).parent / "upstreamkit"
    command = str(found) if found.exists() else shutil.which("upstreamkit")
    if command is None:
        raise AssertionError("the upstreamkit command is not installed: pip install -e '.[dev]'")
    return command


@pytest.fixture(scope="module", params=ENGINES)
def gateway(
    request: pytest.FixtureRequest, upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayUnderTest]:
    """Each gateway in turn, started once for the module with the same routes and policy."""
    name: str = request.param
    folder = tmp_path_factory.mktemp(name)
    port = free_port()
    policy = ["--attempts", str(ATTEMPTS), "--per-try-timeout", str(PER_TRY), "--deadline", str(DEADLINE)]
    options = route_options(upstreams)
    if name == "upstreamkit":
        log = folder / "access.log"
        argv = [
            _upstreamkit_command(), "gateway", *options, *policy, "--port", str(port), "--admin-port", "0",
            "--access-log", str(log),
        ]  # fmt: skip
        engine = start_engine("upstreamkit", argv, folder, [port], {"access": log})
    else:
        routes = options[1::2]
        settings = quick_settings(
            routes, port=port, attempts=ATTEMPTS, per_try_timeout=PER_TRY, deadline=DEADLINE,
            access_log=str(folder / "logs" / "access.log"),
        )  # fmt: skip
        (folder / "scratch").mkdir()
        config = render(settings, name, runtime_dir=folder)
        engine = start_nginx(folder, config, [port]) if name == "nginx" else start_haproxy(folder, config, [port])
        log = folder / "logs" / "access.log" if name == "nginx" else folder / "stdout.log"
    try:
        yield GatewayUnderTest(name, engine, log)
    finally:
        engine.stop()
