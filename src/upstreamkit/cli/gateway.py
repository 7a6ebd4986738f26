"""``upstreamkit gateway``: the reverse proxy in the foreground until Ctrl-C or SIGTERM.

With a file: ``--config gateway.toml`` (:mod:`upstreamkit.gateway.configfile`; ``--check`` validates it, prints
the routes and exits 0, or 2 with one ``error:`` line). SIGHUP reloads the file. The quick-mode options below
cannot be combined with ``--config``: the file is the one source of truth, so a reload never has to guess
which command-line values were meant to win.

Quick mode: ``--route /PREFIX=URL`` (repeatable), and the main policy knobs (``--attempts``, ``--deadline``,
``--per-try-timeout``, ``--no-breaker``, ``--no-budget``; the client's defaults otherwise), degraded mode for
every route (``--stale-if-error SECONDS``, ``--fallback-body TEXT|@FILE`` with ``--fallback-status`` and
``--fallback-type``) and a connection cap per upstream (``--max-upstream-connections``). ``--state
redis://HOST:PORT/DB`` shares the breakers, budgets and limiters through Redis and ``--workers N`` serves the port
with N supervised processes (:mod:`upstreamkit.gateway.workers`); a config file says ``state`` and ``workers``
in its ``[gateway]`` table. Prints where it listens and the routes, then serves; on Ctrl-C or SIGTERM it stops
accepting, finishes the requests in flight (bounded by ``--drain-timeout``) and exits 0. A bad route or a port
that cannot be bound is one ``error:`` line on stderr and exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import typer

from upstreamkit.cli.checks import UsageError, check_url, integer, number
from upstreamkit.cli.checks import fail as _fail
from upstreamkit.cli.simulate import _is_loopback  # the same loopback check as the simulator's command

if TYPE_CHECKING:
    from upstreamkit.gateway import Gateway, GatewaySettings, Route

__all__ = ["gateway"]

MAX_SECONDS = 3600.0
"""The longest timeout an option takes: numbers are finite, and an hour is already past any real deadline."""


def gateway(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None, "--config", "-c", metavar="FILE", help="TOML config file (see examples/gateway.toml); SIGHUP reloads it."
    ),
    check: bool = typer.Option(False, "--check", help="With --config: validate the file, print its routes, exit."),
    route: list[str] = typer.Option(
        [], "--route", "-r", help="/PREFIX=URL: forward /PREFIX/... to URL/... (repeatable; longest prefix wins)."
    ),
    host: str | None = typer.Option(None, "--host", help="Address of the public listener. Loopback unless you say so."),
    port: int | None = typer.Option(
        None, "--port", "-p", parser=integer(0, 65535), metavar="PORT", help="Public port; 0 picks a free one."
    ),
    admin_port: int | None = typer.Option(
        None,
        "--admin-port",
        parser=integer(0, 65535),
        metavar="PORT",
        help="Admin port (/healthz, /readyz, /metrics, /status), on loopback; 0 picks one.",
    ),
    status_mode: str | None = typer.Option(
        None, "--status-mode", help="Status of the error envelope: 5xx (502/503/504/429), 200, or 600."
    ),
    access_log: str | None = typer.Option(
        None, "--access-log", help="Write the JSON access log to FILE, or '-' for stdout (default: none)."
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Cap on one attempt's complete response (beside --per-try-timeout).",
    ),
    attempts: int | None = typer.Option(
        None,
        "--attempts",
        parser=integer(1, 100),
        metavar="N",
        help="Attempts per request, the first included (1: no retries).",
    ),
    deadline: float | None = typer.Option(
        None,
        "--deadline",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Seconds per request, retries and waits included.",
    ),
    per_try_timeout: float | None = typer.Option(
        None,
        "--per-try-timeout",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Seconds per attempt (shortened to what the deadline leaves).",
    ),
    no_breaker: bool = typer.Option(False, "--no-breaker", help="No circuit breaker per upstream."),
    no_budget: bool = typer.Option(False, "--no-budget", help="No retry budget per upstream."),
    connect_timeout: float | None = typer.Option(
        None,
        "--connect-timeout",
        parser=number(0.001, MAX_SECONDS),
        metavar="SECONDS",
        help="Seconds to connect upstream.",
    ),
    drain_timeout: float | None = typer.Option(
        None,
        "--drain-timeout",
        parser=number(0.0, MAX_SECONDS),
        metavar="SECONDS",
        help="On stop, seconds in-flight requests may take to finish.",
    ),
    name: str | None = typer.Option(None, "--name", help="This gateway's name, in Proxy-Status and the log."),
    loop: str | None = typer.Option(
        None, "--loop", help="Event loop: auto (uvloop when installed), asyncio or uvloop."
    ),
    stale_if_error: float | None = typer.Option(
        None,
        "--stale-if-error",
        parser=number(0.0, 7 * 86400.0),
        metavar="SECONDS",
        help="On an upstream failure, serve a GET's last good response up to this old (RFC 5861), every route.",
    ),
    fallback_body: str | None = typer.Option(
        None, "--fallback-body", metavar="TEXT|@FILE", help="On an upstream failure, answer this body instead."
    ),
    fallback_status: int | None = typer.Option(
        None, "--fallback-status", parser=integer(200, 599), metavar="STATUS", help="Status of --fallback-body (200)."
    ),
    fallback_type: str | None = typer.Option(
        None, "--fallback-type", metavar="TYPE", help="Content type of --fallback-body (application/json)."
    ),
    max_upstream_connections: int | None = typer.Option(
        None,
        "--max-upstream-connections",
        parser=integer(1, 100_000),
        metavar="N",
        help="Connections open at once per upstream; requests beyond wait briefly, then get the envelope.",
    ),
    upstream_queue_timeout: float | None = typer.Option(
        None,
        "--upstream-queue-timeout",
        parser=number(0.0, MAX_SECONDS),
        metavar="SECONDS",
        help="How long a request waits for a connection at --max-upstream-connections (1 s).",
    ),
    state: str | None = typer.Option(
        None,
        "--state",
        metavar="URL",
        help="redis://HOST:PORT/DB: breaker, budget and limiter state shared by every worker and replica on that "
        "Redis (default: in each process).",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        parser=integer(1, 64),
        metavar="N",
        help="Processes serving the port (admin port + i for worker i). State is per worker unless --state.",
    ),
) -> None:
    """Run the gateway: forward configured routes, answer every upstream failure with one envelope.

    ``upstreamkit gateway export --format nginx|haproxy ...`` prints the same routes and policies as an
    engine's config instead (see ``upstreamkit gateway export --help``)."""
    if ctx.invoked_subcommand is not None:  # `gateway export ...`: the subcommand does the work
        return
    # Loaded here, not at the top: other commands need none of the gateway.
    from upstreamkit.gateway.configfile import ConfigError, load_config  # noqa: PLC0415

    given = {
        flag: value
        for flag, value in (
            ("--route", route),
            ("--host", host),
            ("--port", port),
            ("--admin-port", admin_port),
            ("--status-mode", status_mode),
            ("--access-log", access_log),
            ("--timeout", timeout),
            ("--attempts", attempts),
            ("--deadline", deadline),
            ("--per-try-timeout", per_try_timeout),
            ("--no-breaker", no_breaker),
            ("--no-budget", no_budget),
            ("--connect-timeout", connect_timeout),
            ("--drain-timeout", drain_timeout),
            ("--name", name),
            ("--loop", loop),
            ("--stale-if-error", stale_if_error),
            ("--fallback-body", fallback_body),
            ("--fallback-status", fallback_status),
            ("--fallback-type", fallback_type),
            ("--max-upstream-connections", max_upstream_connections),
            ("--upstream-queue-timeout", upstream_queue_timeout),
            ("--state", state),
            ("--workers", workers),
        )
        if value is not None and value is not False and value != []  # identity: --port 0 is given
    }
    if config is not None:
        if given:
            # One source of truth: a reload could not tell which values the command line meant to pin.
            raise _fail(f"--config cannot be combined with {', '.join(given)}: set them in the file instead")
        try:
            settings = load_config(config)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        if check:
            typer.echo(_summary(config, settings))
            raise typer.Exit(0)
        load: Callable[[], GatewaySettings] | None = partial(load_config, config)
    else:
        if check:
            raise _fail("--check needs --config FILE")
        settings = _quick_settings(given)
        load = None
    if not _is_loopback(settings.host):
        typer.echo(f"warning: listening on {settings.host}, not loopback: anyone who can reach it can use it", err=True)

    _check_scale(settings)
    code = _serve(settings, load)
    typer.echo("stopped", err=True)
    raise typer.Exit(code)


