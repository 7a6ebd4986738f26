"""The page shell and the chart layer shared by the gateway's ``/dashboard`` and ``upstreamkit analyze --html``.

A page is one self-contained HTML document: the sheet (``style.css``) and the chart layer (``charts.js``, plain
SVG, no framework) inlined from this package's data, the page's own script after them, and its data (if any)
embedded as JSON. A Content-Security-Policy in the page forbids every origin but its own (the dashboard polls
its admin listener) or all of them (a report file), so nothing is fetched from anywhere else even by mistake.

Written by hand: the charts needed are five kinds of SVG drawn from data the page already holds, smaller than
any charting library's loader, and a page that works on a closed network cannot pull one from a CDN.
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["asset", "page", "script_json", "section"]

_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",  # no "</script>" (nor "<!--") can close the data block early
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",  # line separators: valid in JSON, and escaped so older parsers never choke on them
    0x2029: "\\u2029",
}


@cache
def asset(name: str) -> str:
    """The text of one of this package's asset files (``charts.js``, ``style.css``, a page's script)."""
    return (files(__package__) / name).read_text(encoding="utf-8")


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as null (JSON has neither; JSON.parse would reject the page's data)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` are
    written as ``\\u`` escapes, which JSON.parse reads back unchanged."""
    return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False).translate(_SCRIPT_ESCAPES)


def section(element_id: str, title: str, *, note: str = "", wide: bool = False) -> str:
    """One card of a page: a heading, an optional note, and an empty element for a chart to fill."""
    css = ' class="wide"' if wide else ""
    aside = f'<div class="note">{html.escape(note)}</div>' if note else ""
    return (
        f'<section{css}><h2>{html.escape(title)}</h2>{aside}<div id="{html.escape(element_id)}" class="plot"></div>'
        "</section>"
    )


def page(
    *, title: str, meta: str, sections: list[str], script: str, data: Any = None, connect_self: bool = False
) -> str:
    """One self-contained page: header (``title``, ``meta``: plain text), ``sections`` (from :func:`section`),
    the chart layer, ``data`` embedded as JSON (``id="data"``) and the page's ``script`` (trusted: package data).

    ``connect_self`` lets the script fetch from the page's own origin (the dashboard's polling); otherwise the
    page may fetch nothing at all."""
    connect = "'self'" if connect_self else "'none'"
    policy = (
        f"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'"
    )
    embedded = "" if data is None else f'<script type="application/json" id="data">{script_json(data)}</script>\n'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{asset('style.css')}</style>\n</head>\n<body>\n"
        f'<header><h1>{html.escape(title)}</h1><span class="meta" id="meta">{html.escape(meta)}</span></header>\n'
        f"<main>\n{''.join(sections)}\n</main>\n"
        f"{embedded}"
        f"<script>\n{asset('charts.js')}</script>\n"
        f"<script>\n{script}</script>\n"
        "</body></html>\n"
    )
