"""The ``upstreamkit`` command: one typer app, one module per sub-command.

Exit codes shared by every command: 0 success, 1 a failure found (``diagnose``: a cause), 2 a usage error,
3 the command could not finish (``diagnose``: a check could not finish; any command: an internal error).
A usage error, typer's own included (an unknown option, a missing value, a number out of range), is one
line on stderr, ``error: ...``, redacted, never a traceback. An internal error is one line too, unless
``UPSTREAMKIT_DEBUG=1`` asks for the traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from upstreamkit._version import __version__
from upstreamkit.cli import analyze, demo, diagnose, explain, gateway, gateway_export, simulate
from upstreamkit.cli.checks import fail
from upstreamkit.diagnose.runner import describe_error

EXIT_INTERNAL = 3
"""An unexpected exception: the command could not finish."""


def _is_click_error(exc: BaseException) -> bool:
    """Click's and typer's own errors (usage errors, bad parameters) carry an exit code and a message."""
    return isinstance(getattr(exc, "exit_code", None), int) and callable(getattr(exc, "format_message", None))


def _report(exc: Exception) -> int:
    """One line on stderr for ``exc``; the exit code to leave with."""
    if isinstance(exc, typer.Abort):
        fail("aborted")
        return 1
    if _is_click_error(exc):
        message: str = exc.format_message()  # type: ignore[attr-defined]
        where = getattr(getattr(exc, "ctx", None), "command_path", None)  # the (sub)command that failed
        hint = f" (see '{where} --help')" if isinstance(where, str) and where else ""
        fail(f"{message}{hint}")
        code: int = exc.exit_code  # type: ignore[attr-defined]
        return code
    if os.environ.get("UPSTREAMKIT_DEBUG"):
        raise exc
    fail(f"internal error, the command could not finish: {describe_error(exc)} (UPSTREAMKIT_DEBUG=1 shows where)")
    return EXIT_INTERNAL


class OneLineErrors(TyperGroup):
    """The command group: typer's parsing and dispatch, with every error reported as one line (see above)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; in standalone mode (the console script, CliRunner) exit with its code."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except Exception as exc:  # noqa: BLE001 - every error becomes one line: see the module docstring
            result = _report(exc)
        sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)


app = typer.Typer(
    name="upstreamkit",
    cls=OneLineErrors,
    help=(
        "Find, survive, see and escalate upstream API failures: the gateway's 'error 600', "
        "502/503/504, expired tokens, throttling, outages, DNS and TLS trouble."
    ),
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"upstreamkit {__version__}")
        raise typer.Exit


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
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
    if ctx.invoked_subcommand is None:  # no command: the help, and the usage-error code (as click does)
        typer.echo(ctx.get_help())
        raise typer.Exit(2)


app.command("diagnose")(diagnose.diagnose)
app.command("explain")(explain.explain)
app.command("demo")(demo.demo)
app.command("simulate")(simulate.simulate)
# `gateway` runs the gateway (quick-mode options on the group itself) or, with `export`, prints an engine's config.
gateway_app = typer.Typer(
    name="gateway", add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)  # fmt: skip
gateway_app.callback(invoke_without_command=True)(gateway.gateway)
gateway_app.command("export")(gateway_export.export)
app.add_typer(gateway_app)
# DuckDB (the `analyze` extra) is imported only when the command runs.
app.command("analyze")(analyze.analyze)


def main() -> None:
    """Console-script entry point."""
    app()