def _quick_settings(given: dict[str, Any]) -> GatewaySettings:
    """Quick mode: the routes and knobs of the command line, the client's defaults for the rest."""
    from upstreamkit.core.retry import RetryPolicy  # noqa: PLC0415
    from upstreamkit.gateway import GatewaySettings, RouteError, RoutePolicy, StatusMode, parse_route  # noqa: PLC0415

    specs: list[str] = given.get("--route", [])
    if not specs:
        raise _fail("give at least one --route /PREFIX=URL, or --config FILE")
    try:
        for spec in specs:
            prefix, sep, url = spec.partition("=")
            if sep and url.strip():
                check_url(url.strip(), f"--route {prefix}")  # the diagnose and explain rule for a URL
    except UsageError as exc:
        raise _fail(str(exc)) from None
    status_mode = given.get("--status-mode", "5xx")
    try:
        routes = tuple(parse_route(spec) for spec in specs)
        mode = StatusMode(status_mode)
    except RouteError as exc:
        raise _fail(str(exc)) from None
    except ValueError:
        raise _fail(f"--status-mode must be 5xx, 200 or 600, not {status_mode!r}") from None
    loop = given.get("--loop", "auto")
    if loop not in ("auto", "asyncio", "uvloop"):
        raise _fail(f"--loop must be auto, asyncio or uvloop, not {loop!r}")
    routes = _degraded(routes, given)
    default = RoutePolicy()
    retry = default.retry
    policy = RoutePolicy(
        retry=RetryPolicy(
            attempts=given.get("--attempts", retry.attempts),
            deadline=given.get("--deadline", retry.deadline),
            per_try_timeout=given.get("--per-try-timeout", retry.per_try_timeout),
        ),
        breaker=None if "--no-breaker" in given else default.breaker,
        budget=None if "--no-budget" in given else default.budget,
    )
    plain = GatewaySettings(routes=routes)
    return GatewaySettings(
        routes=routes,
        host=given.get("--host", plain.host),
        port=given.get("--port", plain.port),
        admin_port=given.get("--admin-port", plain.admin_port),
        status_mode=mode,
        access_log=given.get("--access-log"),
        name=given.get("--name", plain.name),
        timeout=given.get("--timeout", plain.timeout),
        connect_timeout=given.get("--connect-timeout", plain.connect_timeout),
        drain_timeout=given.get("--drain-timeout", plain.drain_timeout),
        policy=policy,
        loop=loop,
        max_connections_per_upstream=given.get("--max-upstream-connections"),
        connection_queue_timeout=given.get("--upstream-queue-timeout", plain.connection_queue_timeout),
        state=given.get("--state"),
        workers=given.get("--workers", plain.workers),
    )


