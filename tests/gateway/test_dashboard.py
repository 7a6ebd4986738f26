"""``/dashboard`` opened in headless Chromium while the real gateway stands in front of the simulator's scripted
outage: the charts are drawn from the live ``/series`` and ``/status`` (what the test measured), and a
screenshot is saved."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
from gateway_support import RunningGateway

from browser_support import Chromium, elements, in_chart, read_png, save_artifact
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.gateway import GatewaySettings, parse_route
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.simulator.scenario import Scenario, parse_scenario
from upstreamkit.simulator.testing import SimulatorFactory

pytestmark = [pytest.mark.integration, pytest.mark.engine]

TIME_SCALE = 0.4
"""outage-3s at 0.4: healthy 0-1.2 s, every /v1 request 503 from 1.2 to 2.4 s, healthy after."""
TRAFFIC_S = 3.4
MAX_REQUESTS = 5_000


def _outage() -> Scenario:
    text = (files("upstreamkit.simulator") / "scenarios" / "outage-3s.toml").read_text(encoding="utf-8")
    head, _, phases = text.partition("[[phases]]")
    return parse_scenario(f'{head}\n[auth]\nmode = "none"\n\n[[phases]]{phases}')


def _ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000


@pytest.fixture
def outage_traffic(simulator_factory: SimulatorFactory) -> Iterator[tuple[RunningGateway, list[int]]]:
    """A gateway through the outage, with the default breaker and one attempt per request (retries would carry
    a lone sequential caller through most of it); the statuses its caller saw."""
    sim = simulator_factory(_outage(), time_scale=TIME_SCALE)
    settings = GatewaySettings(
        routes=(parse_route(f"/pay={sim.base_url}/v1"),),
        port=0,
        admin_port=0,
        policy=RoutePolicy(retry=RetryPolicy(attempts=1)),
    )
    gateway = RunningGateway(settings)
    statuses: list[int] = []
    deadline = time.monotonic() + TRAFFIC_S
    with httpx.Client(base_url=gateway.url(), timeout=5) as client:
        for number in range(MAX_REQUESTS):
            if time.monotonic() >= deadline:
                break
            statuses.append(client.get(f"/pay/orders/{number}").status_code)
    yield gateway, statuses
    gateway.stop()


def test_dashboard_draws_the_live_metrics(
    outage_traffic: tuple[RunningGateway, list[int]], chromium: Chromium, tmp_path: Path
) -> None:
    gateway, statuses = outage_traffic
    failed = sum(status >= 500 for status in statuses)
    assert failed, "the scripted outage produced no failure: the scenario did not run"
    assert len(statuses) > failed, "no request succeeded around the outage"
    with httpx.Client(timeout=5) as admin:
        page = admin.get(gateway.admin_url("/dashboard"))
        series = admin.get(gateway.admin_url("/series")).json()
        status = admin.get(gateway.admin_url("/status")).json()
    assert page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere
    (name,) = status["upstreams"]
    upstream = status["upstreams"][name]
    assert upstream["last_incident"] is not None, "the gateway saw no recovered incident"
    assert sum(bucket["requests"] for bucket in series["buckets"]) == len(statuses)
    assert any(change["new"] == "open" for change in series["breaker_changes"])

    found = elements(chromium.dump_dom(gateway.admin_url("/dashboard")))
    body = next(element for element in found if element.tag == "body")
    assert "data-error" not in body.attrs
    assert int(body.attrs["data-polls"]) >= 1

    # requests by status class: every request sent is one unit of a drawn column
    columns = [element for element in in_chart(found, "classes") if "bar" in element.classes]
    assert sum(int(column.attrs["data-value"]) for column in columns) == len(statuses)
    drawn_5xx = sum(int(column.attrs["data-value"]) for column in columns if column.attrs["data-name"] == "5xx")
    assert drawn_5xx == failed

    # the 600 rate: non-zero during the outage, the same peak as /series, the incident shaded where /status says
    rate = in_chart(found, "rate_600")
    line = next(element for element in rate if element.attrs.get("data-name") == "all")
    peak, peak_t = max((bucket["rate_600"] or 0, bucket["t"]) for bucket in series["buckets"])
    incident = upstream["last_incident"]
    assert peak > 0
    assert _ms(incident["started"]) - 1000 < _ms(peak_t) <= _ms(incident["recovered"])  # its second overlaps it
    for bucket in series["buckets"]:  # and no second wholly before or after the incident had a failure
        if _ms(bucket["t"]) + 1000 <= _ms(incident["started"]) or _ms(bucket["t"]) > _ms(incident["recovered"]):
            assert not bucket["failures"], bucket
    assert float(line.attrs["data-max"]) == pytest.approx(peak)
    assert int(line.attrs["data-points"]) == sum(1 for bucket in series["buckets"] if bucket["requests"])
    (shade,) = (element for element in rate if "shade" in element.classes)
    assert _ms(shade.attrs["data-start"]) == pytest.approx(_ms(incident["started"]), abs=1)
    assert _ms(shade.attrs["data-end"]) == pytest.approx(_ms(incident["recovered"]), abs=1)

    # latency per upstream, breaker state as /status says, with the open span the outage caused
    latency = {element.attrs.get("data-name"): element for element in in_chart(found, "latency")}
    assert int(latency[f"{name} p99"].attrs["data-points"]) >= 2
    card = next(element for element in found if element.attrs.get("data-upstream") == name and element.tag == "div")
    assert card.attrs["data-breaker"] == upstream["breaker"]
    assert upstream["breaker"] in card.text
    states = {element.attrs["data-state"] for element in in_chart(found, "breakers") if "state" in element.classes}
    assert "open" in states
    assert upstream["breaker"] in states
    kinds = {element.attrs["data-label"] for element in in_chart(found, "kinds") if "bar" in element.classes}
    assert kinds == {kind for bucket in series["buckets"] for kind in bucket["by_kind"]}
    incident_table = next(element for element in found if element.attrs.get("id") == "incidents")
    assert f"{upstream['last_incident']['time_to_recover_s']} s" in incident_table.text

    shot = chromium.screenshot(gateway.admin_url("/dashboard"), tmp_path / "gateway-dashboard.png")
    save_artifact(shot)
    png = read_png(shot)
    assert (png.width, png.height) == (1280, 900)
    assert png.distinct_rows > 100, "the screenshot is (nearly) one flat colour"
