"""The rich terminal report: phases, verdict, ranked causes, what to send to support.

Rendered from the redacted document, and only through :class:`rich.text.Text` values: a server's words
(``[bold]`` in an error message) are shown as written, never read as markup. Each result is a word as well
as a colour, so the report reads the same without colour (a pipe, a ticket, colour blindness).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from upstreamkit.diagnose.model import Report
from upstreamkit.diagnose.report.document import report_to_json

__all__ = ["render", "render_document"]

_STATUS_STYLE = {"ok": "green", "warning": "yellow", "failed": "bold red", "skipped": "dim"}
_EFFORT_STYLE = {"easy": "green", "medium": "yellow", "hard": "red"}


def render(report: Report, console: Console, *, limit: int = 3, bundle: str | Path | None = None) -> None:
    """Print the report: phase table, verdict, the ``limit`` most likely causes, what to send to support.

    ``bundle`` is the support bundle already written, if any; without one the report says how to make one.
    """
    render_document(report_to_json(report), console, limit=limit, bundle=bundle)


def render_document(
    document: Mapping[str, Any], console: Console, *, limit: int = 3, bundle: str | Path | None = None
) -> None:
    """:func:`render` from :func:`~upstreamkit.diagnose.report.document.report_to_json`'s document."""
    console.print(_phase_table(document))
    console.print(_verdict(document))
    causes = document["causes"][: max(limit, 0)]
    for rank, cause in enumerate(causes, start=1):
        console.print(_cause(rank, cause))
    hidden = len(document["causes"]) - len(causes)
    if hidden > 0:
        console.print(Text(f"... and {hidden} less likely cause(s): see --json or the bundle's report.md", "dim"))
    console.print(_support(document, bundle))


def _phase_table(document: Mapping[str, Any]) -> Table:
    title = Text.assemble(("diagnose ", "bold"), (f"{document['method']} {document['url']}", ""))
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("phase", style="bold")
    table.add_column("result")
    table.add_column("ms", justify="right")
    table.add_column("detail", overflow="fold")
    for phase in document["phases"]:
        status = str(phase["status"])
        ms = "" if phase["ms"] is None else f"{phase['ms']:.0f}" if phase["ms"] >= 10 else f"{phase['ms']:.1f}"
        table.add_row(
            Text(str(phase["name"])),
            Text(status.upper() if status == "failed" else status, _STATUS_STYLE.get(status, "")),
            Text(ms),
            Text(str(phase["detail"])),
        )
    return table


def _verdict(document: Mapping[str, Any]) -> Panel:
    unfinished = ", ".join(document.get("unfinished") or [])
    if document["healthy"]:
        text = Text.assemble(("HEALTHY", "bold green"), ": every phase passed and no cause was found.")
        return Panel(text, title="verdict", border_style="green", expand=False)
    if not document["causes"]:
        text = Text.assemble(
            ("INCOMPLETE", "bold yellow"),
            f": no cause found, but {unfinished} could not finish its check (see the table): ",
            ("not a verdict of health", "bold"),
            ".",
        )
        return Panel(text, title="verdict", border_style="yellow", expand=False)
    top = document["causes"][0]
    text = Text.assemble(
        ("FAILING", "bold red"),
        ": most likely ",
        (str(top["title"]), "bold"),
        f" ({top['kind']}), likelihood {top['likelihood']:.0%}",
    )
    if unfinished:
        text.append(f"\n{unfinished} could not finish its check (see the table).")
    return Panel(text, title="verdict", border_style="red", expand=False)


def _cause(rank: int, cause: Mapping[str, Any]) -> Group:
    head = Text.assemble(
        (f"{rank}. ", "bold"),
        (str(cause["title"]), "bold"),
        (f"  {cause['kind']}", "cyan"),
        (f"  {cause['likelihood']:.0%}", "bold magenta"),
    )
    parts: list[Text] = [head]
    parts += [Text.assemble("   • ", str(line)) for line in cause["evidence"]]
    parts.append(_fix("   fix", cause["fix"], cause["effort"]))
    parts += [_fix("   or", fix["fix"], fix["effort"]) for fix in cause.get("more_fixes") or []][:2]
    return Group(*parts, Text(""))


def _fix(label: str, text: object, effort: object) -> Text:
    return Text.assemble((f"{label} ", "bold"), (f"[{effort}]", _EFFORT_STYLE.get(str(effort), "")), " ", str(text))


def _support(document: Mapping[str, Any], bundle: str | Path | None) -> Panel:
    exchanges: Sequence[Mapping[str, Any]] = document["exchanges"]
    ids = [str(e["request_id"]) for e in exchanges if e.get("request_id")]
    if not ids and document["request_id"]:
        ids = [str(document["request_id"])]
    times = [str(e["started"]) for e in exchanges if e.get("started")] or [str(document["started"])]
    lines = [
        Text.assemble(("request id  ", "dim"), ", ".join(ids) if ids else "none returned by the server"),
        Text.assemble(("time (UTC)  ", "dim"), times[-1] if len(times) == 1 else f"{times[0]} … {times[-1]}"),
        Text.assemble(("endpoint    ", "dim"), f"{document['method']} {document['url']}"),
    ]
    if bundle is not None:
        lines.append(Text.assemble(("bundle      ", "dim"), str(bundle), " (attach it: secrets are fingerprints)"))
    else:
        lines.append(
            Text.assemble(("bundle      ", "dim"), "run the same command with ", ("--bundle ticket.zip", "bold"))
        )
    return Panel(Group(*lines), title="what to send to support", border_style="blue", expand=False)
