"""``upstreamkit diagnose URL``: probe a failing endpoint phase by phase, rank the causes, bundle it for support.

Exit codes: 0 healthy (every check finished, no cause found), 1 a cause was found, 2 a usage error (one
``error:`` line on stderr, never a traceback), 3 a check could not finish and no cause was found (the report
and the JSON say which: ``"incomplete": true``, the phase's ``error``), so that a gate never passes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from upstreamkit.cli.checks import (
    UsageError,
    check_method,
    check_url,
    fail,
    integer,
    number,
    parse_header,
    path,
    read_input,
    text,
)
from upstreamkit.diagnose import PhaseResult, ProbeOptions, ProbeRequest, Report
from upstreamkit.diagnose import diagnose as run_diagnosis
from upstreamkit.diagnose.inputs import InputError, ParsedInput, parse_curl, parse_har
from upstreamkit.diagnose.probes._net import parse_dns_server as parse_resolver
from upstreamkit.diagnose.probes._net import parse_resolve
from upstreamkit.diagnose.report import render, report_to_json

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
MAX_REPEAT = 100
MAX_TIMEOUT = 300.0
MAX_HAR_ENTRY = 1_000_000


def _resolve_entries(entry: str) -> list[tuple[str, int, str]]:
    try:
        return parse_resolve(entry)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_dns_server(entry: str) -> str:
    """``ADDR`` or ``ADDR:PORT`` (IPv6 as ``[ADDR]:PORT``) of a resolver to ask instead of the system's."""
    try:
        parse_resolver(entry)
    except ValueError:
        raise UsageError(
            f"--dns-server {entry[:80]!r} is not an IP address with an optional port from 1 to 65535 (ADDR:PORT)"
        ) from None
    return entry.strip()


def _read_data(data: str | None, data_file: str | None) -> bytes | None:
    if data is not None and data_file is not None:
        raise UsageError("give -d/--data or --data-file, not both")
    if data_file is not None:
        return read_input(path(data_file, "--data-file"), "--data-file")
    if data is not None and data.startswith("@"):
        return _read_data(None, data[1:])
    return text(data, "-d/--data").encode() if data is not None else None


def _source(from_curl: str | None, har: str | None, har_entry: int | None) -> ParsedInput | None:
    if from_curl is not None and har is not None:
        raise UsageError("give --from-curl or --har, not both")
    try:
        if from_curl is not None:
            return parse_curl(from_curl)
        if har is not None:
            return parse_har(Path(path(har, "--har")), entry=har_entry)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if har_entry is not None:
        raise UsageError("--har-entry needs --har")
    return None


