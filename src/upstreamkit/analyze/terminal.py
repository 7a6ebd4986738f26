"""The terminal summary of an analysis (rich): counts, the incidents, the top clusters, the templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["summary"]

_SHOWN = 3


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _seconds(start: str, end: str) -> float:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def summary(document: dict[str, Any]) -> RenderableType:
    """One renderable for the ``--json`` document ``document``."""
    window = document["window"]
    head = Text.assemble(
        ("analysed ", "bold"),
        f"{document['lines']} lines ({document['parsed']} parsed, {document['unparsed']} unparsed) ",
        f"from {window['start'] or '-'} to {window['end'] or '-'}\n",
        "formats: ",
        ", ".join(f"{item['path']}={item['format'] or 'unknown'}" for item in document["formats"]),
    )
    latency = document["latency"]
    if latency["p50"] is not None:
        head.append(f"\nlatency (upstream where logged): p50 {latency['p50']} ms, p95 {latency['p95']} ms, ")
        head.append(f"p99 {latency['p99']} ms")
    parts: list[RenderableType] = [head]

    incidents = Table(title=f"Incidents ({len(document['incidents'])})", title_justify="left")
    incidents.add_column("start", no_wrap=True)
    for column in ("lasted", "failures", "peak", "recovered after", "kinds", "top endpoint / upstream"):
        incidents.add_column(column)
    for incident in document["incidents"]:
        ttr = incident["time_to_recover_s"]
        incidents.add_row(
            incident["start"],
            f"{_seconds(incident['start'], incident['end']):g} s",
            str(incident["failures"]),
            _percent(incident["peak_rate"]),
            "not recovered" if ttr is None else f"{ttr:g} s",
            ", ".join(f"{kind} {count}" for kind, count in list(incident["kinds"].items())[:_SHOWN]),
            f"{incident['top']['endpoint'] or '-'} / {incident['top']['upstream'] or '-'}",
        )
    parts.append(incidents if document["incidents"] else Text("No incidents found.", style="green"))

    if document["kinds"]:
        parts.append(Text("kinds: " + ", ".join(f"{kind} {count}" for kind, count in document["kinds"].items())))

    clusters = Table(title="Where the failures concentrate", title_justify="left")
    for column in ("by", "key", "failures", "rate", "kinds"):
        clusters.add_column(column)
    for name, rows in document["clusters"].items():
        for row in rows[:_SHOWN]:
            kinds = ", ".join(f"{kind} {count}" for kind, count in list(row["kinds"].items())[:_SHOWN])
            clusters.add_row(name.removeprefix("by_"), row["key"], str(row["failures"]), _percent(row["rate"]), kinds)
    if clusters.row_count:
        parts.append(clusters)

    if document["templates"]:
        templates = Table(title="Failure messages", title_justify="left")
        templates.add_column("count")
        templates.add_column("template")
        for template in document["templates"][:5]:
            templates.add_row(str(template["count"]), template["template"])
        parts.append(templates)
    return Group(*parts)
