"""Incident detection over hand-made series, and the template miner: pure functions, no I/O."""

from __future__ import annotations

import pytest

from upstreamkit.analyze.incidents import Bucket, failing_spans
from upstreamkit.analyze.templates import TemplateMiner, mask


def _series(rates: list[tuple[int, int]]) -> list[Bucket]:
    return [Bucket(float(index * 60), requests, failures) for index, (requests, failures) in enumerate(rates)]


def test_one_outage_in_quiet_traffic_is_one_incident() -> None:
    series = _series([(100, 1)] * 5 + [(100, 90), (100, 100), (100, 60)] + [(100, 0)] * 5)
    [span] = failing_spans(series)
    assert (span.first, span.last, span.failures, span.peak_rate) == (5, 7, 250, 1.0)


def test_the_edge_buckets_of_an_outage_belong_to_it() -> None:
    # the outage began a moment before 05:00's end and ended a moment after 08:00 began
    series = _series([(100, 0)] * 4 + [(100, 1), (100, 100), (100, 100), (100, 100), (100, 1)] + [(100, 0)] * 5)
    [span] = failing_spans(series)
    assert (span.first, span.last, span.failures) == (4, 8, 302)
    assert failing_spans(_series([(100, 1)] * 4 + [(100, 100)] * 3 + [(100, 1)] * 4))[0].failures == 300


def test_a_neighbour_bucket_a_little_above_the_normal_rate_is_not_the_outage_s() -> None:
    # 0.3% of 8,000 requests fail normally: 30 is chance (the bench log's incident ended 75 s late so), 90 is not
    quiet = [(8000, 24), (8000, 20), (8000, 26), (8000, 25)]
    outage = [(8000, 5000), (8000, 5000)]
    [span] = failing_spans(_series(quiet + outage + [(8000, 30)] + quiet))
    assert (span.first, span.last) == (4, 5)
    [span] = failing_spans(_series(quiet + outage + [(8000, 90)] + quiet))
    assert (span.first, span.last) == (4, 6)


def test_a_gap_of_one_normal_bucket_joins_a_flapping_upstream_into_one_incident() -> None:
    series = _series([(100, 0)] * 5 + [(100, 80), (100, 2), (100, 80)] + [(100, 0)] * 5)
    [span] = failing_spans(series)
    assert (span.first, span.last) == (5, 7)


def test_two_outages_far_apart_are_two_incidents() -> None:
    series = _series([(100, 0)] * 4 + [(100, 80)] + [(100, 0)] * 4 + [(50, 50)] + [(100, 0)] * 4)
    assert [(span.first, span.last) for span in failing_spans(series)] == [(4, 4), (9, 9)]


@pytest.mark.parametrize(
    "rates",
    [
        [(100, 5)] * 10,  # a steady 5% is the normal rate, not an incident
        [(100, 0)] * 5 + [(1, 1)] + [(100, 0)] * 5,  # one failed call in a quiet bucket
        [(100, 0)] * 5 + [(10, 3)] + [(100, 0)] * 5,  # under the minimum size
        [(0, 0)] * 5,  # no traffic at all
        [],
    ],
)
def test_no_incident(rates: list[tuple[int, int]]) -> None:
    assert failing_spans(_series(rates)) == []


def test_a_bad_baseline_still_shows_a_jump() -> None:
    series = _series([(100, 20)] * 6 + [(100, 95)] * 2 + [(100, 20)] * 6)
    [span] = failing_spans(series)
    assert (span.first, span.last) == (6, 7)


def test_masking_hides_the_variable_parts() -> None:
    text = "connect() failed (111: Connection refused) to 10.0.0.7:8080 id 3f2b8c1e-9a4d-4c7e-8f00-1234567890ab"
    assert mask(text) == "connect() failed (<NUM>: Connection refused) to <IP> id <UUID>"


def test_the_miner_groups_messages_that_differ_in_one_token_and_redacts_examples() -> None:
    miner = TemplateMiner()
    miner.add("upstream timed out reading from alpha", 5)
    miner.add("upstream timed out reading from beta", 3)
    miner.add("invalid token Bearer sk_live_abcdefghijklmnop1234", 1)
    templates = miner.templates()
    assert templates[0] == {
        "template": "upstream timed out reading from <*>",
        "count": 8,
        "example": "upstream timed out reading from alpha",
    }
    assert templates[1]["count"] == 1
    assert "sk_live_abcdefghijklmnop1234" not in str(templates[1]["example"])


def test_the_miner_is_bounded() -> None:
    miner = TemplateMiner(max_templates=3)
    for number in range(50):
        miner.add(f"word{number} alpha{number} beta{number}")
    assert len(miner.templates(limit=100)) == 3