def build(
    url: str | None,
    method: str | None,
    header: list[str],
    data: str | None,
    data_file: str | None,
    from_curl: str | None,
    har: str | None,
    har_entry: int | None,
    *,
    timeout: float | None,
    cacert: str | None,
    insecure: bool,
    resolve: list[str],
    dns_server: list[str],
    status_page: str | None,
    repeat: int,
    isolate_payload: bool,
    allow_unsafe: bool,
) -> tuple[ProbeRequest, ProbeOptions]:
    """The request and options from the command line; options given explicitly beat those of curl or HAR."""
    parsed = _source(from_curl, har, har_entry)
    base = parsed.request if parsed is not None else None
    target = url if url is not None else (base.url if base is not None else None)
    if target is None:
        raise UsageError("give a URL (or --from-curl 'curl ...' or --har FILE); see --help")
    check_url(target)
    body = _read_data(data, data_file)
    if body is None and base is not None:
        body = base.body
    if method is not None:
        verb = check_method(method)  # an explicit -X '' is a mistake, not "the default method"
    else:
        verb = base.method if base is not None else "POST" if body is not None else "GET"
    headers = list(base.headers) if base is not None else []
    for line in header:
        name, value = parse_header(line)
        headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
        headers.append((name, value))
    if not 1 <= repeat <= MAX_REPEAT:
        raise UsageError(f"--repeat must be from 1 to {MAX_REPEAT}")
    chosen_timeout = timeout if timeout is not None else (parsed.timeout if parsed and parsed.timeout else 10.0)
    if not 0 < chosen_timeout <= MAX_TIMEOUT:  # a pasted curl's -m may ask for more than --timeout allows
        raise UsageError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    ca = cacert if cacert is not None else (parsed.cacert if parsed is not None else None)
    if ca is not None and not Path(path(ca, "--cacert")).is_file():
        raise UsageError(f"--cacert {ca!r}: no such file")
    if status_page is not None:
        check_url(status_page, "--status-page")
    if isolate_payload and verb not in IDEMPOTENT and not allow_unsafe:
        raise UsageError(
            f"--isolate-payload resends the request; {verb} is not idempotent, so each resend may repeat a side "
            "effect. Add --allow-unsafe if that is acceptable (for example against a test environment)."
        )
    resolves = [item for entry in resolve for item in _resolve_entries(entry)]
    if parsed is not None:
        resolves = list(parsed.resolve) + resolves
    request = ProbeRequest(url=target, method=verb, headers=tuple(headers), body=body)
    options = ProbeOptions(
        timeout=chosen_timeout,
        cacert=ca,
        insecure=insecure or (parsed.insecure if parsed is not None else False),
        resolve=tuple(resolves),
        dns_servers=tuple(parse_dns_server(entry) for entry in dns_server),
        status_page=status_page,
        repeat=repeat,
        isolate_payload=isolate_payload,
        allow_unsafe=allow_unsafe,
    )
    return request, options


_MARK = {
    "ok": "[green]ok[/]",
    "warning": "[yellow]warning[/]",
    "failed": "[red]failed[/]",
    "skipped": "[dim]skipped[/]",
}


