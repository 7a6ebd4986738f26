"""The ``analyze --html`` report of a real gateway log through a scripted outage, opened in headless Chromium:
the incident is shaded where the outage was (the test knows when it began and ended), every chart is drawn
from the embedded data, and a screenshot is saved."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from test_gateway_incident import _outage_scenario, outage_log
from typer.testing import CliRunner

from browser_support import Chromium, elements, in_chart, read_png, save_artifact
from upstreamkit.cli.app import app
from upstreamkit.simulator.testing import SimulatorFactory

pytestmark = [pytest.mark.integration, pytest.mark.engine]

TIME_SCALE = 0.3
"""outage-3s at 0.3: healthy 0-0.9 s, 503 on every /v1 request 0.9-1.8 s, healthy after."""
TRAFFIC_S = 2.7
BUCKET_S = 0.25
PAD_L, PAD_R = 48, 12
"""The margins of a time chart's plot area in charts.js."""


def _ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000


def test_report_shades_the_outage_where_it_was(
    simulator_factory: SimulatorFactory, chromium: Chromium, tmp_path: Path
) -> None:
    log_path = tmp_path / "access.jsonl"
    sim = simulator_factory(_outage_scenario(), time_scale=TIME_SCALE)
    seen = outage_log(sim.base_url, log_path, TRAFFIC_S)
    failed_at = [moment * 1000 for moment, status in seen if status >= 500]
    assert failed_at, "the scripted outage produced no failure: the scenario did not run"

    report = tmp_path / "analyze-report.html"
    result = CliRunner().invoke(app, ["analyze", str(log_path), "--bucket", "250ms", "--json", "--html", str(report)])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    (incident,) = document["incidents"]

    found = elements(chromium.dump_dom(report.as_uri(), budget_ms=1000))
    body = next(element for element in found if element.tag == "body")
    assert body.attrs.get("data-drawn") == "true"

    rate = in_chart(found, "rate_600")
    (shade,) = (element for element in rate if "shade" in element.classes)
    start, end = _ms(shade.attrs["data-start"]), _ms(shade.attrs["data-end"])
    assert abs(start - min(failed_at)) <= BUCKET_S * 1000  # where the client saw the outage begin
    assert abs(end - max(failed_at)) <= 2 * BUCKET_S * 1000  # and end: the first success after it
    assert start == _ms(incident["start"])
    # drawn at the right place on the time axis
    first, last = _ms(document["series"][0]["t"]), _ms(document["series"][-1]["t"]) + BUCKET_S * 1000
    width = float(rate[0].attrs["viewbox"].split()[2])
    expected_x = PAD_L + (start - first) / (last - first) * (width - PAD_R - PAD_L)
    assert float(shade.attrs["x"]) == pytest.approx(expected_x, abs=0.5)
    line = next(element for element in rate if element.attrs.get("data-name") == "600 rate")
    assert float(line.attrs["data-max"]) == incident["peak_rate"] == 1.0
    assert int(line.attrs["data-points"]) == sum(1 for bucket in document["series"] if bucket["requests"])

    volume = [element for element in in_chart(found, "volume") if "bar" in element.classes]
    assert sum(int(bar.attrs["data-value"]) for bar in volume) == len(seen)
    assert sum(int(bar.attrs["data-value"]) for bar in volume if bar.attrs["data-name"] == "failed") == len(failed_at)
    kinds = {
        bar.attrs["data-label"]: int(bar.attrs["data-value"]) for bar in in_chart(found, "kinds") if bar.tag == "rect"
    }
    assert kinds == document["kinds"] == {"upstream_outage": len(failed_at)}
    latency = {bar.attrs["data-label"] for bar in in_chart(found, "latency") if bar.tag == "rect"}
    assert latency == {"p50", "p95", "p99"}
    endpoints = {bar.attrs["data-label"] for bar in in_chart(found, "by_endpoint") if bar.tag == "rect"}
    assert "/pay/orders/{id}" in endpoints
    incidents = next(element for element in found if element.attrs.get("id") == "incidents")
    assert incident["start"] in incidents.text
    assert f"{incident['time_to_recover_s']} s" in incidents.text

    shot = chromium.screenshot(report.as_uri(), tmp_path / "analyze-report.png", budget_ms=1000)
    save_artifact(shot)
    png = read_png(shot)
    assert (png.width, png.height) == (1280, 900)
    assert png.distinct_rows > 100, "the screenshot is (nearly) one flat colour"
