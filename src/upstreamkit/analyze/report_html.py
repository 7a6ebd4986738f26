"""``upstreamkit analyze --html FILE``: the analysis as one self-contained page with charts.

The page embeds the ``--json`` document itself (every string passed through redaction once more on the way
out: a report is an exit) and draws it with the chart layer shared with the gateway's dashboard
(:mod:`upstreamkit._html`): the 600 rate over time with the incidents shaded, requests and failures per bucket,
latency percentiles, kinds, the clusters per dimension, the incidents and the message templates. It fetches
nothing: its Content-Security-Policy allows no connection at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from upstreamkit._html import asset, page, section
from upstreamkit.analyze.analysis import DIMENSIONS
from upstreamkit.core.redact import redact_text

__all__ = ["render_html", "write_html"]


def _redacted(value: Any) -> Any:
    """Every string of ``value`` (keys too) through :func:`redact_text`; numbers, None and booleans as they are.
    (Not ``redact_json``: its secret-key rule would fingerprint the ``by_credential`` fingerprints again.)"""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_text(str(key)): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def render_html(document: dict[str, Any]) -> str:
    """The page for the ``--json`` document ``document``."""
    window = document.get("window") or {}
    meta = (
        f"{window.get('start') or '-'} to {window.get('end') or '-'} · {document.get('lines', 0)} lines "
        f"({document.get('unparsed', 0)} unparsed) · buckets of {document.get('bucket_s', 0):g} s"
    )
    sections = [
        section("summary", "Summary", wide=True),
        section(
            "rate",
            "600 rate over time",
            note="failures / requests per bucket; shaded: the incidents found, from their first failure to the "
            "first success after them",
            wide=True,
        ),
        section("volume", "Requests and failures per bucket"),
        section("latency", "Latency percentiles", note="upstream time where the log has it, else the total (ms)"),
        section("kinds", "Failures by kind", note="the taxonomy's kinds, read from each line as precisely as it says"),
        section("incidents", "Incidents", note="start, end, time to recover, and where they concentrated", wide=True),
        *(
            section(
                f"by_{dimension}",
                f"Failures by {dimension}",
                note="the keys whose failures most exceed their share of traffic; rate and lift after the count",
            )
            for dimension in DIMENSIONS
        ),
        section("templates", "Failure messages", note="grouped into templates; examples redacted", wide=True),
        section("formats", "Files read", wide=True),
    ]
    return page(
        title="upstreamkit analyze",
        meta=meta,
        sections=sections,
        script=asset("report.js"),
        data=_redacted(document),
    )


def write_html(document: dict[str, Any], path: str) -> None:
    """Write the page to ``path`` (UTF-8). Raises OSError when it cannot be written."""
    Path(path).write_text(render_html(document), encoding="utf-8")
