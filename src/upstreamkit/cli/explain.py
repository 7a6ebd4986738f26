"""``upstreamkit explain``: what a failed response means, and the fixes, ranked."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from upstreamkit.analyze.logformat import LogFormatError, compile_log_format
from upstreamkit.analyze.logline import LogLine, read_log_line
from upstreamkit.cli.checks import UsageError, fail, number, parse_header, parse_status, read_input, text
from upstreamkit.core.classify import Outcome, classify
from upstreamkit.diagnose._text import valid_text
from upstreamkit.knowledge import Fix, kind_info

EFFORT_STYLE = {"easy": "green", "medium": "yellow", "hard": "red"}


@dataclass(frozen=True, slots=True)
class Response:
    """A response as given on the command line."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def parse_raw_response(data: bytes) -> Response:
    """A raw HTTP/1.x response as saved by ``curl -i`` or a proxy: status line, headers, blank line, body.

    An interim ``1xx`` block before the final response (``100 Continue``, as curl prints it) is skipped.
    """
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = data.partition(b"\n\n")
        lines = head.decode("iso-8859-1").replace("\r\n", "\n").split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        if not lines:
            raise UsageError("the response file is empty")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].upper().startswith("HTTP/"):
            raise UsageError(f"the response file does not start with a status line (got {lines[0][:60]!r})")
        status = parse_status(parts[1])
        if not (status < 200 and body.lstrip().upper().startswith(b"HTTP/")):
            break
        data = body  # shorter on every turn: the loop ends
    headers = [parse_header(line) for line in lines[1:] if line.strip()]
    return Response(status, headers, body)


def build_response(
    status: str | None,
    header: list[str],
    body: str | None,
    body_file: str | None,
    response: str | None,
) -> Response:
    """Assemble the response from the options; raises UsageError on contradictions."""
    if body is not None and body_file is not None:
        raise UsageError("give --body or --body-file, not both")
    if response is not None:
        if status is not None or body is not None or body_file is not None:
            raise UsageError("--response already holds status, headers and body; drop --status/--body")
        raw = parse_raw_response(read_input(response, "response file"))
        return Response(raw.status, raw.headers + [parse_header(h) for h in header], raw.body)
    if status is None:
        raise UsageError("give --status (with -H and --body) or --response FILE; see --help")
    data = read_input(body_file, "body file") if body_file is not None else text(body or "", "--body").encode()
    return Response(parse_status(status), [parse_header(h) for h in header], data)


def printable(outcome: Outcome) -> Outcome:
    """``outcome`` with its text valid UTF-8: a body's ``"\\ud800"`` escape can reach the explanation."""
    request_id = outcome.request_id
    return replace(
        outcome,
        explanation=str(valid_text(outcome.explanation)),
        evidence=tuple(str(valid_text(line)) for line in outcome.evidence),
        request_id=str(valid_text(request_id)) if request_id is not None else None,
    )


def ranked_fixes(outcome: Outcome) -> list[Fix]:
    """The signature's own fix first, then the kind's fixes in the knowledge base's order."""
    if outcome.kind is None:
        return []
    fixes = list(kind_info(outcome.kind).fixes)
    if outcome.fix:
        fixes.insert(0, Fix(text=outcome.fix, effort="easy"))
    if outcome.is_600 and outcome.kind.value != "upstream_600":
        fixes.extend(f for f in kind_info("upstream_600").fixes[:1] if f not in fixes)
    return fixes


def explanation_json(outcome: Outcome) -> dict[str, Any]:
    """The JSON document ``explain --json`` prints."""
    data = outcome.to_dict()
    if outcome.kind is not None:
        info = kind_info(outcome.kind)
        data["title"] = info.title
        data["meaning"] = info.meaning
    else:
        data["title"] = "Not a failure"
        data["meaning"] = outcome.explanation
    data["fixes"] = [
        {"rank": rank, "text": fix.text, "effort": fix.effort}
        for rank, fix in enumerate(ranked_fixes(outcome), start=1)
    ]
    return data


def render(outcome: Outcome, title: str | None = None) -> Panel:
    """A rich panel: kind, explanation, meaning, evidence, fixes."""
    if outcome.kind is None:
        return Panel(Text(outcome.explanation), title=title or "explain", border_style="green")
    info = kind_info(outcome.kind)
    head = Text()
    head.append(str(outcome.kind), style="bold red")
    head.append(f"  {info.title}", style="bold")
    if outcome.is_600:
        head.append("  (reported as error 600)", style="magenta")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    facts.add_row("explanation", outcome.explanation)
    facts.add_row("meaning", info.meaning)
    facts.add_row("retryable", "yes" if outcome.retryable else "no")
    facts.add_row("request sent", "may have reached the upstream" if outcome.request_sent else "never left")
    facts.add_row("produced by", str(outcome.hop) + (f" ({outcome.producer})" if outcome.producer else ""))
    if outcome.retry_after is not None:
        facts.add_row("retry after", f"{outcome.retry_after:g} s")
    if outcome.request_id:
        facts.add_row("request id", outcome.request_id)
    if outcome.signature:
        facts.add_row("signature", f"{outcome.signature}  {outcome.source or ''}")
    evidence = Text("\n".join(f"• {line}" for line in outcome.evidence))
    fixes = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    fixes.add_column("#", justify="right")
    fixes.add_column("effort")
    fixes.add_column("fix")
    for rank, fix in enumerate(ranked_fixes(outcome), start=1):
        fixes.add_row(str(rank), Text(fix.effort, style=EFFORT_STYLE[fix.effort]), fix.text)
    body = Group(head, Text(), facts, Text("\nevidence", style="bold"), evidence, Text("\nfixes", style="bold"), fixes)
    return Panel(body, title=title or "explain", border_style="red" if not outcome.retryable else "yellow")


