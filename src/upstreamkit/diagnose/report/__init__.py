"""A finished diagnosis as JSON (``--json``), Markdown (report.md) and a rich terminal report.

All three come from :func:`report_to_json`, the one place a report is redacted
(:mod:`upstreamkit.diagnose.report.document` says how), so a secret cannot reach one output and not another.
"""

from __future__ import annotations

from upstreamkit.diagnose.report.document import (
    BODY_LIMIT,
    cause_title,
    dumps,
    iso_utc,
    report_to_json,
    request_text,
    response_text,
    verdict,
)
from upstreamkit.diagnose.report.markdown import document_to_markdown, report_to_markdown
from upstreamkit.diagnose.report.terminal import render, render_document

__all__ = [
    "BODY_LIMIT",
    "cause_title",
    "document_to_markdown",
    "dumps",
    "iso_utc",
    "render",
    "render_document",
    "report_to_json",
    "report_to_markdown",
    "request_text",
    "response_text",
    "verdict",
]
