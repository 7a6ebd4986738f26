"""``upstreamkit gateway export``: the gateway's routes and policies as an nginx or HAProxy config.

Takes the quick mode's ``--route /PREFIX=URL ... [--host H] [--port P]`` and its policy knobs, builds the
same :class:`~upstreamkit.gateway.GatewaySettings` the gateway runs on, and prints the engine's config
(``--snippet``: only the part to include in an existing config; ``--output FILE`` writes it). What the engine
cannot express is listed in a comment at the top of the file. A bad option is one ``error:`` line, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from upstreamkit.cli.checks import UsageError, check_url, integer, number
from upstreamkit.cli.checks import fail as _fail

if TYPE_CHECKING:
    from upstreamkit.gateway import GatewaySettings

__all__ = ["export", "quick_settings"]

MAX_SECONDS = 3600.0


def quick_settings(
    route: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8600,
    status_mode: str = "5xx",
    access_log: str | None = None,
    name: str = "upstreamkit",
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
    attempts: int = 3,
    deadline: float = 30.0,
    per_try_timeout: float = 10.0,
    breaker: bool = True,
    budget: bool = True,
    rate: float | None = None,
    burst: int = 1,
) -> GatewaySettings:
    """The settings quick mode's options describe; a mistake raises :class:`UsageError` (one line)."""
    from upstreamkit.core.retry import RetryPolicy  # noqa: PLC0415 - other commands need none of the gateway
    from upstreamkit.gateway import GatewaySettings, RouteError, RoutePolicy, StatusMode, parse_route  # noqa: PLC0415

    if not route:
        raise UsageError("give at least one --route /PREFIX=URL")
    for spec in route:
        prefix, sep, url = spec.partition("=")
        if sep and url.strip():
            check_url(url.strip(), f"--route {prefix}")
    try:
        routes = tuple(parse_route(spec) for spec in route)
        mode = StatusMode(status_mode)
    except RouteError as exc:
        raise UsageError(str(exc)) from None
    except ValueError:
        raise UsageError(f"--status-mode must be 5xx, 200 or 600, not {status_mode!r}") from None
    default = RoutePolicy()
    policy = RoutePolicy(
        retry=RetryPolicy(attempts=attempts, deadline=deadline, per_try_timeout=per_try_timeout),
        breaker=default.breaker if breaker else None,
        budget=default.budget if budget else None,
        rate=rate,
        burst=burst,
    )
    return GatewaySettings(
        routes=routes,
        host=host,
        port=port,
        status_mode=mode,
        access_log=access_log,
        name=name,
        timeout=timeout,
        connect_timeout=connect_timeout,
        policy=policy,
    )


def export(
    format_: str = typer.Option(..., "--format", "-f", metavar="ENGINE", help="nginx or haproxy."),
    route: list[str] = typer.Option(
        [], "--route", "-r", help="/PREFIX=URL: forward /PREFIX/... to URL/... (repeatable; longest prefix wins)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the engine listens on."),
    port: int = typer.Option(8600, "--port", "-p", parser=integer(1, 65535), metavar="PORT", help="Public port."),
    snippet: bool = typer.Option(False, "--snippet", help="Only the part to include in an existing config."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="FILE", help="Write to FILE, not stdout."),
    runtime_dir: str | None = typer.Option(
        None,
        "--runtime-dir",
        metavar="DIR",
        help="Keep the pid file, temp paths and error log in DIR (unprivileged runs); default: the engine's own.",
    ),
    status_mode: str = typer.Option("5xx", "--status-mode", help="Status of the error envelope: 5xx, 200 or 600."),
    access_log: str | None = typer.Option(
        None, "--access-log", metavar="FILE", help="nginx: the JSON access log's file (default: stdout)."
    ),
    name: str = typer.Option("upstreamkit", "--name", help="The gateway's name, in Proxy-Status and the log."),
    timeout: float = typer.Option(
        30.0, "--timeout", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Cap on one attempt."
    ),
    connect_timeout: float = typer.Option(
        5.0, "--connect-timeout", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Seconds to connect."
    ),
    attempts: int = typer.Option(
        3, "--attempts", parser=integer(1, 10), metavar="N", help="Attempts per request, the first included."
    ),
    deadline: float = typer.Option(
        30.0, "--deadline", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Seconds per request."
    ),
    per_try_timeout: float = typer.Option(
        10.0, "--per-try-timeout", parser=number(0.001, MAX_SECONDS), metavar="SECONDS", help="Seconds per attempt."
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
    try:
        settings = quick_settings(
            route, host=host, port=port, status_mode=status_mode, access_log=access_log, name=name,
            timeout=timeout, connect_timeout=connect_timeout, attempts=attempts, deadline=deadline,
            per_try_timeout=per_try_timeout, breaker=not no_breaker, budget=not no_budget, rate=rate, burst=burst,
        )  # fmt: skip
    except UsageError as exc:
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
