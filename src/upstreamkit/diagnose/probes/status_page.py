"""Phase "status_page": the provider's own verdict, from its Atlassian Statuspage JSON.

Runs only with ``--status-page``. Accepts the page's base URL (``https://status.example.com``) or a full
``.../api/v2/summary.json`` or ``.../api/v2/status.json``; reads ``summary.json`` (incidents and components)
and falls back to ``status.json`` (the indicator only) when the summary is missing. The format is
Statuspage's v2 API: ``status.indicator`` (none, minor, major, critical), ``status.description``,
``incidents[]`` (unresolved ones: name, status, impact, shortlink) and ``components[]``.

Facts:

- ``status.indicator`` (str | None): none, minor, major or critical.
- ``status.description`` (str | None): the page's one-line summary ("Partial System Outage").
- ``status.incidents`` (list[str]): the open incidents' names.
- ``status.incident_links`` (list[str]): their shortlinks, same order (redacted).
- ``status.components_down`` (list[str]): ``"name: status"`` of every component not operational.
- ``status.url`` (str | None): the document read (redacted).
- ``status.error`` (str | None): why the page could not be read.

Status: failed when the indicator is major or critical, or an incident is open; warning for minor; ok for
none; skipped when no ``--status-page`` was given or the page could not be read (``status.error`` says why).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from upstreamkit.core.redact import redact_text, redact_url
from upstreamkit.diagnose.model import PhaseResult, PhaseStatus, ProbeContext
from upstreamkit.diagnose.probes.http import make_client

__all__ = ["candidate_urls", "probe", "read_summary"]

_SUMMARY = "/api/v2/summary.json"
_STATUS = "/api/v2/status.json"
_CLOSED = frozenset({"resolved", "postmortem", "completed"})
_TEXT_LIMIT = 200


def candidate_urls(given: str) -> list[str]:
    """The documents to try, in order: the summary first (it has incidents), then the status."""
    url = given.strip()
    for suffix in (_SUMMARY, _STATUS):
        if url.endswith(suffix):
            base = url[: -len(suffix)]
            return [url] if suffix == _STATUS else [url, base + _STATUS]
    if url.endswith(".json"):
        return [url]
    base = url.rstrip("/")
    return [base + _SUMMARY, base + _STATUS]


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = redact_text(" ".join(value.split()))
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def read_summary(document: Any) -> dict[str, Any]:
    """The facts of a decoded Statuspage ``summary.json`` or ``status.json`` (pure)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("status"), Mapping):
        return {"status.error": "not a Statuspage document (no status object)"}
    status = document["status"]
    incidents = [item for item in document.get("incidents") or [] if isinstance(item, Mapping)]
    open_incidents = [item for item in incidents if str(item.get("status", "")).lower() not in _CLOSED]
    components = [item for item in document.get("components") or [] if isinstance(item, Mapping)]
    down = [
        f"{_text(item.get('name')) or '?'}: {_text(item.get('status'))}"
        for item in components
        if item.get("status") not in (None, "operational") and not item.get("group")
    ]
    return {
        "status.indicator": _text(status.get("indicator")),
        "status.description": _text(status.get("description")),
        "status.incidents": [_text(item.get("name")) or "(unnamed incident)" for item in open_incidents],
        "status.incident_links": [redact_url(str(item.get("shortlink") or "")) for item in open_incidents],
        "status.components_down": down,
        "status.error": None,
    }


def _fetch(ctx: ProbeContext, urls: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Fetch the first document that answers 200 with JSON; facts and the steps taken."""
    steps: list[str] = []
    error = "no document to read"
    with make_client(ctx.options, urls[0] if urls else None) as client:
        for url in urls:
            shown = redact_url(url)
            try:
                response = client.get(url)
                document = json.loads(response.content) if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as exc:
                error = redact_text(f"{shown}: {type(exc).__name__}: {exc}")
                steps.append(f"GET {shown} → {type(exc).__name__}")
                continue
            steps.append(f"GET {shown} → {response.status_code}")
            if document is None:
                error = f"{shown} answered {response.status_code}"
                continue
            facts = read_summary(document)
            facts["status.url"] = shown
            return facts, steps
    return {"status.error": error, "status.url": None}, steps


def probe(ctx: ProbeContext) -> PhaseResult:
    """Read the provider's status page and report its indicator, open incidents and degraded components."""
    began = time.perf_counter()
    given = ctx.options.status_page
    if not given:
        return ctx.skip("status_page", "skipped: no --status-page given")
    try:
        facts, lines = _fetch(ctx, candidate_urls(given))
    except OSError as exc:  # an unreadable --cacert: the http phase reports it too
        facts, lines = {"status.error": redact_text(f"{type(exc).__name__}: {exc}"), "status.url": None}, []
    elapsed = (time.perf_counter() - began) * 1000
    if facts.get("status.error"):
        detail = f"skipped: could not read the status page ({facts['status.error']})"
        ctx.log.append(f"status_page: {detail}")
        return PhaseResult("status_page", "skipped", elapsed, detail, facts, lines)
    indicator = facts["status.indicator"]
    incidents: list[str] = facts["status.incidents"]
    status: PhaseStatus
    if indicator in ("major", "critical") or incidents:
        status = "failed"
    elif indicator == "minor" or facts["status.components_down"]:
        status = "warning"
    else:
        status = "ok"
    detail = f"{indicator or 'no indicator'}: {facts['status.description'] or '-'}"
    if incidents:
        detail += "; open incidents: " + "; ".join(incidents)
    if facts["status.components_down"]:
        detail += "; not operational: " + ", ".join(facts["status.components_down"])
    lines.extend(
        f"incident: {name} ({link})" for name, link in zip(incidents, facts["status.incident_links"], strict=True)
    )
    lines.extend(f"component {item}" for item in facts["status.components_down"])
    ctx.log.append(f"status_page: {detail}")
    return PhaseResult("status_page", status, elapsed, detail, facts, lines)
