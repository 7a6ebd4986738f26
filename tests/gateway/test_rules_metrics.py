"""The rules and the dashboard cannot drift from the code: every metric, label and label value they name is in a
real gateway's /metrics after traffic (the demo's gateway act: the simulator's incident, a raw-600 upstream,
an unknown route)."""

from __future__ import annotations

import io
import re
from collections import defaultdict

import pytest
from observability_support import (
    Selector,
    dashboard_expressions,
    grouping_labels,
    rule_expressions,
    run_promtool,
    selectors,
    variable_queries,
)
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from upstreamkit.cli.gateway_act import GatewayActResult, run_gateway_act
from upstreamkit.errors import ErrorKind

pytestmark = pytest.mark.integration

SCRAPE_LABELS = {"job", "instance"}
"""Labels Prometheus adds when it scrapes."""
SCRAPE_SERIES = {"up"}
"""Series Prometheus makes itself, per target."""
KINDS = {kind.value for kind in ErrorKind}


@pytest.fixture(scope="module")
def act() -> GatewayActResult:
    result = run_gateway_act(Console(file=io.StringIO(), width=132), duration=3.5)
    assert result.ok, result.problem
    return result


@pytest.fixture(scope="module")
def exposed(act: GatewayActResult) -> dict[str, dict[str, set[str]]]:
    """Sample name → label → the values seen, from the gateway's /metrics."""
    series: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for family in text_string_to_metric_families(act.metrics):
        for sample in family.samples:
            labels = series[sample.name]
            for label, value in sample.labels.items():
                labels[label].add(value)
    return series


def _all_expressions() -> dict[str, str]:
    return {**rule_expressions(), **dashboard_expressions(), **variable_queries()}


def _check_selector(where: str, selector: Selector, exposed: dict[str, dict[str, set[str]]]) -> None:
    """The metric has samples, with every label the selector matches on, and every literal value it names."""
    assert selector.metric in exposed, f"{where}: {selector.metric} is not in a real gateway's /metrics"
    labels = exposed[selector.metric]
    for label, op, value in selector.matchers:
        if label in SCRAPE_LABELS:
            continue
        assert label in labels, f"{where}: {selector.metric} has no label {label!r} (it has {sorted(labels)})"
        if op in ("=", "!="):
            assert value in labels[label], f"{where}: {selector.metric}{{{label}={value!r}}} never appears"
        elif re.fullmatch(r"[a-z0-9_|]+", value):  # a list of literal values, not a pattern
            for alternative in value.split("|"):
                known = KINDS if label in ("kind", "outcome") else labels[label]
                assert alternative in known, f"{where}: {label}={alternative!r} is no value of {selector.metric}"


def test_every_metric_the_rules_and_dashboard_name_is_exposed_with_samples(
    exposed: dict[str, dict[str, set[str]]],
) -> None:
    named: set[str] = set()
    for where, expr in _all_expressions().items():
        for selector in selectors(expr):
            named.add(selector.metric)
            if selector.metric in SCRAPE_SERIES:
                continue
            _check_selector(where, selector, exposed)
    # The check covered the series the rules are about (the reader found them, not an empty set).
    assert {
        "upstreamkit_gateway_requests_total",
        "upstreamkit_upstream_request_duration_seconds_bucket",
        "upstreamkit_upstream_breaker_state",
        "upstreamkit_upstream_breaker_transitions_total",
        "upstreamkit_upstream_time_to_recover_seconds_bucket",
        "upstreamkit_upstream_errors_total",
        "up",
    } <= named


def _check_grouping(where: str, expr: str, exposed: dict[str, dict[str, set[str]]]) -> None:
    """Every label an expression groups or matches by is a label of one of its metrics (or a scrape label)."""
    metrics = {selector.metric for selector in selectors(expr)} - SCRAPE_SERIES
    labels = SCRAPE_LABELS.union(*(exposed[metric].keys() for metric in metrics))
    if re.search(r"\b[a-z_]+:[a-zA-Z0-9_:]+", expr):  # an alert over a recorded series: the recording's grouping
        labels |= {"route", "upstream"}
    missing = grouping_labels(expr) - labels
    assert not missing, f"{where}: groups by {missing}, which no metric in it has"


def test_every_grouping_label_belongs_to_a_metric_of_its_expression(exposed: dict[str, dict[str, set[str]]]) -> None:
    for where, expr in _all_expressions().items():
        _check_grouping(where, expr, exposed)


def test_the_checks_catch_a_misspelt_name(exposed: dict[str, dict[str, set[str]]]) -> None:
    """The drift check is not vacuous: a name, a label or a value the code does not expose fails it."""
    for broken in (
        'sum(rate(upstreamkit_gateway_request_total{kind!="none"}[5m]))',
        'sum(rate(upstreamkit_gateway_requests_total{outcome!="none"}[5m]))',
        'sum(rate(upstreamkit_gateway_requests_total{kind!="nothing"}[5m]))',
        'sum(rate(upstreamkit_upstream_errors_total{is_600="yes"}[5m]))',
    ):
        (selector,) = selectors(broken)
        with pytest.raises(AssertionError):
            _check_selector("broken", selector, exposed)
    with pytest.raises(AssertionError):
        _check_grouping("broken", "sum by (rout) (rate(upstreamkit_gateway_requests_total[5m]))", exposed)


@pytest.mark.engine
def test_promtool_finds_nothing_to_say_about_the_real_metrics(act: GatewayActResult) -> None:
    """The exposition the rules read parses as Prometheus text and passes ``promtool check metrics``'s lint
    (names, units, counters' ``_total``)."""
    result = run_promtool("check", "metrics", stdin=act.metrics)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""
