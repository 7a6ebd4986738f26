"""``upstreamkit demo``: the README's main job: the whole toolkit against the simulator, on loopback only.

1. Diagnose: one simulator per failure (healthy, expired token, invalid key, rate limited, outage, 600 in the
   body, gateway timeout, expired TLS certificate, a rejected payload field) plus a name that does not
   resolve (a loopback DNS responder answers NXDOMAIN) and a closed port; every verdict side by side.
2. Survive: the resilient client with its defaults through the incident timeline (healthy, outage,
   partial recovery, healthy): logical requests, upstream attempts, successes, breaker transitions.
3. Escalate: a redacted support bundle for the expired-token case, and where it is.

Everything listens on 127.0.0.1 and stops before the command returns; it takes about 20 seconds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from upstreamkit.cli.incident import run_incident
from upstreamkit.cli.samples import explain_samples
from upstreamkit.diagnose import ProbeOptions, ProbeRequest, Report, diagnose
from upstreamkit.errors import ErrorKind
from upstreamkit.knowledge import kind_info
from upstreamkit.simulator import Simulator
from upstreamkit.simulator.dns import DNSResponder

BODY = (
    b'{"amount": 1250, "currency": "EUR", "description": "order 1042", '
    b'"customer": {"name": "Ada", "email": "ada@example.invalid", "country": "NL"}, '
    b'"metadata": {"channel": "web", "campaign": "winter"}}'
)
"""A body the payload-field scenario rejects because of one field; isolation has to find which."""


@dataclass(frozen=True, slots=True)
class Case:
    """One failure to diagnose: how to set it up, and the kind a correct diagnosis names first."""

    name: str
    expect: ErrorKind | None
    setup: Callable[[ExitStack], tuple[ProbeRequest, ProbeOptions]]


def _sim(stack: ExitStack, scenario: str) -> Simulator:
    return stack.enter_context(Simulator(scenario, seed=1))


def _get(scenario: str, **options: object) -> Callable[[ExitStack], tuple[ProbeRequest, ProbeOptions]]:
    def setup(stack: ExitStack) -> tuple[ProbeRequest, ProbeOptions]:
        sim = _sim(stack, scenario)
        extra = {key: (sim.base_url if value == "self" else value) for key, value in options.items()}
        return ProbeRequest(sim.url("/v1/items")), ProbeOptions(timeout=3.0, **extra)  # type: ignore[arg-type]

    return setup


def _expired_token(stack: ExitStack) -> tuple[ProbeRequest, ProbeOptions]:
    sim = _sim(stack, "expired-token")
    token = sim.issue_token("demo-client", lifetime=-900)  # expired a quarter of an hour ago
    return ProbeRequest(sim.url("/v1/items"), headers=(("Authorization", f"Bearer {token}"),)), ProbeOptions(3.0)


def _invalid_key(stack: ExitStack) -> tuple[ProbeRequest, ProbeOptions]:
    sim = _sim(stack, "invalid-key")
    return ProbeRequest(sim.url("/v1/items"), headers=(("X-Api-Key", "sk_live_demo0000000000000000revoked"),)), (
        ProbeOptions(3.0)
    )


def _tls_expired(stack: ExitStack) -> tuple[ProbeRequest, ProbeOptions]:
    sim = _sim(stack, "tls-expired")
    return ProbeRequest(sim.url("/v1/items")), ProbeOptions(3.0, cacert=str(sim.ca_file))


def _payload(stack: ExitStack) -> tuple[ProbeRequest, ProbeOptions]:
    sim = _sim(stack, "payload-field")
    request = ProbeRequest(
        sim.url("/v1/items/1042"), "PUT", (("Content-Type", "application/json"),), BODY
    )  # PUT is idempotent: isolation may resend it
    return request, ProbeOptions(3.0, isolate_payload=True)


def _dns(stack: ExitStack) -> tuple[ProbeRequest, ProbeOptions]:
    responder = stack.enter_context(DNSResponder({"api.sim.test": ["127.0.0.1"]}))
    return ProbeRequest("http://api.missing.test/v1/items"), ProbeOptions(2.0, dns_servers=(responder.address,))


def _closed_port(stack: ExitStack) -> tuple[ProbeRequest, ProbeOptions]:
    del stack
    return ProbeRequest(f"http://127.0.0.1:{_free_port()}/v1/items"), ProbeOptions(2.0)


def _free_port() -> int:
    import socket  # noqa: PLC0415 - only this case needs it

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on return: nothing listens there any more


CASES: tuple[Case, ...] = (
    Case("healthy", None, _get("healthy")),
    Case("expired token", ErrorKind.AUTH_EXPIRED, _expired_token),
    Case("invalid key", ErrorKind.AUTH_INVALID, _invalid_key),
    Case("rate limited", ErrorKind.RATE_LIMITED, _get("rate-limited", repeat=12)),
    Case("outage", ErrorKind.UPSTREAM_OUTAGE, _get("outage", status_page="self")),
    Case("600 in the body", ErrorKind.UPSTREAM_600, _get("body-600")),
    Case("gateway timeout", ErrorKind.HTTP_RESPONSE_TIMEOUT, _get("gateway-timeout")),
    Case("expired TLS certificate", ErrorKind.TLS_CERTIFICATE_ERROR, _tls_expired),
    Case("payload field", ErrorKind.PAYLOAD_REJECTED, _payload),
    Case("unknown host name", ErrorKind.DNS_ERROR, _dns),
    Case("closed port", ErrorKind.CONNECTION_REFUSED, _closed_port),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A case and its diagnosis."""

    case: Case
    report: Report

    @property
    def top(self) -> ErrorKind | None:
        """The most likely cause's kind (None: healthy)."""
        return self.report.causes[0].kind if self.report.causes else None

    @property
    def correct(self) -> bool:
        """Whether the diagnosis names the expected kind first."""
        return self.top == self.case.expect


