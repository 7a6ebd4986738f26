"""The in-process simulator: a fault-injecting upstream on loopback, in a background thread.

::

    with Simulator("outage", seed=1) as sim:
        httpx.get(sim.url("/v1/items"))
        sim.ledger.entries()
        sim.stats()

The server runs its own asyncio event loop in one daemon thread, listening on ``host`` (127.0.0.1 by
default) and ``port`` (0: a free one). :meth:`Simulator.stop` closes the listener, aborts every open
connection (hung ones included), waits for the thread and removes the TLS files: nothing is left behind.

``clock`` (wall-clock seconds, default :func:`time.time`) drives everything with time in it: the scenario
timeline, token expiry, the token buckets, Retry-After dates. Tests pass a fake clock and move it to change
phase or expire a token without sleeping. ``time_scale`` multiplies phase times (0.1 runs a 10-second
incident in one second).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from upstreamkit.simulator._http import Connection
from upstreamkit.simulator.ledger import Ledger
from upstreamkit.simulator.limits import ServerLimits
from upstreamkit.simulator.scenario import Phase, Scenario, load_scenario
from upstreamkit.simulator.tls import TLSMaterial, TLSVariant, make_tls_material, parse_tls_variant
from upstreamkit.simulator.upstream import Upstream

__all__ = ["Simulator"]

_T = TypeVar("_T")

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def _quiet_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Failed TLS handshakes and resets are the point of the exercise, not errors worth a log line."""
    exception = context.get("exception")
    if isinstance(exception, (ssl.SSLError, ConnectionError, OSError)):
        return
    loop.default_exception_handler(context)


