"""The gateway's own access log, written by the real gateway in front of the simulator through a scripted
outage: the analysis finds the outage's start and end within one bucket, its kind and where it happened."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import httpx
import pytest

from upstreamkit.analyze import AnalyzeOptions, run
from upstreamkit.core.redact import fingerprint
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.gateway import Gateway, GatewaySettings, parse_route
from upstreamkit.gateway.accesslog import FIELDS
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.simulator.scenario import Scenario, parse_scenario
from upstreamkit.simulator.testing import SimulatorFactory

pytestmark = pytest.mark.integration

TIME_SCALE = 0.5
"""outage-3s at half time: healthy 0-1.5 s, 503 on every /v1 request 1.5-3 s, healthy after."""
OUTAGE = (3 * TIME_SCALE, 6 * TIME_SCALE)
BUCKET_S = 0.25
TRAFFIC_S = 4.5
MAX_REQUESTS = 20_000
TOKEN = "sk_live_analyze_incident_token"


def _outage_scenario() -> Scenario:
    """The shipped ``outage-3s`` timeline, with the simulator's auth off (the test's token is not its own)."""
    text = (files("upstreamkit.simulator") / "scenarios" / "outage-3s.toml").read_text(encoding="utf-8")
    head, _, phases = text.partition("[[phases]]")
    return parse_scenario(f'{head}\n[auth]\nmode = "none"\n\n[[phases]]{phases}')


def _serve(settings: GatewaySettings, log_path: Path, traffic: Callable[[str], None]) -> None:
    gateway = Gateway(settings)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="gateway-for-analyze", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(10)
        traffic(f"http://127.0.0.1:{gateway.port}")
    finally:
        asyncio.run_coroutine_threadsafe(gateway.stop(None), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    assert log_path.exists()


def sequential_traffic(
    seen: list[tuple[float, int]], seconds: float, headers: dict[str, str] | None = None
) -> Callable[[str], None]:
    """One caller sending GET /pay/orders/N back to back for ``seconds``; (sent at, status) into ``seen``."""

    def traffic(base: str) -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(base_url=base, timeout=5, headers=headers) as client:
            for number in range(MAX_REQUESTS):
                if time.monotonic() >= deadline:
                    break
                sent = time.time()  # when the request left: the gateway logs its arrival, not its answer
                status = client.get(f"/pay/orders/{number}").status_code
                seen.append((sent, status))

    return traffic


def outage_log(
    upstream: str, log_path: Path, seconds: float, headers: dict[str, str] | None = None
) -> list[tuple[float, int]]:
    """The gateway in front of ``upstream`` (the simulator's base URL), logging to ``log_path``, while one caller
    sends for ``seconds``; what the caller saw: (sent at, status).

    One attempt, no breaker, no budget: every request of the outage reaches the log as a failure. (With the
    default policy the gateway's retries carry a lone sequential caller through a 1.5 s outage: no failure.)"""
    settings = GatewaySettings(
        routes=(parse_route(f"/pay={upstream}/v1"),),
        port=0,
        admin_port=0,
        access_log=str(log_path),
        policy=RoutePolicy(retry=RetryPolicy(attempts=1), breaker=None, budget=None),
    )
    seen: list[tuple[float, int]] = []
    _serve(settings, log_path, sequential_traffic(seen, seconds, headers))
    return seen


def test_the_outage_is_found_within_one_bucket(simulator_factory: SimulatorFactory, tmp_path: Path) -> None:
    log_path = tmp_path / "access.jsonl"
    before = time.time()
    sim = simulator_factory(_outage_scenario(), time_scale=TIME_SCALE)
    after = time.time()
    seen = outage_log(sim.base_url, log_path, TRAFFIC_S, {"Authorization": f"Bearer {TOKEN}"})
    failed_at = [moment for moment, status in seen if status >= 500]
    assert failed_at, "the scripted outage produced no failure: the scenario did not run"
    truth_start, truth_end = min(failed_at), max(failed_at)
    # the truth as the client saw it agrees with the script (the outage ran when it was meant to)
    assert before + OUTAGE[0] - BUCKET_S <= truth_start <= after + OUTAGE[0] + BUCKET_S

    lines = log_path.read_text().splitlines()
    assert set(json.loads(lines[0])) == set(FIELDS)
    document = run([str(log_path)], AnalyzeOptions(bucket_s=BUCKET_S))

    assert document["formats"][0]["format"] == "upstreamkit"
    assert document["unparsed"] == 0
    assert document["parsed"] == document["lines"] == len(lines) == len(seen)
    assert len(document["incidents"]) == 1
    incident = document["incidents"][0]
    start = _epoch(incident["start"])
    end = _epoch(incident["end"])
    assert abs(start - truth_start) <= BUCKET_S
    assert abs(end - truth_end) <= BUCKET_S
    assert incident["time_to_recover_s"] == pytest.approx(OUTAGE[1] - OUTAGE[0], abs=2 * BUCKET_S)
    assert incident["failures"] == len(failed_at)
    assert set(incident["kinds"]) == {"upstream_outage"}
    assert incident["top"]["endpoint"] == "/pay/orders/{id}"
    assert incident["top"]["upstream"] is not None
    assert incident["top"]["credential"] == fingerprint(TOKEN)
    assert incident["peak_rate"] == 1.0
    by_credential = document["clusters"]["by_credential"]
    assert by_credential[0]["key"] == fingerprint(TOKEN)
    assert TOKEN not in json.dumps(document)
    assert sum(bucket["requests"] for bucket in document["series"]) == len(seen)
    assert document["latency"]["p50"] is not None


def _epoch(text: str) -> float:
    from datetime import datetime  # noqa: PLC0415 - only here

    return datetime.fromisoformat(text).timestamp()
