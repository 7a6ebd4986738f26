"""``--workers N``: N gateway processes on one public port, forked and supervised by a parent.

The port: on Linux each worker listens on its own socket with ``SO_REUSEPORT`` on the same address, and the
kernel spreads new connections over them by a hash of the connection (an even spread, where one shared
socket lets whichever worker wakes first take most of them). The parent binds the address first without
listening: that resolves ``--port 0`` and keeps the port taken between worker restarts. Where ``SO_REUSEPORT``
is missing, the parent listens and the workers inherit its socket (pre-fork). The cost of ``SO_REUSEPORT``:
connections still queued on a worker that crashes are reset (a graceful stop drains them first).

The admin port: one admin listener per worker, on ``admin_port + i`` (each on a free port with ``0``), so
``/metrics`` and ``/status`` of a worker are its own, with no label to add: a Prometheus target per worker gets
its ``instance`` label, and ``/status`` says which process answers (``state.pid``) and how many workers there
are. An aggregating parent would need its own event loop and a channel to every worker, for numbers Prometheus
already sums.

The parent: no event loop and no threads (it forks); it waits for signals synchronously. A worker that exits
while the parent is not stopping is restarted (after a pause that grows when it keeps crashing at start, and
the parent gives up after ``MAX_QUICK_CRASHES`` in a row); SIGTERM and SIGINT are forwarded as SIGTERM (each
worker drains and exits 0, then the parent exits 0; one still running after the drain time is killed). SIGHUP
with a config file is forwarded: each worker reloads the file (its own port and admin port kept); in quick mode
there is nothing to reload, and SIGHUP restarts the workers one at a time, each drained, while the others serve.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from upstreamkit.gateway.config import GatewaySettings

if TYPE_CHECKING:
    from upstreamkit.gateway.app import Gateway

__all__ = ["MAX_QUICK_CRASHES", "serve_workers"]

MAX_QUICK_CRASHES = 5
"""Workers crashing within ``_QUICK`` seconds of their start this many times in a row: the parent gives up."""
_QUICK = 2.0
_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_REUSEPORT = hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def _socket(settings: GatewaySettings, port: int, *, listen: bool) -> socket.socket:
    infos = socket.getaddrinfo(settings.host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if _REUSEPORT:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    if listen:
        sock.listen(2048)
    sock.setblocking(False)  # noqa: FBT003 - the socket API's own positional flag
    return sock


def _log(message: str) -> None:
    # stderr: stdout may be the access log. One write per line, so workers' lines do not interleave.
    os.write(2, (message + "\n").encode())


class _Supervisor:
    def __init__(
        self, settings: GatewaySettings, reserved: socket.socket,
        on_worker_ready: Callable[[Gateway, int], None] | None, load: Callable[[], GatewaySettings] | None,
        say: Callable[[str], None] | None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.load = load
        self.say = say
        self.reserved = reserved
        self.port = int(reserved.getsockname()[1])
        self.on_worker_ready = on_worker_ready
        self.workers: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        self.codes: list[int] = []
        self.quick_crashes = 0

    def _own(self, settings: GatewaySettings, index: int) -> GatewaySettings:
        """A worker's settings: the parent's port, and its own admin port."""
        admin = settings.admin_port
        return dataclasses.replace(settings, port=self.port, admin_port=admin + index if admin else admin)

    def spawn(self, index: int) -> None:
        settings = self._own(self.settings, index)
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                if self.load is None:
                    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # quick mode: the parent restarts workers instead
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
                code = self._serve(settings, index)
            except BaseException as exc:  # noqa: BLE001 - a worker reports and exits; the parent restarts it
                _log(f"worker {index} (pid {os.getpid()}) failed: {type(exc).__name__}: {exc}")
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        self.workers[pid] = (index, time.monotonic())

    def _serve(self, settings: GatewaySettings, index: int) -> int:
        from upstreamkit.gateway.app import run  # noqa: PLC0415 - in the worker, after the fork

        if _REUSEPORT:
            self.reserved.close()
            listen = _socket(settings, self.port, listen=True)
        else:
            listen = self.reserved
        callback = self.on_worker_ready

        def ready(gateway: Gateway) -> None:
            if callback is not None:
                callback(gateway, index)

        load = self.load
        own_load = None if load is None else lambda: self._own(load(), index)
        return run(settings, on_ready=ready, load=own_load, say=self.say, listen_socket=listen)

    def wait_signal(self, timeout: float) -> int | None:
        info = signal.sigtimedwait(_SIGNALS, timeout)
        return None if info is None else info.si_signo

    def reap(self) -> list[tuple[int, int, float]]:
        """Exited workers: (index, exit code, seconds it lived)."""
        gone = []
        while self.workers:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            index, started = self.workers.pop(pid, (-1, time.monotonic()))
            gone.append((index, os.waitstatus_to_exitcode(status), time.monotonic() - started))
        return gone

    def terminate(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def stop_all(self) -> int:
        """SIGTERM every worker, wait for them (drain time + 5 s), kill what is left; 0 when all exited 0."""
        self.terminate(list(self.workers))
        deadline = time.monotonic() + self.settings.drain_timeout + 5.0
        while self.workers and time.monotonic() < deadline:  # bounded by the deadline
            self.codes += [code for _, code, _ in self.reap()]
            if self.workers:
                self.wait_signal(min(0.2, max(deadline - time.monotonic(), 0.01)))
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.codes.append(1)
            self.workers.pop(pid)
        return 0 if all(code == 0 for code in self.codes) else 1

    def rolling_restart(self) -> bool:
        """SIGHUP: each worker in turn drained and replaced while the others serve; False if a stop came."""
        for pid in list(self.workers):
            index, _ = self.workers[pid]
            self.terminate([pid])
            deadline = time.monotonic() + self.settings.drain_timeout + 5.0
            while pid in self.workers and time.monotonic() < deadline:  # bounded by the deadline
                signo = self.wait_signal(0.2)
                if signo in (signal.SIGTERM, signal.SIGINT):
                    return False
                for gone_index, _, _ in self.reap():
                    if gone_index != index:
                        self.spawn(gone_index)  # another worker died meanwhile: replace it too
            if pid in self.workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                self.workers.pop(pid)
            self.spawn(index)
        return True

    def supervise(self) -> int:
        for index in range(self.settings.workers):
            self.spawn(index)
        while True:  # until a stop signal: the parent's whole life
            signo = self.wait_signal(1.0)
            if signo in (signal.SIGTERM, signal.SIGINT):
                return self.stop_all()
            if signo == signal.SIGHUP:
                if self.load is not None:
                    for pid in list(self.workers):  # each worker reloads the config file
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGHUP)
                elif not self.rolling_restart():
                    return self.stop_all()
            for index, code, lived in self.reap():
                self.quick_crashes = self.quick_crashes + 1 if lived < _QUICK else 0
                if self.quick_crashes >= MAX_QUICK_CRASHES:
                    _log(f"worker {index} keeps exiting at start (code {code}): stopping the gateway")
                    self.stop_all()
                    return 1
                _log(f"worker {index} exited with code {code}: restarting it")
                time.sleep(min(0.1 * 2**self.quick_crashes, 2.0))  # a crash loop does not spin
                self.spawn(index)


def serve_workers(
    settings: GatewaySettings,
    *,
    on_ready: Callable[[int], None] | None = None,
    on_worker_ready: Callable[[Gateway, int], None] | None = None,
    load: Callable[[], GatewaySettings] | None = None,
    say: Callable[[str], None] | None = None,
) -> int:
    """Serve ``settings`` with ``settings.workers`` processes until SIGTERM/SIGINT; the exit code (0: all stopped
    cleanly). ``on_ready(port)`` runs in the parent once the port is bound, ``on_worker_ready(gateway, index)`` in
    each worker once it listens; ``load`` and ``say``: :func:`~upstreamkit.gateway.app.run`'s (a config file's
    loader: SIGHUP reloads it in every worker). Raises OSError when the port cannot be bound."""
    reserved = _socket(settings, settings.port, listen=not _REUSEPORT)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        supervisor = _Supervisor(settings, reserved, on_worker_ready, load, say)
        if on_ready is not None:
            on_ready(supervisor.port)
        return supervisor.supervise()
    finally:
        reserved.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
