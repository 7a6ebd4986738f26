"""SIGHUP reloads the config file without dropping connections: a real gateway process and a real signal."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import RunningGateway, fault_scenario, wait_until

from upstreamkit.gateway.configfile import parse_config
from upstreamkit.simulator import Simulator
from upstreamkit.testing import FakeClock

pytestmark = pytest.mark.integration

SECRET = "st-PLANTED-reload-5d6e7f"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """``upstreamkit gateway --config FILE`` (or the options ``args``) in a subprocess; stderr read line by line
    on a thread."""

    def __init__(self, config: Path | list[str], env: dict[str, str]) -> None:
        args = ["--config", str(config)] if isinstance(config, Path) else config
        self.process = subprocess.Popen(
            [sys.executable, "-m", "upstreamkit", "gateway", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        assert self.process.stderr is not None
        assert self.process.stdout is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout, False), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        first = self.next_line()
        match = re.search(r"on http://127\.0\.0\.1:(\d+)\s+\(admin http://127\.0\.0\.1:(\d+)\)", first)
        assert match, first
        self.port, self.admin_port = int(match.group(1)), int(match.group(2))

    def _pump(self, stream: Any, into: list[str], announce: bool) -> None:
        for line in stream:
            into.append(line)
            if announce:
                self.lines.put(line)

    def next_line(self) -> str:
        return self.lines.get(timeout=10)

    def reload(self) -> str:
        """Send SIGHUP; the gateway's one line about it."""
        while not self.lines.empty():
            self.lines.get_nowait()
        self.process.send_signal(signal.SIGHUP)
        return self.next_line()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def admin(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.admin_port}{path}", timeout=10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(10)
        for thread in self._threads:
            thread.join(10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for thread in self._threads:
            thread.join(10)
        for stream in (self.process.stderr, self.process.stdout):
            if stream is not None:
                stream.close()


def _config(routes: dict[str, str], upstreams: dict[str, str], *, log: bool = True) -> str:
    text = '[gateway]\nport = 0\nadmin_port = 0\nname = "reloading"\n' + ('access_log = "-"\n' if log else "")
    for name, body in upstreams.items():
        text += f"[upstreams.{name}]\n{body}\n"
    for prefix, upstream in routes.items():
        text += f'[[routes]]\nprefix = "{prefix}"\nupstream = "{upstream}"\n'
    return text


def test_sighup_reloads_without_dropping_connections(
    simulator_factory: Any, echo_upstream: str, tmp_path: Path
) -> None:
    sim: Simulator = simulator_factory(fault_scenario('{ kind = "latency", delay = 0.8 }', routes="/v1/slow*"))
    dead = f"http://127.0.0.1:{_closed_port()}"
    dead_upstream = (
        f'url = "{dead}"\nretry = {{ attempts = 1 }}\nbreaker = {{ consecutive_failures = 1, open_for = "1m" }}'
    )
    config = tmp_path / "gateway.toml"
    config.write_text(_config({"/a": "a", "/dead": "dead"}, {"a": f'url = "{sim.base_url}/v1"', "dead": dead_upstream}))
    gw = GatewayProcess(config, {"UPSTREAMKIT_TEST_RELOAD_SECRET": SECRET})
    try:
        keep_alive = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        keep_alive.request("GET", "/a/first")
        first = keep_alive.getresponse()
        assert (first.status, json.loads(first.read())["path"]) == (200, "/v1/first")
        sock = keep_alive.sock
        assert httpx.get(gw.url("/dead/x"), timeout=10).json()["kind"] == "connection_refused"
        assert gw.admin("/readyz").json()["upstreams"]["dead"]["breaker"] == "open"

        # v2: /a moves to the echo upstream (with a credential from the environment), /b is new; dead unchanged.
        creds = 'credentials = { type = "static", secret_env = "UPSTREAMKIT_TEST_RELOAD_SECRET" }'
        v2 = _config(
            {"/a": "a", "/b": "b", "/dead": "dead"},
            {"a": f'url = "{echo_upstream}/e"\n{creds}', "b": f'url = "{sim.base_url}/v1"', "dead": dead_upstream},
        )
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(httpx.get, gw.url("/a/slow"), timeout=10)
            wait_until(lambda: any(e.path == "/v1/slow" for e in sim.ledger.entries()))  # in flight upstream
            config.write_text(v2)
            assert gw.reload().startswith("reloaded: 3 route(s)")
            in_flight = slow.result(10)
        assert (in_flight.status_code, in_flight.json()["path"]) == (200, "/v1/slow")  # finished on the old route

        keep_alive.request("GET", "/a/second", headers={"Authorization": "Bearer caller-token"})
        second = keep_alive.getresponse()
        echoed = json.loads(second.read())
        assert second.status == 200
        assert keep_alive.sock is sock  # the same connection, open across the reload
        assert echoed["target"] == "/e/second"  # the new route
        assert ["Authorization", f"Bearer {SECRET}"] in echoed["headers"]
        assert httpx.get(gw.url("/b/new"), timeout=10).json()["path"] == "/v1/new"
        assert gw.admin("/readyz").json()["upstreams"]["dead"]["breaker"] == "open"  # unchanged: state kept

        # A bad file changes nothing: one error line naming the key, counted, the running config kept.
        config.write_text(v2.replace('prefix = "/b"', 'prefix = "/b"\nweight = 3'))
        line = gw.reload()
        assert line.startswith("error: reload refused, the running config is kept: ")
        assert "routes[1].weight: unknown key" in line
        assert httpx.get(gw.url("/b/still"), timeout=10).json()["path"] == "/v1/still"
        metrics = gw.admin("/metrics").text
        assert 'upstreamkit_gateway_config_reloads_total{result="ok"} 1.0' in metrics
        assert 'upstreamkit_gateway_config_reloads_total{result="error"} 1.0' in metrics
        status = gw.admin("/status").text
        keep_alive.close()
        assert gw.stop() == 0
    finally:
        gw.kill()
    said = "".join(gw.stderr) + "".join(gw.stdout) + metrics + status
    assert SECRET not in said
    assert sum(1 for text in gw.stderr if text.startswith("error:")) == 1
    log = [json.loads(text) for text in gw.stdout]
    assert {entry["gateway"] for entry in log} == {"reloading"}
    assert len(log) >= 6


def test_reload_keeps_state_and_tokens_of_unchanged_upstreams(
    echo_upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    breaker = 'retry = { attempts = 1 }\nbreaker = { consecutive_failures = 1, open_for = "1m" }'
    monkeypatch.setenv("UPSTREAMKIT_TEST_RELOAD_UNIT", "unit-secret")
    creds = 'credentials = { type = "static", secret_env = "UPSTREAMKIT_TEST_RELOAD_UNIT" }'
    upstreams = {"kept": f'url = "{dead}"\n{breaker}', "moved": f'url = "{dead}/x"\n{breaker}', "echo": ""}
    upstreams["echo"] = f'url = "{echo_upstream}"\n{creds}'
    routes = {"/kept": "kept", "/moved": "moved", "/echo": "echo"}
    running = RunningGateway(parse_config(_config(routes, upstreams, log=False)), clock=FakeClock())
    try:
        for path in ("/kept/a", "/moved/a", "/echo/a"):
            httpx.get(running.url(path), timeout=10)
        assert running.gateway.policies.breakers() == {"kept": "open", "moved": "open", "echo": "closed"}
        injector = running.gateway.injectors["echo"]
        upstreams["moved"] = f'url = "{dead}/y"\n{breaker}'
        new = parse_config(_config(routes, upstreams, log=False).replace("port = 0\n", "port = 1\n", 1))
        fixed = running.call(lambda: running.gateway.reload(new))
        assert fixed == ["port"]  # the listener stays: a restart would be needed
        assert running.gateway.settings.port == 0
        assert running.gateway.policies.breakers() == {"kept": "open", "moved": "closed", "echo": "closed"}
        assert running.gateway.injectors["echo"] is injector
    finally:
        running.stop()


def test_reload_applies_degraded_mode_and_names_the_limits_it_cannot() -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    upstreams = {"dead": f'url = "{dead}"\nretry = {{ attempts = 1 }}\nbreaker = false'}
    text = _config({"/dead": "dead"}, upstreams, log=False)
    running = RunningGateway(parse_config(text), clock=FakeClock())
    try:
        assert httpx.get(running.url("/dead/a"), timeout=10).headers["content-type"] == "application/problem+json"
        upstreams["dead"] += '\nfallback = { status = 503, content_type = "text/plain", body = "later" }'
        limits = "[gateway.limits]\nmax_connections_per_upstream = 4\nstale_cache_bytes = 4096\n"
        new = parse_config(
            _config({"/dead": "dead"}, upstreams, log=False).replace("[upstreams.", limits + "[upstreams.", 1)
        )
        fixed = running.call(lambda: running.gateway.reload(new))
        # The pool and the stale cache are the process's: named for a restart, the rest applied.
        assert fixed == ["max_connections_per_upstream", "stale_cache_bytes"]
        assert running.gateway.settings.max_connections_per_upstream is None
        answer = httpx.get(running.url("/dead/a"), timeout=10)
        assert (answer.status_code, answer.text) == (503, "later")
    finally:
        running.stop()


def test_quick_mode_notes_sighup_and_keeps_serving(echo_upstream: str) -> None:
    gw = GatewayProcess(["--route", f"/e={echo_upstream}", "--port", "0", "--admin-port", "0"], {})
    try:
        # The dashboard's address is printed beside the listeners, and it is served there.
        assert gw.next_line().strip() == f"dashboard http://127.0.0.1:{gw.admin_port}/dashboard"
        assert "<html" in gw.admin("/dashboard").text.lower()
        said = gw.reload()
        assert said.startswith("note: SIGHUP ignored: nothing to reload in quick mode"), said
        assert gw.process.poll() is None  # SIGHUP's default action would have ended the process
        assert httpx.get(gw.url("/e/after"), timeout=10).status_code == 200
        assert gw.stop() == 0
    finally:
        gw.kill()
