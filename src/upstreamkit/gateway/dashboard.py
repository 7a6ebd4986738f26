"""The admin listener's ``/dashboard``: one self-contained page drawing live charts from ``/series`` and
``/status`` (polled every two seconds from the same origin), with the chart layer of :mod:`upstreamkit._html`
shared with ``analyze --html``. The page is the same for every request: it is built once."""

from __future__ import annotations

from functools import cache

from upstreamkit._html import asset, page, section

__all__ = ["CONTENT_SECURITY_POLICY", "dashboard_page"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Sent as a header too: the page fetches from its own origin (the admin listener) and nowhere else."""


@cache
def dashboard_page() -> bytes:
    """The page's bytes (UTF-8)."""
    sections = [
        section("now", "Now", note="the last 10 seconds; breakers and incidents as /status reports them", wide=True),
        section(
            "rate",
            "600 rate",
            note="share of requests answered with the error envelope, per second; shaded: incidents, from the "
            "first failed attempt to the recovery",
        ),
        section("latency", "Upstream latency", note="p50 and p99 of the upstream attempts, per second (ms)"),
        section("classes", "Requests by status class", note="per second; 600 is a raw 600 status line"),
        section("kinds", "Failures by kind", note="envelopes answered in the window, by the taxonomy's kind"),
        section("breakers", "Breaker state per upstream", note="from the transitions seen in the window"),
        section("incidents", "Incidents and time to recover", note="per upstream, from /status", wide=True),
    ]
    text = page(
        title="upstreamkit gateway",
        meta="connecting to the admin listener...",
        sections=sections,
        script=asset("dashboard.js"),
        connect_self=True,
    )
    return text.encode("utf-8")
