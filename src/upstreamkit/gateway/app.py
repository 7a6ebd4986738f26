"""The gateway process: listeners, the upstream pool, the access log, and a graceful stop.

::

    settings = GatewaySettings(routes=(parse_route("/pay=http://127.0.0.1:9000/v1"),), port=0, admin_port=0)
    gateway = Gateway(settings)
    await gateway.start()          # listening: gateway.port, gateway.admin_port
    await gateway.stop()           # stop accepting, finish in-flight requests (bounded), close everything

:func:`run` is the command's foreground loop: uvloop when installed (``loop="auto"``), SIGINT and SIGTERM
begin the graceful stop, and it returns 0 once everything is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Callable

from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.accesslog import AccessLog
from upstreamkit.gateway.admin import AdminHandler
from upstreamkit.gateway.config import GatewaySettings, LoopName
from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.policy import Policies
from upstreamkit.gateway.proxy import Proxy
from upstreamkit.gateway.server import HTTPProtocol, Request, Response, ServerState
from upstreamkit.gateway.upstream import Resolver, UpstreamPool

__all__ = ["Gateway", "loop_factory", "run"]

_FLUSH_EVERY = 1.0


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
    ) -> None:
        """Configure (nothing listens until :meth:`start`); ``resolver`` and ``ssl_context`` are for the
        upstream connections (tests point them at loopback DNS and a local CA); ``clock`` is the policies'
        (upstreamkit's current clock by default: a FakeClock under ``upstreamkit.testing.testing()``)."""
        self.settings = settings
        self.clock = clock if clock is not None else get_clock()
        self.metrics = GatewayMetrics(self.clock)
        self.policies = Policies(
            settings.route_policies(),
            clock=self.clock,
            rng=rng,
            observe=self.metrics.observe,
            on_success=self.metrics.success,
        )
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
            max_body=settings.max_response_bytes, ssl_context=self._ssl_context, resolver=self._resolver
        )
        self._access_log = AccessLog(settings.access_log) if settings.access_log else None
        proxy = self.proxy = Proxy(settings, self._pool, self._access_log, self.policies, self.metrics)
        self.metrics.breakers(self.policies.breakers())
        limits = settings.limits
        public_state = self._public_state
        self._public = await loop.create_server(
            lambda: HTTPProtocol(proxy.handle, proxy.refuse, limits, public_state),
            settings.host,
            settings.port,
            backlog=2048,
        )
        if settings.admin_port is not None:
            admin = AdminHandler(ready=lambda: self._accepting, breakers=self.policies.breakers, metrics=self.metrics)
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


def run(settings: GatewaySettings, *, on_ready: Callable[[Gateway], None] | None = None) -> int:
    """Run in the foreground until SIGINT or SIGTERM, then stop gracefully; returns the exit code (0)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        gateway = Gateway(settings, on_ready=on_ready)
        try:
            await gateway.serve_until(stop)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    with asyncio.Runner(loop_factory=loop_factory(settings.loop)) as runner:
        runner.run(main())
    return 0
