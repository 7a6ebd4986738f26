"""The ``upstreamkit`` command: one typer app, one module per sub-command."""

from __future__ import annotations

import typer

from upstreamkit._version import __version__
from upstreamkit.cli import demo, diagnose, explain, gateway, simulate

app = typer.Typer(
    name="upstreamkit",
    help=(
        "Find, survive, see and escalate upstream API failures: the gateway's 'error 600', "
        "502/503/504, expired tokens, throttling, outages, DNS and TLS trouble."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"upstreamkit {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Print the version and exit.",
        callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """Find, survive, see and escalate upstream API failures."""


app.command("diagnose")(diagnose.diagnose)
app.command("explain")(explain.explain)
app.command("demo")(demo.demo)
app.command("simulate")(simulate.simulate)
app.command("gateway")(gateway.gateway)


def main() -> None:
    """Console-script entry point."""
    app()
