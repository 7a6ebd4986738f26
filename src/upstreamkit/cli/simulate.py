"""``upstreamkit simulate``: run the fault-injecting upstream in the foreground until Ctrl-C.

Prints the URLs to call, then one live line of counts (refreshed twice a second on a terminal, every ten
seconds otherwise), and stops cleanly on Ctrl-C or SIGTERM with exit code 0. A bad scenario name or file, a
bad TLS variant, or a port that cannot be bound is one ``error:`` line on stderr and exit code 2.
"""

from __future__ import annotations

import ipaddress
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from upstreamkit.cli.checks import UsageError, fail, integer, number, path, text

if TYPE_CHECKING:
    from upstreamkit.simulator import Simulator

__all__ = ["simulate"]

TLS_VARIANTS = "valid, expired, not-yet-valid, hostname-mismatch, self-signed"
"""The simulator's TLS variants, for --help without importing it (a test keeps this equal to TLSVariant)."""
_TLS_HELP = TLS_VARIANTS


MAX_TIME_SCALE = 1000.0
MAX_SEED = 2**64 - 1


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def status_line(stats: Mapping[str, Any]) -> str:
    """One line of counts from :meth:`Simulator.stats`."""
    by_class: dict[str, int] = {}
    for status, count in stats.get("by_status", {}).items():
        name = "no response" if status == "none" else f"{status[0]}xx" if status != "600" else "600"
        by_class[name] = by_class.get(name, 0) + count
    statuses = " ".join(f"{name}:{count}" for name, count in sorted(by_class.items()))
    faults = " ".join(f"{name}:{count}" for name, count in sorted(stats.get("by_fault", {}).items()) if name != "ok")
    return (
        f"phase {stats.get('phase') or '-'} · {stats.get('requests', 0)} req"
        f" · {statuses or 'no responses yet'}"
        f" · faults {faults or 'none'}"
        f" · effects {stats.get('side_effects_applied', 0)}"
        f" (dup {stats.get('duplicate_side_effects', 0)}, replay {stats.get('idempotent_replays', 0)})"
        f" · conns {stats.get('connections', 0)}"
    )


def simulate(
    scenario: str = typer.Option(
        "healthy",
        "--scenario",
        "-s",
        help="A built-in scenario name (see --list) or the path to a scenario TOML file.",
    ),
    port: int = typer.Option(
        8600, "--port", "-p", parser=integer(0, 65535), metavar="PORT", help="TCP port; 0 picks a free one."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Loopback unless you say so."),
    tls: str | None = typer.Option(
        None, "--tls", help=f"Serve HTTPS with this certificate: {_TLS_HELP} (default: the scenario's own)."
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        parser=integer(0, MAX_SEED),
        metavar="N",
        help="Seed of the fault draws (0 to 2**64-1): the same seed repeats the same run.",
    ),
    time_scale: float = typer.Option(
        1.0,
        "--time-scale",
        parser=number(0.001, MAX_TIME_SCALE),
        metavar="FACTOR",
        help=f"Multiply the scenario's phase times, 0.001 to {MAX_TIME_SCALE:g} (0.1: ten times faster).",
    ),
    header_timeout: float = typer.Option(
        10.0, "--header-timeout", help="Seconds a client has to send a request's headers (then 408 and close)."
    ),
    idle_timeout: float = typer.Option(
        15.0, "--idle-timeout", help="Seconds an idle keep-alive connection stays open."
    ),
    list_scenarios: bool = typer.Option(False, "--list", help="List the built-in scenarios and exit."),
) -> None:
    """Run a simulated upstream that fails the way real ones do: raw 600s, outages, expired tokens,
    throttling, resets, hangs, bad certificates. Prints its URLs and live counts; Ctrl-C stops it."""
    # Loaded here, not at the top: the simulator (pydantic, cryptography) would slow every other command.
    from upstreamkit.simulator import (  # noqa: PLC0415
        ScenarioError,
        ServerLimits,
        Simulator,
        builtin_scenarios,
        load_scenario,
    )
    from upstreamkit.simulator.tls import parse_tls_variant  # noqa: PLC0415

    if list_scenarios:
        for name in builtin_scenarios():
            typer.echo(f"{name:18} {load_scenario(name).description.splitlines()[0]}")
        return
    try:
        chosen = load_scenario(path(scenario, "--scenario"))  # a built-in name or a file
        variant = parse_tls_variant(text(tls, "--tls")) if tls is not None else None
        limits = ServerLimits(header_timeout=header_timeout, idle_timeout=idle_timeout)
        sim = Simulator(
            chosen, seed=seed, host=text(host, "--host"), port=port, tls=variant, time_scale=time_scale, limits=limits
        )
    except (ScenarioError, ValueError, UsageError) as exc:
        raise fail(str(exc)) from None
    if not _is_loopback(host):
        typer.echo(f"warning: listening on {host}, not loopback: anyone who can reach it can use it", err=True)
    try:
        sim.start()
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        _announce(sim)
        _run_until_stopped(sim)
        final = sim.stats()
    finally:
        sim.stop()
    typer.echo("stopped: " + status_line(final))


def _announce(sim: Simulator) -> None:
    base = sim.base_url
    scenario = sim.scenario
    lines = [
        f"upstreamkit simulator · scenario {scenario.name} · seed {sim.seed} · time scale {sim.time_scale:g}",
        f"  {scenario.description.splitlines()[0]}" if scenario.description else "",
        f"  API          {base}/v1/items   (any /v1/ path; POST /v1/payments applies a side effect)",
        f"  token        POST {base}/oauth/token   (client_credentials: sim-client / sim-secret)",
        f"  status page  {base}/api/v2/status.json   {base}/api/v2/summary.json",
        f"  ledger       {base}/__sim/ledger   stats {base}/__sim/stats   reset: POST {base}/__sim/reset",
    ]
    if sim.tls is not None:
        lines.append(f"  TLS          {sim.tls.value} certificate; trust the CA file {sim.ca_file}")
    lines.append("Ctrl-C to stop.")
    typer.echo("\n".join(line for line in lines if line))


def _run_until_stopped(sim: Simulator) -> None:
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_term(signum: int, frame: FrameType | None) -> None:
            del signum, frame
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_term)
    console = Console()
    try:
        if console.is_terminal:
            with Live(Text(status_line(sim.stats())), console=console, refresh_per_second=2) as live:
                while not stop.wait(0.5):
                    live.update(Text(status_line(sim.stats())))
        else:
            last = time.monotonic()
            while not stop.wait(0.5):
                if time.monotonic() - last >= 10:
                    last = time.monotonic()
                    typer.echo(status_line(sim.stats()))
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _standalone() -> None:
    """``python -m upstreamkit.cli.simulate``: the command on its own."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(simulate)
    app()


if __name__ == "__main__":
    _standalone()
