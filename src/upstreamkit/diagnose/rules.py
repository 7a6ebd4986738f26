"""Rank the causes: the knowledge base's priors, weighted by the rules of ``knowledge/rules.toml``.

Each rule is a likelihood ratio for one kind, applied when its conditions on the facts hold. A kind's
score is its prior times the product of the weights of its rules that hold; likelihoods are the scores
normalised over every kind (the kinds without evidence keep their prior in the denominator, so a single weak
clue never reads as certainty). Only kinds that a supporting rule names are listed: a healthy endpoint,
whose facts trigger no rule, has no causes.

The rules are data so that a reader can review them in one place and a test can check that each built-in
simulator scenario ranks its own kind first; this module only evaluates them.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from upstreamkit.core.redact import redact_text
from upstreamkit.diagnose.model import Cause
from upstreamkit.errors import ErrorKind
from upstreamkit.knowledge import KnowledgeError, kind_info

__all__ = ["Condition", "Rule", "parse_rules", "rank", "render_evidence", "rules"]

_OPS = frozenset({"is", "in", "above", "below", "matches", "not_matches", "present"})
_PLACEHOLDER = re.compile(r"\{([a-z0-9_.]+)(?:\|([a-z]+))?\}")
_FILTERS = frozenset({"ago", "s", "ms", "join", "days"})


def _present(value: Any) -> bool:
    """A fact is present when it says something: not None, False, an empty string or an empty list."""
    return value is not None and value is not False and value not in ("", [], ())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on one fact."""

    fact: str
    op: str
    value: Any = True

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``facts``."""
        value = facts.get(self.fact)
        if self.op == "present":
            return _present(value) is bool(self.value)
        if self.op == "is":
            # `is = false` must not match a missing fact: "the certificate does not match" needs a certificate.
            return value is not None and type(value) is type(self.value) and value == self.value
        if self.op == "in":
            return value is not None and not isinstance(value, bool) and value in self.value
        if self.op in ("above", "below"):
            number = _number(value)
            if number is None:
                return False
            return bool(number > self.value if self.op == "above" else number < self.value)
        matched = isinstance(value, str) and re.search(self.value, value, re.IGNORECASE) is not None
        return matched if self.op == "matches" else not matched


@dataclass(frozen=True, slots=True)
class Rule:
    """A piece of evidence: when every condition holds, ``weight`` multiplies the odds of a kind."""

    conditions: tuple[Condition, ...]
    weight: float
    evidence: str
    kind: ErrorKind | None = None
    kind_from: str | None = None
    support: bool = True

    def target(self, facts: Mapping[str, Any]) -> ErrorKind | None:
        """The kind this rule speaks for, given the facts (``kind_from`` reads it from a fact)."""
        if self.kind is not None:
            return self.kind
        named = facts.get(self.kind_from or "")
        try:
            return ErrorKind(named) if isinstance(named, str) else None
        except ValueError:
            return None

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """Whether every condition holds."""
        return all(condition.holds(facts) for condition in self.conditions)


def _condition(entry: Any, where: str) -> Condition:
    if not isinstance(entry, dict) or not isinstance(entry.get("fact"), str):
        raise KnowledgeError(f'{where}: each condition is {{ fact = "NAME", OP = VALUE }}')
    ops = [key for key in entry if key != "fact"]
    unknown = [key for key in ops if key not in _OPS]
    if unknown or len(ops) > 1:
        raise KnowledgeError(f"{where}: condition on {entry['fact']!r} must have one of {sorted(_OPS)}, got {ops}")
    op = ops[0] if ops else "present"
    value = entry.get(op, True)
    if op in ("matches", "not_matches"):
        try:
            re.compile(value)
        except (re.error, TypeError) as exc:
            raise KnowledgeError(f"{where}: {op} needs a regular expression: {exc}") from exc
    if op in ("above", "below") and _number(value) is None:
        raise KnowledgeError(f"{where}: {op} needs a number")
    if op == "in" and not isinstance(value, list):
        raise KnowledgeError(f"{where}: in needs a list")
    return Condition(entry["fact"], op, value)


def _rule(entry: Any, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise KnowledgeError(f"{where}: a rule is a table")
    if ("kind" in entry) == ("kind_from" in entry):
        raise KnowledgeError(f"{where}: give exactly one of kind or kind_from")
    try:
        kind = ErrorKind(entry["kind"]) if "kind" in entry else None
    except ValueError as exc:
        raise KnowledgeError(f"{where}: unknown kind {entry['kind']!r}") from exc
    weight = _number(entry.get("weight"))
    if weight is None or not math.isfinite(weight) or weight <= 0:
        raise KnowledgeError(f"{where}: weight must be a positive number")
    evidence = entry.get("evidence")
    if not isinstance(evidence, str) or not evidence:
        raise KnowledgeError(f"{where}: evidence must be a non-empty string")
    bad = sorted({f for _, f in _PLACEHOLDER.findall(evidence) if f and f not in _FILTERS})
    if bad:
        raise KnowledgeError(f"{where}: unknown filter(s) {bad}; filters: {sorted(_FILTERS)}")
    when = entry.get("when", [])
    if not isinstance(when, list) or not when:
        raise KnowledgeError(f"{where}: when must be a non-empty list of conditions")
    known = {"kind", "kind_from", "when", "weight", "support", "evidence"}
    if extra := sorted(set(entry) - known):
        raise KnowledgeError(f"{where}: unknown key(s) {extra}")
    return Rule(
        conditions=tuple(_condition(item, where) for item in when),
        weight=weight,
        evidence=evidence,
        kind=kind,
        kind_from=entry.get("kind_from"),
        support=bool(entry.get("support", True)),
    )


def parse_rules(text: str, origin: str = "rules.toml") -> tuple[Rule, ...]:
    """Rules from TOML text; a malformed rule raises :class:`KnowledgeError` naming it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{origin}: {exc}") from exc
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise KnowledgeError(f"{origin}: expected [[rule]] tables")
    return tuple(_rule(entry, f"{origin}, rule {index + 1}") for index, entry in enumerate(entries))


