"""The demo's gateway act: the gateway in front of the simulator's incident, and what its callers see.

A gateway on a free loopback port forwards ``/api`` to the incident simulator (healthy → outage → partial
recovery → healthy, squeezed into a few seconds) and ``/legacy`` to an upstream that answers raw ``600`` status
lines. Plain ``httpx`` callers (no resilience of their own) send requests through it; every failure reaches them
as the one envelope: an RFC 9457 problem+json body with ``code: 600`` and its ``kind``, a ``Proxy-Status``
header, ``Retry-After`` when known. Then the act reads the admin listener's ``/status`` and ``/metrics``, prints
the dashboard's address, and stops the gateway and the simulators.

The gateway answers within a short deadline here (1 s) so that callers get the envelope during the outage
instead of waiting for the upstream's Retry-After: the demo is about what they see.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from upstreamkit.core.retry import RetryPolicy
from upstreamkit.gateway import Gateway, GatewaySettings, RoutePolicy, parse_route
from upstreamkit.simulator import Simulator

__all__ = ["GatewayActResult", "run_gateway_act"]

CLIENTS = 4
INTERVAL = 0.05
"""Seconds between two requests of one caller."""
_TIMEOUT = 10.0
_EXTRA_ROUNDS, _EXTRA_SECONDS = 4, 0.5
"""At most 2 s more traffic when the incident has not ended with the planned traffic (a loaded machine)."""
_BODY_FIELDS = ("type", "title", "status", "code", "error", "kind", "upstream", "upstream_status", "retry_after")
"""The envelope's fields the act shows (``detail``, ``instance`` and ``request_id`` are left out to fit)."""


@dataclass(slots=True)
class GatewayActResult:
    """What the callers got through the gateway, and what its admin listener said afterwards."""

    seen: Counter[tuple[int, str]] = field(default_factory=Counter)
    """(status, kind) → responses; kind ``-`` for an upstream's answer passed on."""
    examples: dict[str, httpx.Response] = field(default_factory=dict)
    """The first enveloped response of each kind."""
    status: dict[str, Any] = field(default_factory=dict)
    """The admin ``/status`` document after the traffic."""
    metrics: str = ""
    """The admin ``/metrics`` text after the traffic."""
    dashboard: str = ""
    problem: str = ""

    @property
    def ok(self) -> bool:
        """Every failure came as the envelope, and the upstream's incident ended."""
        return not self.problem


