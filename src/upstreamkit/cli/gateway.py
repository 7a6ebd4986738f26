"""``upstreamkit gateway``: the reverse proxy in the foreground until Ctrl-C or SIGTERM.

Quick mode: ``--route /PREFIX=URL`` (repeatable), and the main policy knobs (``--attempts``, ``--deadline``,
``--per-try-timeout``, ``--no-breaker``, ``--no-budget``; the client's defaults otherwise). Prints where it
listens and the routes, then serves; on Ctrl-C or SIGTERM it stops accepting, finishes the requests in flight
(bounded by ``--drain-timeout``) and exits 0. A bad route or a port that cannot be bound is one ``error:`` line
on stderr and exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from upstreamkit.cli.checks import UsageError, check_url, integer, number
from upstreamkit.cli.checks import fail as _fail
from upstreamkit.cli.simulate import _is_loopback  # the same loopback check as the simulator's command

if TYPE_CHECKING:
    from upstreamkit.gateway import Gateway

__all__ = ["gateway"]

MAX_SECONDS = 3600.0
"""The longest timeout an option takes: numbers are finite, and an hour is already past any real deadline."""


def gateway(
    route: list[str] = typer.Option(
        [], "--route", "-r", help="/PREFIX=URL: forward /PREFIX/... to URL/... (repeatable; longest prefix wins)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address of the public listener. Loopback unless you say so."),
    port: int = typer.Option(
        8600, "--port", "-p", parser=integer(0, 65535), metavar="PORT", help="Public port; 0 picks a free one."
    ),
    admin_port: int = typer.Option(
        8601,
        "--admin-port",
        parser=integer(0, 65535),
        metavar="PORT",
        help="Admin port (/healthz, /readyz, /metrics, /status), on loopback; 0 picks one.",
    ),
    status_mode: str = typer.Option(
        "5xx", "--status-mode", help="Status of the error envelope: 5xx (502/503/504/429), 200, or 600."
    ),
    access_log: str | None = typer.Option(
        None, "--access-log", help="Write the JSON access log to FILE, or '-' for stdout (default: none)."
    ),
    timeout: float = typer.Option(
        30.0,
        "--timeout",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Cap on one attempt's complete response (beside --per-try-timeout).",
    ),
    attempts: int = typer.Option(
        3,
        "--attempts",
        parser=integer(1, 100),
        metavar="N",
        help="Attempts per request, the first included (1: no retries).",
    ),
    deadline: float = typer.Option(
        30.0,
        "--deadline",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Seconds per request, retries and waits included.",
    ),
    per_try_timeout: float = typer.Option(
        10.0,
        "--per-try-timeout",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Seconds per attempt (shortened to what the deadline leaves).",
    ),
    no_breaker: bool = typer.Option(False, "--no-breaker", help="No circuit breaker per upstream."),
    no_budget: bool = typer.Option(False, "--no-budget", help="No retry budget per upstream."),
    connect_timeout: float = typer.Option(
        5.0,
        "--connect-timeout",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Seconds to connect upstream.",
    ),
    drain_timeout: float = typer.Option(
        10.0,
        "--drain-timeout",
        parser=number(0.0, MAX_SECONDS),
        metavar="SECONDS",
        help="On stop, seconds in-flight requests may take to finish.",
    ),
    name: str = typer.Option("upstreamkit", "--name", help="This gateway's name, in Proxy-Status and the log."),
    loop: str = typer.Option("auto", "--loop", help="Event loop: auto (uvloop when installed), asyncio or uvloop."),
) -> None:
    """Run the gateway: forward configured routes, answer every upstream failure with one envelope."""
    # Loaded here, not at the top: other commands need none of the gateway.
    from upstreamkit.core.retry import RetryPolicy  # noqa: PLC0415
    from upstreamkit.gateway import GatewaySettings, RouteError, RoutePolicy, StatusMode, parse_route, run  # noqa: PLC0415

    if not route:
        raise _fail("give at least one --route /PREFIX=URL")
    try:
        for spec in route:
            prefix, sep, url = spec.partition("=")
            if sep and url.strip():
                check_url(url.strip(), f"--route {prefix}")  # the diagnose and explain rule for a URL
    except UsageError as exc:
        raise _fail(str(exc)) from None
    try:
        routes = tuple(parse_route(spec) for spec in route)
        mode = StatusMode(status_mode)
    except RouteError as exc:
        raise _fail(str(exc)) from None
    except ValueError:
        raise _fail(f"--status-mode must be 5xx, 200 or 600, not {status_mode!r}") from None
    if loop not in ("auto", "asyncio", "uvloop"):
        raise _fail(f"--loop must be auto, asyncio or uvloop, not {loop!r}")
    default = RoutePolicy()
    policy = RoutePolicy(
        retry=RetryPolicy(attempts=attempts, deadline=deadline, per_try_timeout=per_try_timeout),
        breaker=None if no_breaker else default.breaker,
        budget=None if no_budget else default.budget,
    )
    if not _is_loopback(host):
        typer.echo(f"warning: listening on {host}, not loopback: anyone who can reach it can use it", err=True)
    settings = GatewaySettings(
        routes=routes,
        host=host,
        port=port,
        admin_port=admin_port,
        status_mode=mode,
        access_log=access_log,
        name=name,
        timeout=timeout,
        connect_timeout=connect_timeout,
        drain_timeout=drain_timeout,
        policy=policy,
        loop=loop,  # type: ignore[arg-type]  # checked just above
    )

    def announce(started: Gateway) -> None:
        lines = [f"upstreamkit gateway on http://{host}:{started.port}  (admin http://127.0.0.1:{started.admin_port})"]
        lines += [f"  {r.prefix:<16} -> {r.url}  (upstream {r.upstream})" for r in routes]
        lines.append("Ctrl-C to stop.")
        # stderr: stdout may be the access log.
        typer.echo("\n".join(lines), err=True)

    try:
        code = run(settings, on_ready=announce)
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port} or the admin port {admin_port}: {exc.strerror or exc}") from None
    except ImportError:
        raise _fail("--loop uvloop needs uvloop: pip install 'upstreamkit[gateway]'") from None
    typer.echo("stopped", err=True)
    raise typer.Exit(code)
