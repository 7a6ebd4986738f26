"""Helpers for the gateway's tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from upstreamkit.clock import Clock
from upstreamkit.gateway import Gateway, GatewaySettings
from upstreamkit.gateway.upstream import Resolver
from upstreamkit.simulator.scenario import Scenario, parse_scenario

__all__ = ["RunningGateway", "fault_scenario", "wait_until"]

_TIMEOUT = 10.0
_POLLS = 1000  # bounded waits for an event, 10 ms apart: at most 10 s
T = TypeVar("T")


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail after 10 s."""
    for _ in range(_POLLS):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("the condition did not hold within 10 s")


class RunningGateway:
    """A :class:`Gateway` served by its own event loop in a daemon thread (the tests call it with httpx)."""

    def __init__(
        self, settings: GatewaySettings, resolver: Resolver | None = None, *, clock: Clock | None = None
    ) -> None:
        self.gateway = Gateway(settings, resolver=resolver, clock=clock, rng=random.Random(1))
        self.clock = self.gateway.clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gateway-under-test", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.gateway.start(), self._loop).result(_TIMEOUT)
        self.stopped = False

    def call(self, function: Callable[[], T]) -> T:
        """``function()`` run on the gateway's loop thread (as a signal handler runs), its result returned."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_TIMEOUT)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.gateway.port}{path}"

    def admin_url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.gateway.admin_port}{path}"

    def stop(self, drain_timeout: float | None = None) -> None:
        if self.stopped:
            return
        self.stopped = True
        asyncio.run_coroutine_threadsafe(self.gateway.stop(drain_timeout), self._loop).result(_TIMEOUT + 20)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_TIMEOUT)
        self._loop.close()


def fault_scenario(fault: str, *, routes: str = "/v1/*") -> Scenario:
    """A scenario whose one phase serves ``fault`` (a TOML inline table) on ``routes``, always."""
    text = f"""
name = "test"
[auth]
mode = "none"
[[phases]]
name = "failing"
start = 0
[phases.routes."{routes}"]
faults = [{fault}]
"""
    return parse_scenario(text)