class _GatewayThread:
    """A :class:`Gateway` on its own event loop in a thread, so the callers can be plain blocking clients."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.gateway = Gateway(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-gateway", daemon=True)

    def __enter__(self) -> _GatewayThread:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.gateway.start(), self._loop).result(_TIMEOUT)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.gateway.stop(1.0), self._loop).result(_TIMEOUT)
        finally:
            self._close()

    def _close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_TIMEOUT)
        self._loop.close()


def _is_envelope(response: httpx.Response) -> bool:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") == 600 and "proxy-status" in response.headers


def _drive(base: str, result: GatewayActResult, duration: float, *, others: bool = True) -> None:
    """Callers send GET /api/items until ``duration`` is up; with ``others``, a few requests also go to /legacy
    and to a route that does not exist."""
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def record(response: httpx.Response) -> None:
        enveloped = response.status_code >= 400 and _is_envelope(response)
        kind = str(response.json()["kind"]) if enveloped else "-"
        with lock:
            result.seen[(response.status_code, kind)] += 1
            if enveloped:
                result.examples.setdefault(kind, response)
            elif response.status_code >= 400 and not result.problem:
                result.problem = f"a {response.status_code} reached a caller without the envelope"

    def worker(index: int) -> None:
        with httpx.Client(base_url=base, timeout=_TIMEOUT) as client:
            try:
                if index == 0 and others:
                    for path in ("/legacy/items", "/legacy/items", "/admin/secrets"):
                        record(client.get(path))
                for _ in range(int(duration / INTERVAL) + 1):  # bounded in count as well as in time
                    if time.monotonic() >= deadline:
                        break
                    record(client.get("/api/items"))
                    time.sleep(INTERVAL)
            except httpx.HTTPError as exc:  # the gateway must always answer: no answer is the act failing
                with lock:
                    result.problem = result.problem or f"a caller got no answer from the gateway: {exc!r}"

    threads = [threading.Thread(target=worker, args=(i,), name=f"demo-caller-{i}") for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + _TIMEOUT)


def run_gateway_act(console: Console, *, duration: float = 3.5) -> GatewayActResult:
    """Run the act (about ``duration`` seconds of traffic), print what it showed, return it."""
    result = GatewayActResult()
    # The incident (12 s at scale 1) ends at 60% of the traffic: the rest shows the recovery.
    scale = duration * 0.6 / 12.0
    policy = RoutePolicy(retry=RetryPolicy(attempts=2, deadline=1.0, per_try_timeout=0.5))
    with Simulator("incident", seed=1, time_scale=scale) as incident, Simulator("status-600", seed=1) as legacy:
        routes = (parse_route(f"/api={incident.base_url}/v1"), parse_route(f"/legacy={legacy.base_url}/v1"))
        settings = GatewaySettings(routes=routes, port=0, admin_port=0, policy=policy, timeout=1.0)
        with _GatewayThread(settings) as running:
            gateway = running.gateway
            base, admin = f"http://127.0.0.1:{gateway.port}", f"http://127.0.0.1:{gateway.admin_port}"
            console.rule("4. the gateway: one envelope for every upstream failure")
            console.print(
                f"gateway {base}: /api → the incident simulator, /legacy → an upstream answering raw 600s; "
                f"admin {admin}"
            )
            incident.reset(timeline=True)
            with console.status(f"{CLIENTS} callers through the gateway for {duration:g} s ..."):
                _drive(base, result, duration)
            with httpx.Client(base_url=admin, timeout=_TIMEOUT) as client:
                result.status = client.get("/status").json()
                # On a slow machine the probe that ends the incident may come after the traffic: a little more.
                for _ in range(_EXTRA_ROUNDS):
                    if _recovered(result.status):
                        break
                    _drive(base, result, _EXTRA_SECONDS, others=False)
                    result.status = client.get("/status").json()
                result.metrics = client.get("/metrics").text
            result.dashboard = f"{admin}/dashboard"
    _judge(result)
    _show(console, result)
    return result


def _recovered(status: dict[str, Any]) -> bool:
    api = status.get("upstreams", {}).get("api", {})
    return api.get("last_incident") is not None and api.get("incident") is None


def _judge(result: GatewayActResult) -> None:
    if result.problem:
        return
    if not result.examples:
        result.problem = "no caller saw the envelope"
    elif not _recovered(result.status):
        result.problem = "the gateway saw the incident of /api go on to the end"


def _show(console: Console, result: GatewayActResult) -> None:
    table = Table(title="what the callers got through the gateway", title_justify="left")
    for name in ("status", "kind", "responses", "Proxy-Status"):
        table.add_column(name, justify="right" if name == "responses" else "left")
    for (status, kind), count in sorted(result.seen.items()):
        example = result.examples.get(kind)
        proxy_status = example.headers["proxy-status"] if example is not None else ""
        table.add_row(str(status), kind, str(count), _trim(proxy_status, 70))
    console.print(table)
    shown = next((result.examples[k] for k in ("upstream_outage", "upstream_600") if k in result.examples), None)
    if shown is None and result.examples:
        shown = next(iter(result.examples.values()))
    if shown is not None:
        body = shown.json()
        console.print(f"one envelope as a caller got it (trimmed): HTTP {shown.status_code}")
        for name in ("content-type", "proxy-status", "retry-after", "x-request-id"):
            if name in shown.headers:
                console.print(f"  {_trim(f'{name}: {shown.headers[name]}', 110)}", soft_wrap=True)
        trimmed = {key: body.get(key) for key in _BODY_FIELDS}
        console.print(f"  {json.dumps(trimmed)}", soft_wrap=True)
    console.print("admin /status after the traffic:")
    for name, upstream in sorted(result.status.get("upstreams", {}).items()):
        console.print(f"  {_status_line(name, upstream)}", soft_wrap=True)
    console.print(
        f"dashboard: [bold]{result.dashboard}[/] (served while a gateway runs; this one has stopped: run "
        "[bold]upstreamkit gateway --route /api=URL[/] for yours)\n"
        "Prometheus rules and a Grafana dashboard over its /metrics: "
        "[bold]python -m upstreamkit.gateway.observability rules|grafana[/]"
    )


def _status_line(name: str, upstream: dict[str, Any]) -> str:
    recent = upstream.get("recent", {})
    rate = recent.get("error_rate")
    kinds = ", ".join(f"{kind} {share:.0%}" for kind, share in recent.get("error_rate_by_kind", {}).items())
    breaker = upstream.get("breaker")
    line = f"{name}: {'no breaker' if breaker is None else f'breaker {breaker}'}, {recent.get('requests', 0)} requests"
    line += f", error rate {rate:.0%}" if rate is not None else ""
    line += f" ({kinds})" if kinds else ""
    last = upstream.get("last_incident")
    if last is not None:
        line += f"; last incident recovered in {last['time_to_recover_s']:.1f} s"
    if upstream.get("incident") is not None:
        line += f"; incident ongoing for {upstream['incident']['ongoing_s']:.1f} s"
    return line


def _trim(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