def diagnose_cases(cases: tuple[Case, ...] = CASES, on_done: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    """Set up and diagnose every case; each case's servers stop as soon as it is diagnosed."""
    verdicts = []
    for case in cases:
        with ExitStack() as stack:
            request, options = case.setup(stack)
            verdict = Verdict(case, diagnose(request, options))
        verdicts.append(verdict)
        if on_done is not None:
            on_done(verdict)
    return verdicts


def verdict_table(verdicts: list[Verdict]) -> Table:
    """Every verdict side by side."""
    table = Table(title="1. diagnose: eleven failures, one command", title_justify="left", expand=True)
    table.add_column("scenario", no_wrap=True)
    table.add_column("verdict", style="bold", no_wrap=True)
    table.add_column("likely", justify="right")
    table.add_column("ms", justify="right")
    table.add_column("key evidence", ratio=1)
    for verdict in verdicts:
        report = verdict.report
        mark = Text(" ✓", style="green") if verdict.correct else Text(" ✗ expected " + str(verdict.case.expect), "red")
        if not report.causes:
            table.add_row(verdict.case.name, Text("healthy", style="green") + mark, "", f"{report.total_ms:.0f}", "")
            continue
        top = report.causes[0]
        table.add_row(
            verdict.case.name,
            Text(str(top.kind)) + mark,
            f"{top.likelihood:.0%}",
            f"{report.total_ms:.0f}",
            _key_evidence(top.evidence),
        )
    return table


def _key_evidence(lines: tuple[str, ...]) -> str:
    """The line that names an observed fact; restatements of the response and tallies come last."""

    def rank(line: str) -> int:
        if line.startswith(("the response:", "the body says:")):
            return 2
        return 1 if "requests failed" in line or line.startswith(("the response matches", "remaining quota")) else 0

    return min(lines, key=rank) if lines else ""


@contextmanager
def _timed(console: Console, what: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    console.print(f"[dim]{what} in {time.perf_counter() - started:.1f} s[/]")


def demo(
    bundle_dir: Path | None = typer.Option(
        None, "--bundle-dir", help="Where to write the support bundle [default: the system's temp directory]."
    ),
    incident_seconds: float = typer.Option(
        12.0, "--incident-seconds", min=2.0, max=60.0, help="How long the resilient client runs the incident."
    ),
    samples: bool = typer.Option(False, "--samples", help="Instead: explain a handful of real-looking responses."),
    detail: bool = typer.Option(True, "--detail/--summary", help="With --samples: each explanation, or the table."),
) -> None:
    """Tour upstreamkit on loopback: diagnose eleven failures, survive an incident, write a support bundle."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 132))  # logs and pipes: room for the tables
    if samples:
        explain_samples(console, detail=detail)
        return
    console.rule("upstreamkit demo: everything below runs against simulators on 127.0.0.1")
    with _timed(console, "diagnosed"), console.status("diagnosing ...") as status:
        verdicts = diagnose_cases(on_done=lambda v: status.update(f"diagnosed {v.case.name} ..."))
    console.print(verdict_table(verdicts))
    wrong = [v.case.name for v in verdicts if not v.correct]

    with _timed(console, "incident"):
        incident = run_incident(console, duration=incident_seconds)

    from upstreamkit.diagnose.bundle import write_bundle  # noqa: PLC0415 - the bundle writer loads when used

    expired = next(v for v in verdicts if v.case.expect is ErrorKind.AUTH_EXPIRED)
    directory = bundle_dir if bundle_dir is not None else Path(tempfile.gettempdir()) / "upstreamkit-demo"
    try:
        written = write_bundle(directory, expired.report)
    except OSError as exc:
        console.print(f"[red]could not write the support bundle in {directory}: {exc.strerror or exc}[/]")
        raise typer.Exit(1) from None
    console.rule("3. escalate")
    top = expired.report.causes[0] if expired.report.causes else None
    console.print(
        f"Support bundle for the expired-token case ({kind_info(top.kind).title if top else 'healthy'}): "
        f"[bold]{written}[/]\nreport.md, report.json, the request and response as sent and received, timings, "
        "environment and checklist, with every secret replaced by a sha256 fingerprint.\n"
        "Try it on your own endpoint: [bold]upstreamkit diagnose https://api.example.com/v1/x "
        "-H 'Authorization: Bearer ...' --bundle ticket.zip[/]"
    )
    if wrong or not incident.ok:
        console.print(f"[red]demo check failed: {', '.join(wrong) or incident.problem}[/]")
        raise typer.Exit(1)
