"""report.md: the diagnosis as a support ticket, ready to paste or attach (rendered from the redacted document)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from upstreamkit.diagnose.model import Report
from upstreamkit.diagnose.report.document import report_to_json, request_text, response_text

__all__ = ["document_to_markdown", "report_to_markdown"]

_RESULT = {"ok": "✅ ok", "warning": "⚠️ warning", "failed": "❌ failed", "skipped": "⏭️ skipped"}


def report_to_markdown(report: Report) -> str:
    """A support-ticket ready Markdown report; every secret replaced by its fingerprint."""
    return document_to_markdown(report_to_json(report))


def document_to_markdown(document: Mapping[str, Any]) -> str:
    """Markdown from :func:`~upstreamkit.diagnose.report.document.report_to_json`'s document."""
    out: list[str] = [f"# upstreamkit diagnose: `{document['method']} {document['url']}`", ""]
    out += _summary(document)
    out += _phases(document["phases"])
    out += _causes(document["causes"], healthy=bool(document["healthy"]))
    out += _exchanges(document["exchanges"])
    out += _details(document["phases"])
    out += ["## Checklist (steps taken)", ""]
    out += [f"{number}. {_inline(line)}" for number, line in enumerate(document["checklist"], start=1)] or ["(none)"]
    out += ["", *_for_provider(document)]
    return "\n".join(out).rstrip() + "\n"


def _summary(document: Mapping[str, Any]) -> list[str]:
    word = "HEALTHY" if document["healthy"] else "FAILING" if document["causes"] else "INCOMPLETE"
    return [
        f"**Verdict: {word}**: {_inline(document['verdict'])}",
        "",
        f"- Started: {document['started'] or 'unknown'} (UTC); total {_number(document['total_ms'])} ms",
        f"- Request id: `{document['request_id']}`" if document["request_id"] else "- Request id: none returned",
        f"- upstreamkit {document['version']}",
        "",
    ]


def _phases(phases: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## Phases", "", "| phase | result | ms | detail |", "| --- | --- | ---: | --- |"]
    for phase in phases:
        result = _RESULT.get(phase["status"], phase["status"])
        lines.append(f"| {phase['name']} | {result} | {_number(phase['ms'])} | {_cell(phase['detail'])} |")
    return [*lines, ""]


def _causes(causes: Sequence[Mapping[str, Any]], *, healthy: bool) -> list[str]:
    lines = ["## Likely causes", ""]
    if not causes:
        if not healthy:
            return [*lines, "None found, but a check could not finish (see the phases): not a verdict of health.", ""]
        return [*lines, "None: every phase looks healthy.", ""]
    for rank, cause in enumerate(causes, start=1):
        lines += [f"### {rank}. {_inline(cause['title'])} (`{cause['kind']}`): {cause['likelihood']:.0%}", ""]
        lines += ["Evidence:", ""] + [f"- {_inline(line)}" for line in cause["evidence"]] if cause["evidence"] else []
        lines += ["", f"**Fix** ({cause['effort']}): {_inline(cause['fix'])}"]
        more = cause.get("more_fixes") or []
        if more:
            lines += ["", "Other fixes:", ""] + [f"- {_inline(f['fix'])} ({f['effort']})" for f in more]
        lines.append("")
    return lines


def _exchanges(exchanges: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## Request and response", ""]
    if not exchanges:
        return [*lines, "No HTTP exchange was made (an earlier phase failed).", ""]
    for number, exchange in enumerate(exchanges, start=1):
        timing = f"ttfb {_number(exchange['ttfb_ms'])} ms, total {_number(exchange['total_ms'])} ms"
        lines += [f"### Exchange {number} of {len(exchanges)}: {exchange['started'] or 'time unknown'} ({timing})", ""]
        lines += ["As sent:", "", *_fenced(request_text(exchange)), "", "As received:", ""]
        lines += [*_fenced(response_text(exchange)), ""]
    return lines


def _details(phases: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## Phase details", ""]
    for phase in phases:
        if not phase["lines"] and not phase["facts"]:
            continue
        lines += [f"### {phase['name']}", ""]
        lines += [f"- {_inline(line)}" for line in phase["lines"]]
        if phase["facts"]:
            facts = "\n".join(
                f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in phase["facts"].items()
            )
            lines += ["", "<details><summary>facts</summary>", "", *_fenced(facts), "", "</details>"]
        lines.append("")
    return lines


def _for_provider(document: Mapping[str, Any]) -> list[str]:
    lines = ["## What to send to the provider", ""]
    exchanges = document["exchanges"]
    ids = [e["request_id"] for e in exchanges if e.get("request_id")] or (
        [document["request_id"]] if document["request_id"] else []
    )
    lines.append(f"- Request id(s): {', '.join(f'`{i}`' for i in ids)}" if ids else "- Request id: none returned")
    times = [f"{e['started']} ({e['method']}, status {e['status'] or 'none'})" for e in exchanges if e["started"]]
    lines.append(f"- Time(s) of the request, UTC: {'; '.join(times)}" if times else f"- Time: {document['started']}")
    lines.append(f"- Endpoint: `{document['method']} {document['url']}`")
    last = next((e for e in reversed(exchanges) if e["status"] is not None), None)
    if last is not None:
        headers = "\n".join(f"{name}: {value}" for name, value in last["response_headers"])
        lines += ["- The response's status and headers:", "", *_fenced(f"{last['status']} {last['reason']}\n{headers}")]
    lines += ["", "Secrets in this report were replaced by `sha256:` fingerprints (the first 8 hex digits)."]
    return lines


def _fenced(text: str) -> list[str]:
    fence = "```"
    while fence in text:
        fence += "`"
    return [fence, text.rstrip("\n"), fence]


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _inline(text: str) -> str:
    return " ".join(str(text).split())


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"
