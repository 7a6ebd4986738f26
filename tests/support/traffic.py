"""Steady client traffic through a proxy during a scripted incident, and the incident's truth as the test saw it.

The script is real time (a proxy's log has real timestamps): the test holds each phase for a fixed wall-clock
stretch, records when it switched, and the analysis must find those moments. The simulator's own timeline is
moved by a :class:`Dial` (its clock), so a phase starts when the test says, not when a timer guesses.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from support.engines import Engine
from upstreamkit.simulator import Simulator
from upstreamkit.simulator.scenario import Scenario, parse_scenario

__all__ = [
    "KEYS",
    "PATHS",
    "REVOKED",
    "Dial",
    "Run",
    "Script",
    "Traffic",
    "Upstreams",
    "Window",
    "api_key",
    "assert_found",
    "hold",
    "keyed_scenario",
    "within_one_bucket",
]

KEYS = ("key-a", "key-b", "key-a", "key-b", "key-a", "key-b", "key-a", "key-b", "key-a", "key-c")
"""The key ids the clients present, in turn: key-c, one request in ten, is the revoked one."""
REVOKED = "key-c"
PATHS = ("/v1/orders/17", "/v1/users/5", "/v1/orders/23", "/v1/users/8", "/v1/orders/4711", "/v1/users/13")
"""What the clients ask, in turn: half orders, half users, ids that analyze masks to ``{id}``."""
MAX_REQUESTS = 20_000
"""A bound on the whole run's requests, whatever the machine's speed."""


def api_key(key_id: str) -> str:
    """The secret of a key id (what ``X-Api-Key`` carries; the log shows only the id)."""
    return f"{key_id}-secret-0123456789"


def hold(seconds: float) -> None:
    """Let the traffic run for a stretch of the script (real time: the proxy stamps its log with it)."""
    time.sleep(seconds)


@dataclass(slots=True)
class Dial:
    """A simulator clock the test turns: the scenario's phase is the one at :attr:`position`."""

    position: float = 0.0

    def __call__(self) -> float:
        return self.position


@dataclass(frozen=True, slots=True)
class Window:
    """When the test made the upstream fail (``start``) and healthy again (``end``), epoch seconds."""

    start: float
    end: float