def _summary(path: str, settings: GatewaySettings) -> str:
    """What ``--check`` prints: where it would listen, each route, each upstream's protection (no secret)."""
    admin = f"{settings.admin_host}:{settings.admin_port}" if settings.admin_port is not None else "none"
    lines = [
        f"{path}: ok",
        f"listen {settings.host}:{settings.port}  admin {admin}  status-mode {settings.status_mode}",
    ]
    lines.append(f"{len(settings.routes)} route(s):")
    for route in settings.routes:
        policy = route.policy or settings.policy
        parts = [f"attempts {policy.retry.attempts}", f"deadline {policy.retry.deadline}s"]
        parts.append("breaker" if policy.breaker is not None else "no breaker")
        parts.append("budget" if policy.budget is not None else "no budget")
        if policy.rate is not None:
            parts.append(f"rate {policy.rate:g}/s")
        if route.stale_if_error is not None:
            parts.append(f"stale-if-error {route.stale_if_error:g}s")
        if route.fallback is not None:
            parts.append(f"fallback {route.fallback.status}")
        upstream = settings.upstream(route.upstream)
        if upstream is not None and upstream.credentials is not None:
            spec = upstream.credentials
            parts.append(f"{spec.kind} credential in {spec.header} from {spec.secret.describe()}")
        lines.append(f"  {route.prefix:<16} -> {route.upstream} {route.url}  ({', '.join(parts)})")
    return "\n".join(lines)