def read_given_log_line(log_line: str, log_format: str | None, others: list[object]) -> LogLine:
    """``--log-line`` read (``-``: the first non-blank line of stdin); raises UsageError on a contradiction or a
    line of no known format."""
    if any(value not in (None, [], False) for value in others):
        raise UsageError("--log-line explains a log line; drop --status/-H/--body/--body-file/--response")
    if log_line == "-":
        given = read_input("-", "log line").decode("utf-8", "replace")
        log_line = next((line for line in given.splitlines() if line.strip()), "")
    line = text(log_line, "--log-line").strip()
    if not line:
        raise UsageError("--log-line is empty")
    try:
        custom = compile_log_format(text(log_format, "--log-format")) if log_format else None
    except LogFormatError as exc:
        raise UsageError(str(exc)) from None
    reading = read_log_line(line, custom)
    if reading is None:
        raise UsageError(
            "--log-line is not a line of a log format upstreamkit reads (nginx access or error log, ingress-nginx"
            " upstreaminfo, HAProxy httplog, Envoy, AWS ALB, Caddy, the gateway's JSON); give --log-format"
            " for a custom nginx log_format"
        )
    return reading


def explain(
    status: str | None = typer.Option(None, "--status", "-s", help="HTTP status code (100-999; 600 is allowed)."),
    header: list[str] = typer.Option(
        [], "--header", "-H", help="A response header, 'Name: value'. Repeat for more.", show_default=False
    ),
    body: str | None = typer.Option(None, "--body", "-b", help="The response body, as text."),
    body_file: str | None = typer.Option(
        None, "--body-file", help="Read the response body from a file ('-': stdin), at most 16 MiB."
    ),
    response: str | None = typer.Option(
        None,
        "--response",
        "-r",
        help="A raw HTTP response (status line, headers, body), as `curl -i` prints it; at most 16 MiB.",
    ),
    now: float | None = typer.Option(
        None,
        "--now",
        parser=number(0),
        metavar="SECONDS",
        help="Epoch seconds to resolve HTTP-date Retry-After against (default: the Date header).",
    ),
    log_line: str | None = typer.Option(
        None,
        "--log-line",
        "-l",
        help="A gateway's log line (nginx access or error log, HAProxy httplog, Envoy, ALB, Caddy) to explain"
        " with the log signatures analyze uses; '-': the first line of stdin.",
    ),
    log_format: str | None = typer.Option(
        None, "--log-format", help="The nginx log_format string of a custom access-log line given with --log-line."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the report."),
) -> None:
    """Explain a failed upstream response: its kind, what it means, and the fixes, ranked.

    Examples:

      upstreamkit explain --status 200 --body '{"code": 600, "error": "gateway_timeout"}'

      upstreamkit explain -s 401 \
        -H 'WWW-Authenticate: Bearer error="invalid_token", error_description="The access token expired"'

      curl -si https://api.example.com/v1/x > resp.txt; upstreamkit explain --response resp.txt --json

      upstreamkit explain --log-line '2026/11/28 16:13:41 [error] 81#81: *3 upstream timed out (110: Connection
      timed out) while reading response header from upstream, client: 10.0.0.7, server: , request: "GET /v1/x
      HTTP/1.1", upstream: "http://10.0.0.9:8080/v1/x", host: "api"'
    """
    if log_line is not None:
        try:
            reading = read_given_log_line(log_line, log_format, [status, header, body, body_file, response])
        except UsageError as exc:
            raise fail(str(exc)) from None
        outcome = printable(reading.outcome)
        if as_json:
            typer.echo(json.dumps({**explanation_json(outcome), "log_line": reading.to_dict()}, indent=2))
        else:
            Console(highlight=False).print(render(outcome, title=f"explain: a {reading.format} line"))
        raise typer.Exit(0)
    if log_format is not None:
        raise fail("--log-format reads the line given with --log-line")
    try:
        given = build_response(status, header, body, body_file, response)
    except UsageError as exc:
        raise fail(str(exc)) from None
    outcome = printable(classify(given.status, given.headers, given.body, now=now))
    if as_json:
        typer.echo(json.dumps(explanation_json(outcome), indent=2))
    else:
        Console(highlight=False).print(render(outcome))
    raise typer.Exit(0)
