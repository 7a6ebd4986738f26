"""The per-key token bucket over loopback: 429 with Retry-After and RateLimit headers once it is empty."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from upstreamkit.simulator import parse_scenario

pytestmark = pytest.mark.integration


def test_bucket_empties_then_refills_on_the_clock(simulator_factory: Any, manual_clock: Any) -> None:
    sim = simulator_factory("rate-limited", clock=manual_clock)
    with httpx.Client(headers={"X-Api-Key": "sim-key-valid"}) as client:
        answers = [client.get(sim.url("/v1/items")) for _ in range(11)]
        assert [answer.status_code for answer in answers] == [200] * 10 + [429]
        first, last = answers[0], answers[-1]
        assert first.headers["ratelimit-policy"] == '"default";q=10;w=1'
        assert first.headers["ratelimit"].startswith('"default";r=9;t=')
        assert first.headers["x-ratelimit-limit"] == "10"
        assert first.headers["x-ratelimit-remaining"] == "9"
        assert last.headers["retry-after"] == "1"
        assert last.headers["ratelimit"] == '"default";r=0;t=1'
        assert last.headers["x-ratelimit-remaining"] == "0"
        assert int(last.headers["x-ratelimit-reset"]) >= int(manual_clock.now)
        assert last.json()["error"] == "rate_limited"
        # Another key has its own bucket.
        other_key = {"Authorization": f"Bearer {sim.issue_token()}"}
        other = client.get(sim.url("/v1/items"), headers=other_key)
        assert other.status_code == 200
        manual_clock.advance(0.1)  # one token refills in 0.1 s
        assert client.get(sim.url("/v1/items")).status_code == 200
        assert client.get(sim.url("/v1/items")).status_code == 429


def test_retry_after_as_http_date_and_503(simulator_factory: Any, manual_clock: Any) -> None:
    scenario = parse_scenario(
        """
        name = "dated"
        [rate_limit]
        enabled = true
        limit = 2
        window = 10
        status = 503
        retry_after_format = "http-date"
        x_reset = "delta"
        [[phases]]
        name = "only"
        """
    )
    sim = simulator_factory(scenario, clock=manual_clock)
    with httpx.Client() as client:
        codes = [client.get(sim.url("/v1/items")).status_code for _ in range(2)]
        refused = client.get(sim.url("/v1/items"))
    assert codes == [200, 200]
    assert refused.status_code == 503
    when = parsedate_to_datetime(refused.headers["retry-after"]).timestamp()
    assert when >= manual_clock.now + 5  # one token every 5 s: never early
    assert refused.headers["x-ratelimit-reset"] == "10"  # a delta: the bucket is full again in 10 s