def _degraded(routes: tuple[Route, ...], given: dict[str, Any]) -> tuple[Route, ...]:
    """The routes with the degraded-mode options (the same for every route in quick mode)."""
    from upstreamkit.gateway.degrade import fallback_from  # noqa: PLC0415 - loaded with the gateway

    stale_if_error: float | None = given.get("--stale-if-error")
    body: str | None = given.get("--fallback-body")
    fallback = None
    if body is not None:
        file = body[1:] if body.startswith("@") else None
        try:
            fallback = fallback_from(
                None if file is not None else body, file=file, status=given.get("--fallback-status", 200),
                content_type=given.get("--fallback-type", "application/json"),
            )  # fmt: skip
        except OSError as exc:
            raise _fail(f"--fallback-body: cannot read {file}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise _fail(f"--fallback-type: {exc}") from None
    if stale_if_error is None and fallback is None:
        return routes
    return tuple(replace(route, stale_if_error=stale_if_error, fallback=fallback) for route in routes)


def _check_scale(settings: GatewaySettings) -> None:
    """``state`` names a Redis and its client is installed; ``workers`` leave room for their admin ports."""
    from upstreamkit.gateway.state import check_state_url  # noqa: PLC0415

    state, workers, admin_port = settings.state, settings.workers, settings.admin_port
    if state is not None:
        try:
            check_state_url(state)
            import redis  # noqa: F401, PLC0415 - the optional extra, checked before anything listens
        except ValueError as exc:
            raise _fail(f"--state: {exc}") from None
        except ImportError:
            raise _fail("--state redis:// needs the redis client: pip install 'upstreamkit[redis]'") from None
    if workers > 1 and admin_port and admin_port + workers - 1 > 65535:
        raise _fail(f"--admin-port {admin_port} leaves no room for {workers} workers (admin port + i each)")


def _serve(settings: GatewaySettings, load: Callable[[], GatewaySettings] | None) -> int:
    """Serve in this process, or with ``settings.workers`` supervised ones; announce where on stderr."""
    from upstreamkit.core.redact import redact_url  # noqa: PLC0415
    from upstreamkit.gateway import run  # noqa: PLC0415
    from upstreamkit.gateway.workers import serve_workers  # noqa: PLC0415

    where = "in each process" if settings.state is None else f"shared on {redact_url(settings.state)}"
    reloads = "  SIGHUP reloads the config." if load is not None else ""

    def announce_lines(port: int, admin: str, admin_port: int | None = None) -> None:
        lines = [f"upstreamkit gateway on http://{settings.host}:{port}  ({admin})"]
        if admin_port is not None:
            lines.append(f"  dashboard http://{settings.admin_host}:{admin_port}/dashboard")
        lines += [f"  {r.prefix:<16} -> {r.url}  (upstream {r.upstream})" for r in settings.routes]
        if settings.state is not None or settings.workers > 1:
            lines.append(f"state: {where}")
        lines.append("Ctrl-C to stop." + reloads)
        # stderr: stdout may be the access log.
        typer.echo("\n".join(lines), err=True)

    def admin_of(started: Gateway) -> str:
        port = started.admin_port
        return f"admin http://{settings.admin_host}:{port}" if port is not None else "admin none"

    def announce(started: Gateway) -> None:
        announce_lines(started.port, admin_of(started), started.admin_port)

    def announce_worker(started: Gateway, index: int) -> None:
        typer.echo(f"worker {index} pid {os.getpid()}: {admin_of(started)}", err=True)

    def say(line: str) -> None:
        typer.echo(line, err=True)

    try:
        if settings.workers > 1:
            return serve_workers(
                settings, on_ready=lambda port: announce_lines(port, f"{settings.workers} workers"),
                on_worker_ready=announce_worker, load=load, say=say,
            )  # fmt: skip
        return run(settings, on_ready=announce, load=load, say=say)
    except OSError as exc:
        reason = exc.strerror or exc
        raise _fail(f"cannot listen on {settings.host}:{settings.port} or the admin port: {reason}") from None
    except ImportError:
        raise _fail("loop uvloop needs uvloop: pip install 'upstreamkit[gateway]'") from None
