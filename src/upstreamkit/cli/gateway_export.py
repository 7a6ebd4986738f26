"""``upstreamkit gateway export``: the gateway's routes and policies as an nginx or HAProxy config.

Takes ``--config gateway.toml`` or the quick mode's ``--route /PREFIX=URL ... [--host H] [--port P]`` and its
policy knobs, builds the same :class:`~upstreamkit.gateway.GatewaySettings` the gateway runs on (the gateway
command's own quick-mode builder, or the config loader), and prints the engine's config
(``--snippet``: only the part to include in an existing config; ``--output FILE`` writes it). What the engine
cannot express is listed in a comment at the top of the file. A bad option is one ``error:`` line, exit 2.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from upstreamkit.cli.checks import fail as _fail
from upstreamkit.cli.checks import integer, number
from upstreamkit.cli.gateway import _quick_settings  # one quick mode: the gateway command's own

if TYPE_CHECKING:
    from upstreamkit.gateway import GatewaySettings

__all__ = ["export", "quick_settings"]

MAX_SECONDS = 3600.0
"""The longest timeout an option takes (as ``gateway``'s)."""


def quick_settings(routes: list[str], *, rate: float | None = None, burst: int = 1, **options: Any) -> GatewaySettings:
    """The settings quick mode's options describe, built as ``upstreamkit gateway`` builds them.

    ``options`` are the gateway command's quick-mode options by their parameter names (``port=8700``,
    ``attempts=2``, ``breaker=False``...); a mistake prints one ``error:`` line and raises :class:`typer.Exit`.
    """
    given: dict[str, Any] = {"--route": routes}
    for key, value in options.items():
        if key in ("breaker", "budget"):
            if not value:
                given[f"--no-{key}"] = True
        elif value is not None:
            given["--" + key.replace("_", "-")] = value
    settings = _quick_settings(given)
    if rate is None and burst == 1:
        return settings
    return replace(settings, policy=replace(settings.policy, rate=rate, burst=burst))


def export(
    format_: str = typer.Option(..., "--format", "-f", metavar="ENGINE", help="nginx or haproxy."),
    config: str | None = typer.Option(
        None, "--config", "-c", metavar="FILE", help="The gateway's TOML config file (instead of --route ...)."
    ),
    route: list[str] = typer.Option(
        [], "--route", "-r", help="/PREFIX=URL: forward /PREFIX/... to URL/... (repeatable; longest prefix wins)."
    ),
    host: str | None = typer.Option(None, "--host", help="Address the engine listens on [default: 127.0.0.1]."),
    port: int | None = typer.Option(
        None, "--port", "-p", parser=integer(1, 65535), metavar="PORT", help="Public port [default: 8600]."
    ),
    snippet: bool = typer.Option(False, "--snippet", help="Only the part to include in an existing config."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="FILE", help="Write to FILE, not stdout."),
    runtime_dir: str | None = typer.Option(
        None,
        "--runtime-dir",
        metavar="DIR",
        help="Keep the pid file, temp paths and error log in DIR (unprivileged runs); default: the engine's own.",
    ),
    status_mode: str | None = typer.Option(None, "--status-mode", help="Envelope status: 5xx (default), 200 or 600."),
    access_log: str | None = typer.Option(
        None, "--access-log", metavar="FILE", help="nginx: the JSON access log's file (default: stdout)."
    ),
    name: str | None = typer.Option(None, "--name", help="The gateway's name, in Proxy-Status and the log."),
    timeout: float | None = typer.Option(
        None, "--timeout", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Cap on one attempt."
    ),
    connect_timeout: float | None = typer.Option(
        None, "--connect-timeout", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Seconds to connect."
    ),
    attempts: int | None = typer.Option(
        None, "--attempts", parser=integer(1, 10), metavar="N", help="Attempts per request, the first included."
    ),
    deadline: float | None = typer.Option(
        None, "--deadline", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Seconds per request."
    ),
    per_try_timeout: float | None = typer.Option(
        None, "--per-try-timeout", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Seconds per attempt."
    ),
    no_breaker: bool = typer.Option(False, "--no-breaker", help="No passive health check (breaker)."),
    no_budget: bool = typer.Option(False, "--no-budget", help="No retry budget (neither engine has one)."),
    rate: float | None = typer.Option(
        None, "--rate", parser=number(0.001, 1e6), metavar="PER_SECOND", help="Requests per second per route."
    ),
    burst: int = typer.Option(1, "--burst", parser=integer(1, 100_000), metavar="N", help="Burst above --rate."),
) -> None:
    """Print the gateway's routes and policies as an nginx or HAProxy config."""
    from upstreamkit.gateway.export import ENGINES, render  # noqa: PLC0415

    if format_ not in ENGINES:
        raise _fail(f"--format must be {' or '.join(ENGINES)}, not {format_!r}")
    quick = {
        "host": host, "port": port, "status_mode": status_mode, "access_log": access_log, "name": name,
        "timeout": timeout, "connect_timeout": connect_timeout, "attempts": attempts, "deadline": deadline,
        "per_try_timeout": per_try_timeout, "breaker": not no_breaker, "budget": not no_budget,
    }  # fmt: skip
    if config is None:
        settings = quick_settings(route, rate=rate, burst=burst, **quick)
    else:
        given = [k for k, v in quick.items() if v is not None and v is not True] + (["route"] if route else [])
        given += [k for k, v in (("rate", rate), ("burst", burst != 1)) if v]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise _fail(f"--config cannot be combined with {flags}: set them in the file instead")
        from upstreamkit.gateway.configfile import ConfigError, load_config  # noqa: PLC0415

        try:
            settings = load_config(config)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
    text = render(settings, format_, snippet=snippet, runtime_dir=Path(runtime_dir) if runtime_dir else None)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({format_})", err=True)
