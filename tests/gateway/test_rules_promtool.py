"""The shipped Prometheus rules and Grafana dashboard: checked and unit-tested by the real promtool (Debian's
``prometheus``), the dashboard's structure, and the command that prints them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from observability_support import (
    dashboard_expressions,
    rule_document,
    rule_expressions,
    run_promtool,
    variable_queries,
)

from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.observability import (
    DASHBOARD_FILE,
    RULES_FILE,
    dashboard,
    dashboard_text,
    directory,
    rules_text,
)
from upstreamkit.testing import FakeClock

RULE_TESTS = Path(__file__).parent / "rules"


def _unit_test_dir(tmp_path: Path, rules: str | None = None) -> Path:
    """The promtool test files beside a copy of the rules (a test file names its rule files relatively)."""
    (tmp_path / RULES_FILE).write_text(rules if rules is not None else rules_text(), encoding="utf-8")
    for test_file in RULE_TESTS.glob("*.test.yml"):
        shutil.copy(test_file, tmp_path)
    return tmp_path


def _test_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.test.yml"))


@pytest.mark.engine
def test_promtool_accepts_the_shipped_rules() -> None:
    count = sum(len(group["rules"]) for group in rule_document()["groups"])
    result = run_promtool("check", "rules", directory() / RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {count} rules found" in result.stdout


@pytest.mark.engine
def test_the_rules_unit_tests_pass_under_promtool(tmp_path: Path) -> None:
    directory = _unit_test_dir(tmp_path)
    result = run_promtool("test", "rules", *_test_files(directory), cwd=directory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.engine
@pytest.mark.parametrize(
    ("change", "alert"),
    [
        ("> 0.05", "UpstreamkitGateway600RateHigh"),  # a threshold of 50% instead of 5%
        ("> 2.5", "UpstreamkitUpstreamLatencyHigh"),
        ("[5m]) >= 1", "UpstreamkitBreakerOpen"),
    ],
)
def test_the_unit_tests_catch_a_changed_rule(tmp_path: Path, change: str, alert: str) -> None:
    """The promtool tests are not vacuous: a changed threshold or window in one alert fails them, naming it."""
    text = rules_text()
    assert text.count(change) == 1, change
    changed = {"> 0.05": "> 0.5", "> 2.5": "> 5", "[5m]) >= 1": "[5m]) >= 2"}[change]
    directory = _unit_test_dir(tmp_path, text.replace(change, changed))
    result = run_promtool("test", "rules", *_test_files(directory), cwd=directory)
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr


@pytest.mark.engine
def test_every_dashboard_expression_parses_under_promtool(tmp_path: Path) -> None:
    """promtool has no offline expression parser, but a rule file is parsed whole: each panel's expression (and
    each template variable's selector) becomes a recording rule, and ``promtool check rules`` parses them."""
    expressions = {**dashboard_expressions(), **variable_queries()}
    assert expressions
    rules = [{"record": f"dashboard:check_{i}", "expr": expr} for i, expr in enumerate(expressions.values())]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = run_promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
    # The method catches a broken expression.
    rules.append({"record": "dashboard:broken", "expr": "sum by (upstream (rate(x[5m]))"})
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    assert run_promtool("check", "rules", path).returncode != 0


def test_the_alerts_read_only_rules_the_file_records() -> None:
    expressions = rule_expressions()
    recorded = {name for name in expressions if ":" in name}
    for name, expr in expressions.items():
        used = set(re.findall(r"\b[a-z_]+:[a-zA-Z0-9_:]+", expr))
        assert used <= recorded, f"{name} reads {used - recorded}, recorded nowhere"


def test_the_incident_alert_ignores_the_kinds_the_gateway_ignores() -> None:
    """ "Incident ongoing" counts the failures the gateway's recovery tracker counts (not a caller's 401 or 404):
    the kinds the rule leaves out are the tracker's ``ignore_kinds``."""
    expr = rule_expressions()["UpstreamkitIncidentOngoing"]
    (left_out,) = re.findall(r'kind!~"([a-z_|]+)"', expr)
    assert set(left_out.split("|")) == GatewayMetrics(FakeClock()).tracker.ignore_kinds


def test_every_alert_waits_or_looks_back_and_says_what_to_do() -> None:
    """No alert fires on one evaluation: each has a ``for:`` or a range of at least 5 minutes in itself."""
    for group in rule_document()["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            assert rule.get("for") or re.search(r"\[(5m|10m|1h)\]", rule["expr"]), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"]
            assert rule["annotations"]["description"]


def test_the_dashboard_is_a_grafana_dashboard_over_a_chosen_prometheus() -> None:
    document = json.loads(dashboard_text())
    assert document == dashboard()
    assert document["schemaVersion"] >= 36
    assert document["uid"]
    assert document["title"]
    variables = {variable["name"]: variable for variable in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "route", "upstream"} <= set(variables)
    panels = document["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    titles = " | ".join(panel["title"] for panel in panels).lower()
    for wanted in ("600 rate by route and upstream", "status class and kind", "latency p50 / p99",
                   "breaker state", "time to recover", "refusals"):  # fmt: skip
        assert wanted in titles


def test_the_module_prints_the_shipped_files() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "upstreamkit.gateway.observability", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert run("rules").stdout == (directory() / RULES_FILE).read_text(encoding="utf-8")
    assert json.loads(run("grafana").stdout) == dashboard()
    assert Path(run("path").stdout.strip()) == directory()
    assert (directory() / DASHBOARD_FILE).is_file()
    wrong = run("alerts")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("error: unknown file 'alerts'")
    assert "Traceback" not in wrong.stderr
    assert run().returncode == 2
