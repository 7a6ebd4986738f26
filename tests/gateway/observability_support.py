"""What the shipped Prometheus rules and Grafana dashboard ask of /metrics: their expressions, the metric names
and label matchers in them (a small reader of PromQL's selector syntax: enough for these files)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from upstreamkit.gateway.observability import dashboard, rules_text

__all__ = [
    "GRAFANA_VARIABLES",
    "Selector",
    "dashboard_expressions",
    "grouping_labels",
    "promtool",
    "rule_document",
    "rule_expressions",
    "run_promtool",
    "selectors",
    "variable_queries",
]

GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".*",
    "$route": ".*",
    "$upstream": ".*",
}
"""What Grafana puts in place of each variable the dashboard uses (its own and the template variables)."""

_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_GROUPING = re.compile(r"\b(?:by|on|ignoring|without)\s*\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{?[a-zA-Z_]+\}?")


@dataclass(frozen=True)
class Selector:
    """One series selector: ``metric{label op "value", ...}``."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...]


def promtool() -> str:
    """The promtool binary (Debian's ``prometheus`` package); a missing one fails the test, naming the package."""
    path = shutil.which("promtool")
    assert path is not None, "promtool is missing: install the Debian package 'prometheus' (scripts/system-packages.sh)"
    return path


def run_promtool(
    *args: str | Path, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``promtool ARGS`` (bounded in time), its output captured."""
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd, check=False, input=stdin
    )


def rule_document() -> dict[str, Any]:
    """The shipped rule file, parsed."""
    document: dict[str, Any] = yaml.safe_load(rules_text())
    return document


def rule_expressions() -> dict[str, str]:
    """Each rule's name (``record`` or ``alert``) and its expression."""
    return {
        str(rule.get("record") or rule["alert"]): str(rule["expr"])
        for group in rule_document()["groups"]
        for rule in group["rules"]
    }


def _substitute(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    left = _VARIABLE.findall(expr)
    assert not left, f"a Grafana variable the tests do not know: {left} in {expr}"
    return expr


def dashboard_expressions() -> dict[str, str]:
    """Each panel target's expression (``TITLE/REFID``) with Grafana's variables replaced, as Grafana would."""
    found: dict[str, str] = {}
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            found[f"{panel['title']}/{target['refId']}"] = _substitute(target["expr"])
    return found


def variable_queries() -> dict[str, str]:
    """The selector inside each query variable's ``label_values(SELECTOR, label)``."""
    found: dict[str, str] = {}
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"]
        match = re.fullmatch(r"label_values\((.*),\s*([a-zA-Z_]+)\)", query)
        assert match is not None, query
        found[f"${variable['name']}"] = _substitute(match.group(1))
    return found


def selectors(expr: str) -> list[Selector]:
    """The series selectors of upstreamkit's metrics (and ``up``) in a PromQL expression."""
    found = []
    text = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: m.group(0).replace("(", " ").replace(")", " "), expr)
    for match in _SELECTOR.finditer(text):
        name, braces = match.group(1), match.group(2) or ""
        if name.startswith("upstreamkit_") or name == "up":
            found.append(Selector(name, tuple(_MATCHER.findall(braces))))
    return found


def grouping_labels(expr: str) -> set[str]:
    """Labels named in ``by``, ``on``, ``ignoring`` and ``without`` clauses."""
    return {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()}
