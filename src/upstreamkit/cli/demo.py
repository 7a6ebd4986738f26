"""``upstreamkit demo``: the README's main job: the whole toolkit against the simulator, on loopback only.

1. Diagnose: one simulator per failure (healthy, expired token, invalid key, rate limited, outage, 600 in the
   body, gateway timeout, expired TLS certificate, a rejected payload field) plus a name that does not
   resolve (a loopback DNS responder answers NXDOMAIN) and a closed port; every verdict side by side
   (:mod:`upstreamkit.cli.tour`).
2. Survive: the resilient client with its defaults through the incident timeline (healthy, outage,
   partial recovery, healthy): logical requests, upstream attempts, successes, breaker transitions
   (:mod:`upstreamkit.cli.incident`).
3. Escalate: a redacted support bundle for the expired-token case, and where it is.
4. The gateway in front of the incident: plain callers get one envelope for every failure (problem+json with
   ``code: 600``, ``Proxy-Status``), then the admin ``/status`` and the dashboard's address
   (:mod:`upstreamkit.cli.gateway_act`).

Everything listens on 127.0.0.1 and stops before the command returns; it takes about 20 seconds. The heavy
parts load inside the command, so that other commands start fast.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from upstreamkit.cli.checks import fail, number
from upstreamkit.cli.samples import explain_samples


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
        12.0,
        "--incident-seconds",
        parser=number(2.0, 60.0),
        metavar="SECONDS",
        help="How long the resilient client runs the incident, 2 to 60 seconds.",
    ),
    gateway_seconds: float = typer.Option(
        3.5,
        "--gateway-seconds",
        parser=number(3.0, 60.0),
        metavar="SECONDS",
        help="How long callers send requests through the gateway, 3 to 60 seconds.",
    ),
    samples: bool = typer.Option(False, "--samples", help="Instead: explain a handful of real-looking responses."),
    detail: bool = typer.Option(True, "--detail/--summary", help="With --samples: each explanation, or the table."),
) -> None:
    """Tour upstreamkit on loopback: diagnose eleven failures, survive an incident, write a support bundle, and
    put the gateway in front of the incident."""
    if bundle_dir is not None and "\x00" in str(bundle_dir):
        raise fail("--bundle-dir cannot hold a NUL character")
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 132))  # logs and pipes: room for the tables
    if samples:
        explain_samples(console, detail=detail)
        return
    from upstreamkit.cli.gateway_act import run_gateway_act  # noqa: PLC0415 - heavy: loaded when the demo runs
    from upstreamkit.cli.incident import run_incident  # noqa: PLC0415
    from upstreamkit.cli.tour import diagnose_cases, verdict_table  # noqa: PLC0415
    from upstreamkit.diagnose.bundle import write_bundle  # noqa: PLC0415
    from upstreamkit.errors import ErrorKind  # noqa: PLC0415
    from upstreamkit.knowledge import kind_info  # noqa: PLC0415

    console.rule("upstreamkit demo: everything below runs against simulators on 127.0.0.1")
    with _timed(console, "diagnosed"), console.status("diagnosing ...") as status:
        verdicts = diagnose_cases(on_done=lambda v: status.update(f"diagnosed {v.case.name} ..."))
    console.print(verdict_table(verdicts))
    wrong = [v.case.name for v in verdicts if not v.correct]

    with _timed(console, "incident"):
        incident = run_incident(console, duration=incident_seconds)

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

    with _timed(console, "gateway"):
        gateway = run_gateway_act(console, duration=gateway_seconds)
    if wrong or not incident.ok or not gateway.ok:
        console.print(f"[red]demo check failed: {', '.join(wrong) or incident.problem or gateway.problem}[/]")
        raise typer.Exit(1)
