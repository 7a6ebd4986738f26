"""The demo's tour: the failures it diagnoses and the table of verdicts (``upstreamkit demo`` runs it).

1. Diagnose: one simulator per failure (healthy, expired token, invalid key, rate limited, outage, 600 in the
   body, gateway timeout, expired TLS certificate, a rejected payload field) plus a name that does not
   resolve (a loopback DNS responder answers NXDOMAIN) and a closed port; every verdict side by side.
2. Survive: the resilient client with its defaults through the incident timeline (healthy, outage,
   partial recovery, healthy): logical requests, upstream attempts, successes, breaker transitions.
3. Escalate: a redacted support bundle for the expired-token case, and where it is.

Everything listens on 127.0.0.1 and stops before the command returns; it takes about 20 seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from upstreamkit.diagnose import ProbeOptions, ProbeRequest, Report, diagnose
from upstreamkit.errors import ErrorKind
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
        """Whether the diagnosis names the expected kind first (for the healthy case: is healthy)."""
        return self.top == self.case.expect and (self.case.expect is not None or self.report.healthy)


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
            word = Text("healthy", style="green") if report.healthy else Text("incomplete", style="yellow")
            unfinished = "" if report.healthy else f"could not finish: {', '.join(report.unfinished)}"
            table.add_row(verdict.case.name, word + mark, "", f"{report.total_ms:.0f}", unfinished)
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
        if line.startswith(("the response:", "the body says:", "the body names")):
            return 2
        return 1 if "requests failed" in line or line.startswith(("the response matches", "remaining quota")) else 0

    return min(lines, key=rank) if lines else ""