class Simulator:
    """A simulated upstream for tests, benchmarks and demos; a context manager, and restartable never."""

    def __init__(
        self,
        scenario: str | Path | Scenario = "healthy",
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TLSVariant | str | None = None,
        clock: Callable[[], float] = time.time,
        time_scale: float = 1.0,
        ledger_size: int = 100_000,
        limits: ServerLimits | None = None,
    ) -> None:
        """Configure (nothing listens until :meth:`start`).

        ``tls`` picks a certificate variant (``valid``, ``expired``, ``not-yet-valid``, ``hostname-mismatch``,
        ``self-signed``); None uses the scenario's own ``tls`` (plain HTTP when it has none). ``limits`` bounds
        what one client connection may cost in bytes and seconds (:class:`ServerLimits`: 8 KiB request target,
        32 KiB / 100 header fields, 16 MiB body, 10 s to send a request's headers, 15 s idle).
        """
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        chosen = tls if tls is not None else self.scenario.tls
        self.tls: TLSVariant | None = parse_tls_variant(chosen) if isinstance(chosen, str) else chosen
        self.seed = seed
        self.host = host
        self._requested_port = port
        self.time_scale = time_scale
        self.ledger = Ledger(maxlen=ledger_size)
        self.limits = limits if limits is not None else ServerLimits()
        self._clock = clock
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._tls_dir: Path | None = None
        self._tls_material: TLSMaterial | None = None
        self._upstream: Upstream | None = None
        self._stopped = False

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen and serve in a background thread; returns once connections are accepted."""
        if self._thread is not None or self._stopped:
            raise RuntimeError("a Simulator starts once; make a new one")
        ssl_context = None
        if self.tls is not None:
            self._tls_dir = Path(tempfile.mkdtemp(prefix="upstreamkit-sim-tls-"))
            self._tls_material = make_tls_material(self.tls, self._tls_dir)
            ssl_context = self._tls_material.server_context()
        self._upstream = Upstream(
            self.scenario,
            seed=self.seed,
            clock=self._clock,
            time_scale=self.time_scale,
            ledger=self.ledger,
            base_url=lambda: self.base_url,
            connections=lambda: len(self._connections),
        )
        self._thread = threading.Thread(
            target=self._run, args=(ssl_context,), name="upstreamkit-simulator", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError("the simulator did not start in time")
        if self._startup_error is not None:
            self._thread.join(_STOP_TIMEOUT)
            self._cleanup_files()
            self._stopped = True
            raise self._startup_error
        return self

    def _run(self, ssl_context: ssl.SSLContext | None) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.set_exception_handler(_quiet_handler)
        upstream = self._upstream
        if upstream is None:  # start() sets it before the thread exists
            raise RuntimeError("no upstream")
        try:
            self._server = loop.run_until_complete(
                loop.create_server(
                    lambda: Connection(upstream.handle, self._connections, self.limits, upstream.refused),
                    self.host,
                    self._requested_port,
                    ssl=ssl_context,
                    ssl_handshake_timeout=self.limits.header_timeout if ssl_context is not None else None,
                    backlog=1024,
                )
            )
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that called start()
            self._startup_error = exc
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        server = self._server
        # Python 3.11's Server.close() leaves accepted connections open, and a connection whose accept task runs
        # after close() fails to attach (an assertion inside asyncio) and is left to the garbage collector, with
        # an "unclosed transport" warning in whatever runs next. So: stop accepting, let the accepts already
        # taken reach connection_made (three loop turns; room is left), close the listener, then abort every
        # connection, in rounds until none is left.
        if server is not None:
            loop = asyncio.get_running_loop()
            for listener in server.sockets:
                loop.remove_reader(listener.fileno())
        for _ in range(8):
            await asyncio.sleep(0)
        if server is not None:
            server.close()
        for _ in range(5):
            connections = list(self._connections)
            if not connections:
                break
            tasks = [task for connection in connections if (task := connection.task) is not None]
            for connection in connections:
                connection.abort()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # let connection_lost callbacks run
        if server is not None:
            await server.wait_closed()

    def stop(self) -> None:
        """Stop serving: close the listener and every connection, join the thread, remove TLS files."""
        if self._stopped:
            return
        self._stopped = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                future.result(_STOP_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_STOP_TIMEOUT)
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- where ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._port is not None and not self._stopped

    @property
    def port(self) -> int:
        """The port it listens on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with TLS); IPv6 hosts are bracketed."""
        scheme = "https" if self.tls is not None else "http"
        host = self.host
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """``base_url`` joined with ``path``."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    @property
    def ca_file(self) -> Path | None:
        """The local CA certificate (PEM) to trust, when serving TLS."""
        return self._tls_material.ca_file if self._tls_material is not None else None

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts the simulator's CA: pass it as ``httpx.Client(verify=...)``."""
        if self._tls_material is None:
            raise RuntimeError("this simulator serves plain HTTP (tls=None)")
        return self._tls_material.client_context()

    # --- state ------------------------------------------------------------------------------------

    def _require(self) -> Upstream:
        if self._upstream is None:
            raise RuntimeError("the simulator is not started")
        return self._upstream

    @property
    def phase(self) -> Phase | None:
        """The scenario phase in force now (None between phases)."""
        return self._require().phase()

    def stats(self) -> dict[str, Any]:
        """Counters: requests, by fault, by status, by phase, side effects, duplicates, replays, and requests
        refused below the scenario by status (``refused``: 414, 431, 413, 408, 400), ..."""
        return self._call(self._require().stats)

    def reset(self, *, timeline: bool = False) -> None:
        """Clear the ledger, idempotency keys, payments and rate-limit buckets; ``timeline`` restarts the
        phases (and the RNG) from now."""
        upstream = self._require()
        self._call(lambda: upstream.reset(timeline=timeline))

    def issue_token(self, client_id: str = "sim-client", *, lifetime: float | None = None) -> str:
        """A JWT the protected routes accept, as ``POST /oauth/token`` would give (for tests)."""
        upstream = self._require()
        return self._call(lambda: upstream.issuer.issue(client_id, lifetime=lifetime))

    def _call(self, function: Callable[[], _T]) -> _T:
        """Run ``function`` on the server's loop when it runs (state is owned by that thread)."""
        loop = self._loop
        if loop is None or not self.running or not loop.is_running():
            return function()

        async def call() -> _T:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(_STOP_TIMEOUT)
