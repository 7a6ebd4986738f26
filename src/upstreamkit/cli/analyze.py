"""``upstreamkit analyze``: incidents, time to recover and the clusters behind them, from existing logs.

The analysis lives in :mod:`upstreamkit.analyze`; this module parses options, prints the JSON or the
terminal summary, writes the HTML report (:mod:`upstreamkit.analyze.report_html`) when asked, and turns every
usage mistake into one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from upstreamkit.cli.checks import fail

if TYPE_CHECKING:
    from rich.progress import TaskID

    from upstreamkit.analyze import AnalyzeOptions
    from upstreamkit.analyze.engine import Progress

# The analysis, the terminal summary, the HTML report and rich are imported where they are used: `analyze
# --help` needs none of them, `--json` needs neither the summary, nor the report, nor a progress bar in a pipe.

# The contract's format names (issue 14); formats.toml may add more (nginx-upstreaminfo), never fewer.
FORMATS = ("auto", "upstreamkit", "nginx", "nginx-error", "haproxy", "envoy", "alb", "caddy")


def analyze(
    paths: list[str] = typer.Argument(None, help="Log files (plain or gzip); '-' reads stdin.", show_default=False),
    log_format: str = typer.Option(
        "auto", "--format", "-f", help="auto (per file), or one of " + ", ".join(FORMATS[1:]) + " ..."
    ),
    nginx_log_format: str | None = typer.Option(
        None,
        "--log-format",
        help="The nginx log_format of the access log ('$remote_addr - $remote_user [$time_local] ...').",
    ),
    credential_field: str | None = typer.Option(
        None, "--credential-field", help="The field holding the credential ($remote_user, $http_x_api_key_id...)."
    ),
    since: str | None = typer.Option(None, "--since", help="Only lines at or after this RFC 3339 time."),
    until: str | None = typer.Option(None, "--until", help="Only lines before this RFC 3339 time."),
    bucket: str = typer.Option("1m", "--bucket", help="Width of the series' buckets: 250ms, 10s, 1m, 1h."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the summary."),
    html: str | None = typer.Option(
        None, "--html", help="Also write a self-contained HTML report with charts to this file."
    ),
    events: str | None = typer.Option(None, "--events", help="Deploys and changes: one 'RFC3339 text' per line."),
) -> None:
    """Find incidents, time to recover and their clusters in gateway, nginx, HAProxy, Envoy, ALB and Caddy logs.

    Examples:

      upstreamkit analyze access.jsonl --bucket 10s

      upstreamkit analyze /var/log/nginx/access.log.1.gz /var/log/nginx/error.log --json

      zcat gateway.log.gz | upstreamkit analyze - --events deploys.txt

      upstreamkit analyze access.log error.log --html report.html
    """
    from upstreamkit.analyze import AnalyzeUsageError, SourceError, run  # noqa: PLC0415 - see the imports

    try:
        options = _options(paths, log_format, nginx_log_format, credential_field, since, until, bucket, html, events)
        with _progress_bar() as progress:
            document = run(paths, options, progress)
    except (AnalyzeUsageError, SourceError) as exc:
        raise fail(str(exc)) from None
    except ModuleNotFoundError as exc:
        if exc.name != "duckdb":
            raise
        raise fail("analyze needs DuckDB: pip install 'upstreamkit[analyze]'") from None
    if html is not None:
        from rich.console import Console  # noqa: PLC0415 - see the imports

        from upstreamkit.analyze.report_html import write_html  # noqa: PLC0415

        try:
            write_html(document, html)
        except OSError as exc:
            raise fail(f"--html: cannot write {html}: {exc.strerror or exc}") from None
        Console(stderr=True).print(f"report written to {html}", highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        return
    from rich.console import Console  # noqa: PLC0415

    from upstreamkit.analyze.terminal import summary  # noqa: PLC0415

    Console().print(summary(document))


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal (never in pipes, files or tests); None otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # noqa: PLC0415 - see the imports
    from rich.progress import Progress as RichProgress  # noqa: PLC0415

    tasks: dict[str, TaskID] = {}
    with RichProgress(console=Console(stderr=True), transient=True) as bar:

        def advance(path: str, done: int, size: int | None) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(f"reading {path}", total=size)
            bar.update(tasks[path], completed=done)

        yield advance


def _options(
    paths: list[str] | None,
    log_format: str,
    nginx_log_format: str | None,
    credential_field: str | None,
    since: str | None,
    until: str | None,
    bucket: str,
    html: str | None,
    events: str | None,
) -> AnalyzeOptions:
    from upstreamkit.analyze import AnalyzeOptions, AnalyzeUsageError  # noqa: PLC0415
    from upstreamkit.analyze.formats import format_names  # noqa: PLC0415
    from upstreamkit.analyze.logformat import LogFormatError, compile_log_format  # noqa: PLC0415
    from upstreamkit.analyze.options import parse_bucket, parse_moment, read_user_events  # noqa: PLC0415

    if not paths:
        raise AnalyzeUsageError("give at least one log file ('-' for stdin); see --help")
    if paths.count("-") > 1:
        raise AnalyzeUsageError("stdin ('-') can be read once")
    known = ("auto", *format_names())
    if log_format not in known:
        raise AnalyzeUsageError(f"--format {log_format!r} is not one of {', '.join(known)}")
    custom = None
    if nginx_log_format is not None:
        try:
            custom = compile_log_format(nginx_log_format)
        except LogFormatError as exc:
            raise AnalyzeUsageError(str(exc)) from None
    if html is not None and not Path(html).parent.is_dir():
        # checked before the analysis, which may take long, rather than after it
        raise AnalyzeUsageError(f"--html: the directory of {html} does not exist")
    start = parse_moment(since, "--since") if since is not None else None
    end = parse_moment(until, "--until") if until is not None else None
    if start is not None and end is not None and end <= start:
        raise AnalyzeUsageError("--until must be later than --since")
    return AnalyzeOptions(
        format=log_format,
        custom_format=custom,
        credential_field=credential_field or None,
        since=start,
        until=end,
        bucket_s=parse_bucket(bucket),
        user_events=read_user_events(events) if events is not None else (),
    )
