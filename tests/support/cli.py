"""The upstreamkit commands a test runs on real logs, in process, returning their JSON documents."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from upstreamkit.analyze.formats import formats, parse_line
from upstreamkit.analyze.steps import COLUMNS, chain, run_chain
from upstreamkit.cli.app import app

__all__ = ["analyze_json", "analyzer_kind", "explain_line_json"]


def _json(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def analyze_json(*args: str, bucket: str = "1s") -> dict[str, Any]:
    """``upstreamkit analyze ARGS --bucket BUCKET --json``; its document (exit 0 asserted)."""
    return _json(["analyze", *args, "--bucket", bucket, "--json"])


def explain_line_json(line: str, *args: str) -> dict[str, Any]:
    """``upstreamkit explain --log-line LINE ARGS --json``; its document (exit 0 asserted)."""
    return _json(["explain", "--log-line", line, *args, "--json"])


def analyzer_kind(line: str, format_name: str) -> str | None:
    """The kind analyze's reader gives one line of ``format_name`` (its event row's ``kind``)."""
    fmt = formats()[format_name]
    fields = parse_line(line, fmt)
    assert fields is not None, line
    row = run_chain(chain(fmt), fields)
    assert row is not None, line
    kind: str | None = row[COLUMNS.index("kind")]
    return kind
