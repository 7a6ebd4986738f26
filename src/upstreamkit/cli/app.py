"""The ``upstreamkit`` command: one typer app, one module per sub-command, imported when that command runs.

Exit codes shared by every command: 0 success, 1 a failure found (``diagnose``: a cause), 2 a usage error,
3 the command could not finish (``diagnose``: a check could not finish; any command: an internal error).
A usage error, typer's own included (an unknown option, a missing value, a number out of range), is one
line on stderr, ``error: ...``, redacted, never a traceback. An internal error is one line too, unless
``UPSTREAMKIT_DEBUG=1`` asks for the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import typer
import typer.main
from typer.core import TyperGroup

from upstreamkit._version import __version__

if TYPE_CHECKING:
    from typer._click import Command  # typer's own copy of click: the type of a group's commands

EXIT_INTERNAL = 3
"""An unexpected exception: the command could not finish."""


def _is_click_error(exc: BaseException) -> bool:
    """Click's and typer's own errors (usage errors, bad parameters) carry an exit code and a message."""
    return isinstance(getattr(exc, "exit_code", None), int) and callable(getattr(exc, "format_message", None))


def _report(exc: Exception) -> int:
    """One line on stderr for ``exc``; the exit code to leave with."""
    from upstreamkit.cli.checks import fail  # noqa: PLC0415 - a command that succeeds never pays for it

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
    from upstreamkit.diagnose.runner import describe_error  # noqa: PLC0415 - an internal error only

    fail(f"internal error, the command could not finish: {describe_error(exc)} (UPSTREAMKIT_DEBUG=1 shows where)")
    return EXIT_INTERNAL


COMMANDS = ("diagnose", "explain", "demo", "simulate", "analyze", "gateway")
"""The commands, in the order of ``upstreamkit --help``; each one's function is ``upstreamkit.cli.NAME.NAME``
(``gateway`` is a group: see :func:`_gateway_app`)."""


def _subapp(**settings: Any) -> typer.Typer:
    return typer.Typer(add_completion=False, pretty_exceptions_enable=False, **settings)


def _gateway_app() -> typer.Typer:
    """``gateway`` runs the gateway (quick-mode options on the group itself) or, with ``export``, prints an
    engine's config."""
    from upstreamkit.cli import gateway, gateway_export  # noqa: PLC0415 - see _build

    group = _subapp(name="gateway", context_settings={"help_option_names": ["-h", "--help"]})
    group.callback(invoke_without_command=True)(gateway.gateway)
    group.command("export")(gateway_export.export)
    return group


def _build(name: str) -> Command:
    """Import command ``name``'s module and build its click command from the typer function.

    Importing every command's module costs more than Python's own start-up (the gateway, the simulator,
    diagnose's probes), and one run uses one command: ``upstreamkit analyze`` imports only the analyze module
    (and DuckDB, the ``analyze`` extra, only when an analysis runs)."""
    if name == "gateway":
        return typer.main.get_command(_gateway_app())
    one = _subapp()
    one.command(name)(getattr(importlib.import_module(f"upstreamkit.cli.{name}"), name))
    return typer.main.get_command(one)


class _LazyCommands(MutableMapping[str, "Command"]):
    """A group's commands by name: every name is known at once (for ``--help``, "did you mean"), each command
    is built on its first lookup."""

    def __init__(self, names: Sequence[str], build: Callable[[str], Command], built: dict[str, Command]) -> None:
        self._order = list(dict.fromkeys([*names, *built]))
        self._build = build
        self._built = built

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in self._order:
                raise KeyError(name)
            self._built[name] = self._build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order


class OneLineErrors(TyperGroup):
    """The command group: typer's parsing and dispatch, with every error reported as one line (see above),
    and each command's module imported only when the command is used (:data:`COMMANDS`)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands(COMMANDS, _build, dict(self.commands))

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


# The commands are not registered here: OneLineErrors builds each one when it is used (COMMANDS, _build).


def main() -> None:
    """Console-script entry point."""
    app()