@cache
def rules() -> tuple[Rule, ...]:
    """The built-in rules (``upstreamkit/knowledge/rules.toml``)."""
    text = files("upstreamkit.knowledge").joinpath("rules.toml").read_text(encoding="utf-8")
    return parse_rules(text)


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} days"


def _format(value: Any, how: str | None) -> str:
    if value is None or value == []:
        return "?"
    number = _number(value)
    if how == "ago" and number is not None:
        return f"{_duration(number)} ago" if number <= 0 else f"in {_duration(number)}"
    if how == "s" and number is not None:
        return f"{number:.3g} s"
    if how == "ms" and number is not None:
        return f"{number:.0f} ms"
    if how == "days" and number is not None:
        whole = abs(number)
        text = f"{whole:.1f} day{'s' if round(whole, 1) != 1 else ''}"
        return f"{text} ago" if number < 0 else text
    if how == "join" and isinstance(value, list | tuple):
        return ", ".join("?" if item is None else str(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_evidence(template: str, facts: Mapping[str, Any]) -> str:
    """Fill a rule's evidence template with facts; redacted, as a last line of defence."""
    return redact_text(_PLACEHOLDER.sub(lambda m: _format(facts.get(m.group(1)), m.group(2)), template))


def rank(facts: Mapping[str, Any], rule_set: Sequence[Rule] | None = None) -> list[Cause]:
    """The causes the facts support, most likely first."""
    weights: dict[ErrorKind, float] = {}
    evidence: dict[ErrorKind, list[str]] = {}
    supported: set[ErrorKind] = set()
    for rule in rules() if rule_set is None else rule_set:
        if not rule.holds(facts):
            continue
        kind = rule.target(facts)
        if kind is None:
            continue
        weights[kind] = weights.get(kind, 1.0) * rule.weight
        line = render_evidence(rule.evidence, facts)
        if line not in evidence.setdefault(kind, []):
            evidence[kind].append(line)
        if rule.support and rule.weight > 1:
            supported.add(kind)
    if not supported:
        return []
    scores = {info_kind: kind_info(info_kind).prior * weights.get(info_kind, 1.0) for info_kind in ErrorKind}
    total = sum(scores.values())
    causes = []
    for kind in supported:
        if scores[kind] <= 0:
            continue
        info = kind_info(kind)
        fixes = info.fixes
        causes.append(
            Cause(
                kind=kind,
                likelihood=scores[kind] / total,
                evidence=tuple(evidence[kind]),
                fix=fixes[0].text if fixes else info.meaning,
                effort=fixes[0].effort if fixes else "medium",
                title=info.title,
                more_fixes=tuple((fix.text, fix.effort) for fix in fixes[1:]),
            )
        )
    causes.sort(key=lambda cause: (-cause.likelihood, str(cause.kind)))
    return causes