@dataclass(slots=True)
class Traffic:
    """``threads`` clients sending ``paths`` in turn (with the keys of :data:`KEYS` in turn) to ``base``.

    A context manager: the clients start on enter and stop on exit. ``statuses`` counts what they got."""

    base: str
    paths: Sequence[str]
    threads: int = 4
    pause_s: float = 0.03
    timeout_s: float = 5.0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _budget: itertools.count[int] = field(default_factory=itertools.count)

    def _client(self, offset: int) -> None:
        paths = itertools.cycle(self.paths)
        keys = itertools.cycle(KEYS[offset:] + KEYS[:offset])
        # A connection per request: a kept-alive one that the proxy closes (after an error answer, or its idle
        # timeout) just as the client reuses it fails with "Server disconnected without sending a response",
        # a race of the client's, not an answer of the proxy's (seen once through HAProxy on a loaded machine).
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.base, timeout=self.timeout_s, limits=limits) as client:
            while not self._stop.is_set() and next(self._budget) < MAX_REQUESTS:
                key = next(keys)
                headers = {"X-Api-Key": api_key(key), "X-Api-Key-Id": key}
                try:
                    status = client.get(next(paths), headers=headers).status_code
                except httpx.HTTPError as exc:  # the proxy is the one that answers; an error here is the test's
                    with self._lock:
                        self.errors.append(repr(exc))
                    continue
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                self._stop.wait(self.pause_s)

    def __enter__(self) -> Self:
        for index in range(self.threads):
            worker = threading.Thread(target=self._client, args=(index * 3,), name=f"traffic-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout_s + 5)


def keyed_scenario(name: str, *, fault: str | None = None, route: str = "/v1/*") -> Scenario:
    """The simulator's upstream with auth on (the keys of :data:`KEYS` but the revoked one pass); with ``fault``
    (a TOML inline table list, ``[{ kind = "hang" }]``), those faults on ``route`` while the dial is in 100-200."""
    keys = ", ".join(f'"{api_key(key)}"' for key in sorted(set(KEYS) - {REVOKED}))
    text = f'name = "{name}"\n[auth]\nmode = "optional"\napi_keys = [{keys}]\n'
    if fault:
        text += f'[[phases]]\nname = "fault"\nstart = 100\nend = 200\n[phases.routes."{route}"]\nfaults = {fault}\n'
    else:
        text += '[[phases]]\nname = "healthy"\nstart = 0\n'
    return parse_scenario(text, source_name=name)


def within_one_bucket(found: str, truth: float, bucket_s: float) -> bool:
    """Whether the RFC 3339 time ``found`` falls in the bucket of ``truth`` (epoch seconds) or a neighbour."""
    bucket = math.floor(datetime.fromisoformat(found).timestamp() / bucket_s)
    return abs(bucket - math.floor(truth / bucket_s)) <= 1


@dataclass(frozen=True, slots=True)
class Script:
    """The incident as the test made it: the orders upstream down, later the users upstream faulty."""

    refused: Window
    faulted: Window
    statuses: dict[int, int]


@dataclass(frozen=True, slots=True)
class Run:
    """A played script: the engine that logged it (stopped, its logs kept) and what the test did."""

    engine: Engine
    script: Script


class Upstreams:
    """Two simulators behind the proxy under test, ``orders`` and ``users`` (``users`` runs ``fault`` on
    ``route`` when :meth:`play` turns its dial); a context manager that stops both."""

    def __init__(self, fault: str, route: str = "/v1/*", *, seed: int = 0) -> None:
        self.dial = Dial()
        self.users = Simulator(keyed_scenario("users", fault=fault, route=route), clock=self.dial, seed=seed).start()
        self.orders = Simulator(keyed_scenario("orders")).start()

    def play(self, base: str) -> Script:
        """Traffic through ``base`` while the script runs; what happened when:

        healthy 3 s · orders stopped 2 s (nothing listens: the proxy's connect is refused) · healthy 3 s ·
        the users upstream's fault 2 s · healthy 2.5 s. The healthy stretches outweigh the failing ones: the
        analysis's normal rate is the median bucket's, and a log mostly made of incident has none."""
        with Traffic(base, PATHS) as traffic:
            hold(3.0)
            refused_start = time.time()
            self.orders.stop()
            hold(2.0)
            self.orders = Simulator(keyed_scenario("orders"), port=self.orders.port).start()
            refused_end = time.time()
            hold(3.0)
            self.dial.position = 150.0
            faulted_start = time.time()
            hold(2.0)
            self.dial.position = 300.0
            faulted_end = time.time()
            hold(2.5)
        assert not traffic.errors, traffic.errors[:3]
        return Script(Window(refused_start, refused_end), Window(faulted_start, faulted_end), dict(traffic.statuses))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.orders.stop()
        self.users.stop()


def assert_found(document: dict[str, Any], script: Script, bucket_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Assert what every proxy's log must give of :meth:`Upstreams.play`'s script: two incidents, each within one
    bucket of the truth with its time to recover, the first read to a refused connection (never "outage") on
    the orders endpoint, the second on the users endpoint, and orders on top of ``by_endpoint``. Returns the
    two incidents for the proxy's own checks."""
    incidents = document["incidents"]
    series = [(bucket["t"][11:19], bucket["requests"], bucket["failures"]) for bucket in document["series"]]
    assert len(incidents) == 2, ([(i["start"], i["end"], i["kinds"]) for i in incidents], series)
    refused, faulted = incidents
    for found, truth in ((refused, script.refused), (faulted, script.faulted)):
        assert within_one_bucket(found["start"], truth.start, bucket_s), (found["start"], truth)
        assert within_one_bucket(found["end"], truth.end, bucket_s), (found["end"], truth)
        assert abs(found["time_to_recover_s"] - (truth.end - truth.start)) <= 2 * bucket_s
    assert max(refused["kinds"], key=refused["kinds"].get) == "connection_refused", refused["kinds"]
    assert "upstream_outage" not in refused["kinds"], refused["kinds"]
    assert refused["top"]["endpoint"] == "/v1/orders/{id}"
    assert faulted["top"]["endpoint"] == "/v1/users/{id}"
    assert document["clusters"]["by_endpoint"][0]["key"] == "/v1/orders/{id}"
    return refused, faulted