def diagnose(
    url: str | None = typer.Argument(None, help="The endpoint to probe (http:// or https://).", show_default=False),
    method: str | None = typer.Option(None, "-X", "--request", help="HTTP method (default GET, or POST with -d)."),
    header: list[str] = typer.Option(
        [], "-H", "--header", help="A request header, 'Name: value'. Repeat for more.", show_default=False
    ),
    data: str | None = typer.Option(None, "-d", "--data", help="Request body ('@FILE' reads a file)."),
    data_file: str | None = typer.Option(
        None, "--data-file", help="Read the request body from a file ('-': stdin), at most 16 MiB."
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        "-m",
        parser=number(0, MAX_TIMEOUT, above_low=True),
        metavar="SECONDS",
        help=f"Seconds for each network step, more than 0 and at most {MAX_TIMEOUT:g} (default 10).",
    ),
    cacert: str | None = typer.Option(None, "--cacert", help="PEM file of CA certificates to trust."),
    insecure: bool = typer.Option(
        False, "-k", "--insecure", help="Send the request even if the certificate fails (still reported)."
    ),
    resolve: list[str] = typer.Option(
        [], "--resolve", help="HOST:PORT:ADDR: connect to ADDR for HOST:PORT, as curl does.", show_default=False
    ),
    dns_server: list[str] = typer.Option(
        [], "--dns-server", help="Ask this resolver (ADDR or ADDR:PORT) instead of the system's.", show_default=False
    ),
    status_page: str | None = typer.Option(
        None, "--status-page", help="The provider's Statuspage URL, to read its own verdict and open incidents."
    ),
    repeat: int = typer.Option(
        1,
        "--repeat",
        "-n",
        parser=integer(1, MAX_REPEAT),
        metavar="N",
        help=f"Send the request N times, 1 to {MAX_REPEAT} (intermittent failures).",
    ),
    from_curl: str | None = typer.Option(
        None, "--from-curl", help="A pasted curl command line ('Copy as cURL'); other options override it."
    ),
    har: str | None = typer.Option(
        None, "--har", help="A HAR file (at most 256 MiB); probes its last failing request by default."
    ),
    har_entry: int | None = typer.Option(
        None,
        "--har-entry",
        parser=integer(-MAX_HAR_ENTRY, MAX_HAR_ENTRY),
        metavar="INDEX",
        help="Which HAR entry to probe (0-based index; negative counts from the end).",
    ),
    isolate_payload: bool = typer.Option(
        False, "--isolate-payload", help="Bisect a failing JSON body to the fields that trigger the failure."
    ),
    allow_unsafe: bool = typer.Option(
        False, "--allow-unsafe", help="Allow --isolate-payload to resend a non-idempotent request (POST, PATCH)."
    ),
    bundle: str | None = typer.Option(
        None, "--bundle", help="Write a redacted support bundle (zip) to this file or directory."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the report."),
) -> None:
    """Probe an endpoint phase by phase (DNS, TCP, TLS, HTTP, body, credentials, rate limits, proxies,
    status page, payload) and rank the likely causes of its failure, with evidence and fixes.

    Exit code 0: healthy (every check finished, no cause found); 1: a cause was found; 2: a usage error;
    3: a check could not finish and no cause was found (JSON: "incomplete": true; the phase's "error").

    Examples:

      upstreamkit diagnose https://api.example.com/v1/orders -H 'Authorization: Bearer ...'

      upstreamkit diagnose --from-curl "$(pbpaste)" --bundle ticket.zip

      upstreamkit diagnose https://api.example.com/v1/pay -X PUT -d @body.json --isolate-payload

    Every secret (tokens, keys, cookies, passwords) is replaced by a sha256 fingerprint in every output.
    """
    try:
        request, options = build(
            url, method, header, data, data_file, from_curl, har, har_entry,
            timeout=timeout, cacert=cacert, insecure=insecure, resolve=resolve, dns_server=dns_server,
            status_page=status_page, repeat=repeat, isolate_payload=isolate_payload, allow_unsafe=allow_unsafe,
        )  # fmt: skip
        target = _bundle_target(bundle)
    except UsageError as exc:
        raise fail(str(exc)) from None
    report = _run(request, options, quiet=as_json)
    written: Path | None = None
    if target is not None:
        from upstreamkit.diagnose.bundle import write_bundle  # noqa: PLC0415 - loaded only for --bundle

        try:
            written = write_bundle(target, report)
        except OSError as exc:
            raise fail(f"cannot write the bundle to {bundle!r}: {exc.strerror or exc}") from None
    if as_json:
        document = report_to_json(report)
        if written is not None:
            document["bundle"] = str(written)
        typer.echo(json.dumps(document, indent=2))
    else:
        console = Console(highlight=False)
        render(report, console, bundle=written)
    raise typer.Exit(exit_code(report))


EXIT_HEALTHY, EXIT_CAUSE, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


def exit_code(report: Report) -> int:
    """0 healthy, 1 a cause found (even when a check did not finish), 3 no cause found but a check did
    not finish: never 0 for a diagnosis that could not look everywhere."""
    if report.healthy:
        return EXIT_HEALTHY
    return EXIT_CAUSE if report.causes else EXIT_INCOMPLETE


def _bundle_target(bundle: str | None) -> Path | None:
    target = Path(path(bundle, "--bundle")) if bundle is not None else None
    if target is not None and target.exists() and not target.is_dir():
        raise UsageError(f"--bundle {bundle!r} already exists; give a new file name or a directory")
    return target


def _run(request: ProbeRequest, options: ProbeOptions, *, quiet: bool) -> Report:
    """Run the diagnosis, showing each phase on stderr as it finishes when stderr is a terminal."""
    err = Console(stderr=True, highlight=False)
    if options.isolate_payload and not quiet:
        err.print(f"payload isolation may send up to {options.max_isolation_requests} more requests")
    if quiet or not err.is_terminal:
        return run_diagnosis(request, options)
    with err.status("probing dns ...") as status:

        def progress(result: PhaseResult) -> None:
            ms = f"{result.ms:.0f} ms" if result.ms is not None else ""
            err.print(f"  {result.name:<12} {_MARK[result.status]:<20} {ms}")
            status.update(f"probing after {result.name} ...")

        return run_diagnosis(request, options, progress=progress)
