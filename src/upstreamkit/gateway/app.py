"""The gateway process: listeners, the upstream pool, the access log, and a graceful stop.

::

    settings = GatewaySettings(routes=(parse_route("/pay=http://127.0.0.1:9000/v1"),), port=0, admin_port=0)
    gateway = Gateway(settings)
    await gateway.start()          # listening: gateway.port, gateway.admin_port
    await gateway.stop()           # stop accepting, finish in-flight requests (bounded), close everything

:func:`run` is the command's foreground loop: uvloop when installed (``loop="auto"``), SIGINT and SIGTERM
begin the graceful stop, and it returns 0 once everything is closed. Given a config file's loader, SIGHUP
reloads it (:meth:`Gateway.reload`); without one (quick mode) SIGHUP is noted on stderr and ignored.

A reload swaps the routes, policies, credentials, degraded mode and envelope settings between two requests: the
listeners and their connections stay open (keep-alive connections included), a request in flight finishes on the
routes it started with, the next one uses the new. The live state (breaker, budget, limiter) of an upstream
whose URL, breaker, budget and rate are unchanged carries over; an injected credential whose config is unchanged
keeps its token. The listeners' addresses, the access log, the limits (``[gateway.limits]``: the pool, its
connection cap and queue, the stream threshold, the stale cache's bounds) and the loop are the process's:
changing them needs a restart (the reload says so and applies the rest). A file that does not validate changes
nothing: one ``error:`` line, counted in ``upstreamkit_gateway_config_reloads_total{result="error"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from functools import partial

from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.accesslog import AccessLog
from upstreamkit.gateway.admin import AdminHandler
from upstreamkit.gateway.bypass import BypassAPI, BypassSwitches
from upstreamkit.gateway.config import GatewaySettings, LoopName
from upstreamkit.gateway.credentials import Injector
from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.policy import Policies
from upstreamkit.gateway.proxy import Proxy
from upstreamkit.gateway.server import HTTPProtocol, Request, Response, ServerState
from upstreamkit.gateway.state import StateCollector
from upstreamkit.gateway.state import describe as describe_state
from upstreamkit.gateway.upstream import Resolver, UpstreamPool

__all__ = ["Gateway", "loop_factory", "run"]

_FLUSH_EVERY = 1.0
_NOTHING_TO_RELOAD = "note: SIGHUP ignored: nothing to reload in quick mode (a --config file can be reloaded)"


class Gateway:
    """One gateway: a public listener forwarding the configured routes, and an admin listener."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        on_ready: Callable[[Gateway], None] | None = None,
        clock: Clock | None = None,
        rng: RandomSource | None = None,
        listen_socket: socket.socket | None = None,
    ) -> None:
        """Configure (nothing listens until :meth:`start`); ``resolver`` and ``ssl_context`` are for the
        upstream connections (tests point them at loopback DNS and a local CA); ``clock`` is the policies'
        (upstreamkit's current clock by default: a FakeClock under ``upstreamkit.testing.testing()``);
        ``listen_socket``: a bound public socket to serve instead of binding ``host:port`` (a worker's)."""
        self.settings = settings
        self.clock = clock if clock is not None else get_clock()
        self.metrics = GatewayMetrics(self.clock)
        self._rng = rng
        self.policies = self._policies(settings)
        self.injectors = _injectors(settings, {}, self.clock)
        self.bypass = BypassSwitches(settings.routes, settings.policy, on_change=self.metrics.bypassed)
        """The admin API's bypass switches: the gateway's, kept across reloads."""
        if self.metrics.registry is not None:
            # Read at each scrape, from the policies in use (a reload replaces them).
            self.metrics.registry.register(StateCollector(lambda: self.policies.stores()))  # noqa: PLW0108 - late
        self.listen_socket = listen_socket
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._on_ready = on_ready
        self._public: asyncio.Server | None = None
        self._admin: asyncio.Server | None = None
        self._public_state = ServerState()
        self._admin_state = ServerState()
        self._pool: UpstreamPool | None = None
        self._access_log: AccessLog | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._accepting = False
        self._stopped = asyncio.Event()
        self.proxy: Proxy | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the access log and both listeners."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        self._pool = UpstreamPool(
            max_body=settings.max_response_bytes,
            ssl_context=self._ssl_context,
            resolver=self._resolver,
            max_connections_per_origin=settings.max_connections_per_upstream,
            queue_timeout=settings.connection_queue_timeout,
            max_queued=settings.connection_queue_max,
            stream_threshold=settings.stream_threshold,
        )
        self._access_log = AccessLog(settings.access_log) if settings.access_log else None
        self.proxy = Proxy(
            settings, self._pool, self._access_log, self.policies, self.metrics, self.injectors, bypass=self.bypass
        )
        self.metrics.breakers(self.policies.breakers())
        limits = settings.limits
        public_state = self._public_state
        handle, refuse = self._handle, self._refuse
        if self.listen_socket is not None:  # a worker's socket (SO_REUSEPORT, or inherited from the parent)
            self._public = await loop.create_server(
                lambda: HTTPProtocol(handle, refuse, limits, public_state), sock=self.listen_socket, backlog=2048
            )
        else:
            self._public = await loop.create_server(
                lambda: HTTPProtocol(handle, refuse, limits, public_state),
                settings.host,
                settings.port,
                backlog=2048,
            )
        if settings.admin_port is not None:
            admin = AdminHandler(
                ready=lambda: self._accepting,
                breakers=lambda: self.policies.breakers(),  # noqa: PLW0108 - the policies a reload puts in
                metrics=self.metrics,
                bypass=BypassAPI(self.bypass, gateway=settings.name),
                stale_cache=lambda: self.proxy.degraded.cache if self.proxy is not None else None,
                state=lambda: describe_state(self.policies.stores(), self.settings.state, self.settings.workers),
            )
            admin_state = self._admin_state
            self._admin = await loop.create_server(
                lambda: HTTPProtocol(admin.handle, _admin_refuse, limits, admin_state),
                settings.admin_host,
                settings.admin_port,
            )
        self._accepting = True
        if self._access_log is not None:
            self._flush_handle = loop.call_later(_FLUSH_EVERY, self._flush)
        if self._on_ready is not None:
            self._on_ready(self)

    def _policies(self, settings: GatewaySettings, previous: Policies | None = None) -> Policies:
        keep = _unchanged(self.settings, settings) if previous is not None else ()
        return Policies(
            settings.route_policies(),
            clock=self.clock,
            rng=self._rng,
            observe=self.metrics.observe,
            on_success=self.metrics.success,
            previous=previous,
            keep=keep,
            state=settings.state,
        )

    # The connections call these, never a Proxy directly: a reload replaces the proxy under open connections.
    def _handle(self, request: Request) -> Awaitable[Response]:
        assert self.proxy is not None  # noqa: S101 - set before the listener opens
        return self.proxy.handle(request)

    def _refuse(self, request: Request, status: int, kind: ErrorKind, detail: str) -> Response:
        assert self.proxy is not None  # noqa: S101 - set before the listener opens
        return self.proxy.refuse(request, status, kind, detail)

    def reload(self, settings: GatewaySettings) -> list[str]:
        """Use ``settings`` for every request from now on (see the module docstring); returns what was not
        applied because it needs a restart (the settings' field names)."""
        old = self.settings
        fixed = [name for name in _RESTART_ONLY if getattr(settings, name) != getattr(old, name)]
        if fixed:
            kept = {name: getattr(old, name) for name in _RESTART_ONLY}
            settings = dataclasses.replace(settings, **kept)
        policies = self._policies(settings, self.policies)
        injectors = _injectors(settings, self.injectors, self.clock)
        self.bypass.reconfigure(settings.routes, settings.policy)
        if self._pool is not None:
            cache = self.proxy.degraded.cache if self.proxy is not None else None
            proxy = Proxy(
                settings, self._pool, self._access_log, policies, self.metrics, injectors, bypass=self.bypass,
                stale_cache=cache,
            )  # fmt: skip
            self.proxy = proxy  # one assignment: a request takes either the old proxy or the new one
        self.settings, self.policies, self.injectors = settings, policies, injectors
        self.metrics.breakers(policies.breakers())
        self.metrics.reloaded("ok")
        return fixed

    def _flush(self) -> None:
        if self._access_log is not None:
            self._access_log.flush()
            self._flush_handle = asyncio.get_running_loop().call_later(_FLUSH_EVERY, self._flush)

    @property
    def port(self) -> int:
        """The public port (after :meth:`start`)."""
        if self._public is None:
            raise RuntimeError("the gateway is not started")
        return int(self._public.sockets[0].getsockname()[1])

    @property
    def admin_port(self) -> int | None:
        """The admin port (after :meth:`start`); None without an admin listener."""
        return int(self._admin.sockets[0].getsockname()[1]) if self._admin is not None else None

    @property
    def in_flight(self) -> int:
        """Requests being answered now."""
        return self._public_state.in_flight

    async def stop(self, drain_timeout: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish (at most ``drain_timeout`` s), close everything."""
        timeout = self.settings.drain_timeout if drain_timeout is None else drain_timeout
        self._accepting = False
        loop = asyncio.get_running_loop()
        if self._public is not None:
            # Python 3.11's Server.close() can race an accept already taken: such a connection attaches after
            # close() and is never closed. So stop reading the listeners first, let those accepts attach (a few
            # loop turns), and only then close (the simulator's stop does the same).
            for listener in self._public.sockets:
                with contextlib.suppress(Exception):
                    loop.remove_reader(listener.fileno())
            for _ in range(8):
                await asyncio.sleep(0)
            self._public.close()
        for connection in list(self._public_state.connections):
            connection.shutdown()
        deadline = loop.time() + timeout
        # Bounded: polls every 10 ms until the connections have closed or the drain time is up.
        while self._public_state.connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._public_state.connections):
            connection.abort()
        if self._admin is not None:
            self._admin.close()
            for connection in list(self._admin_state.connections):
                connection.abort()
        await asyncio.sleep(0)  # let connection_lost callbacks run before the listeners are awaited
        for server in (self._public, self._admin):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 1.0)
        if self._pool is not None:
            self._pool.close()
        await self.policies.aclose()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._access_log is not None:
            self._access_log.close()
        self._stopped.set()

    async def serve_until(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then stop gracefully."""
        await self.start()
        await stop.wait()
        await self.stop()


_RESTART_ONLY = (
    "host", "port", "admin_host", "admin_port", "access_log", "limits", "loop", "max_response_bytes",
    "max_connections_per_upstream", "connection_queue_timeout", "connection_queue_max", "stream_threshold",
    "stale_cache_entries", "stale_cache_bytes", "state", "workers",
)  # fmt: skip
"""Settings the process holds (listeners, the log file, the connections' limits, the loop, the pool and its
connection cap, the stale-if-error cache's bounds, the state backend, the workers)."""


def _unchanged(old: GatewaySettings, new: GatewaySettings) -> set[str]:
    """The upstreams whose live state a reload keeps: same name, same URLs, same breaker, budget and rate."""

    def shape(settings: GatewaySettings) -> dict[str, set[tuple[object, ...]]]:
        shapes: dict[str, set[tuple[object, ...]]] = {}
        for route in settings.routes:
            policy = route.policy or settings.policy
            shapes.setdefault(route.upstream, set()).add(
                (route.origin, route.base_path, policy.breaker, policy.budget, policy.rate, policy.burst)
            )
        return shapes

    before, after = shape(old), shape(new)
    return {name for name, value in after.items() if before.get(name) == value}


def _injectors(settings: GatewaySettings, current: dict[str, Injector], clock: Clock) -> dict[str, Injector]:
    """An injector per upstream with credentials; one whose config is unchanged is kept (and its token)."""
    injectors: dict[str, Injector] = {}
    for upstream in settings.upstreams:
        spec = upstream.credentials
        if spec is None:
            continue
        existing = current.get(upstream.name)
        injectors[upstream.name] = existing if existing is not None and existing.spec == spec else Injector(spec, clock)
    return injectors


def _admin_refuse(request: Request, status: int, kind: ErrorKind, detail: str) -> Response:
    del request, kind
    return Response(status, [(b"content-type", b"text/plain")], detail.encode())


def loop_factory(name: LoopName) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop to run on: uvloop for ``uvloop`` (and for ``auto`` when it is installed)."""
    if name == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop  # noqa: PLC0415 - optional: the ``gateway`` extra
    except ImportError:
        if name == "uvloop":
            raise
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(
    settings: GatewaySettings,
    *,
    on_ready: Callable[[Gateway], None] | None = None,
    load: Callable[[], GatewaySettings] | None = None,
    say: Callable[[str], None] | None = None,
    listen_socket: socket.socket | None = None,
) -> int:
    """Run in the foreground until SIGINT or SIGTERM, then stop gracefully; returns the exit code (0).

    ``load`` (the config file's loader): SIGHUP calls it and reloads; an exception's ``str()`` is reported as
    one ``error:`` line through ``say`` (stderr by default) and the running config is kept. Without ``load``
    SIGHUP is only noted through ``say``. ``listen_socket``: serve this bound socket (a worker of
    :mod:`.workers`) instead of binding ``host:port``."""
    report = say if say is not None else _stderr

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        gateway = Gateway(settings, on_ready=on_ready, listen_socket=listen_socket)
        # Without a loader SIGHUP would end the process (its default action): a stray `kill -HUP` is only noted.
        reload = _reloader(gateway, load, report) if load is not None else partial(report, _NOTHING_TO_RELOAD)
        loop.add_signal_handler(signal.SIGHUP, reload)
        try:
            await gateway.serve_until(stop)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(signum)

    with asyncio.Runner(loop_factory=loop_factory(settings.loop)) as runner:
        runner.run(main())
    return 0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # noqa: T201 - the command's one line about a reload


def _reloader(gateway: Gateway, load: Callable[[], GatewaySettings], say: Callable[[str], None]) -> Callable[[], None]:
    def reload() -> None:
        try:
            settings = load()
        except Exception as exc:  # noqa: BLE001 - any refusal keeps the running config; its text is one safe line
            gateway.metrics.reloaded("error")
            say(f"error: reload refused, the running config is kept: {exc}")
            return
        fixed = gateway.reload(settings)
        note = f" ({', '.join(fixed)} changed: restart to apply)" if fixed else ""
        say(f"reloaded: {len(settings.routes)} route(s){note}")

    return reload
