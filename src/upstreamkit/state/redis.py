"""Per-upstream state shared through Redis by every process that points at the same server.

    store = RedisStateStore.from_url("redis://127.0.0.1:6379/0")
    client = httpx.Client(transport=upstreamkit.ResilientTransport(store=store))

Where the state lives: the decisions stay local. Each upstream's breaker, retry budget and limiter are the core's
objects (:mod:`upstreamkit.state._shared` teaches them to share), so a request costs what it costs with
:class:`~upstreamkit.state.memory.MemoryStateStore`: no round trip on the hot path. A background driver (a
thread for a ``redis.Redis`` client, a task for a ``redis.asyncio.Redis`` one) synchronises every ``sync_every``
seconds, in ONE round trip for all upstreams (a pipeline of one ``EVALSHA`` per upstream): it pushes what this
process learnt (outcome counts, a trip, a probe's result, budget deposits and withdrawals, the throttle's
change, a Retry-After) and adopts the shared result (open/closed, whose probe it is, the shared balance and
throttle, blocks). ``sync.lua`` is the one script, for both drivers: atomic, loaded once (``NOSCRIPT`` reloads
it), keys ``{prefix}:{upstream}:breaker|window|budget|block`` (a Redis Cluster hash tag per upstream), each
expiring, time from Redis ``TIME`` only (hosts' clocks never meet: times cross as "milliseconds from now").

While Redis answers, an open breaker's next probe is granted by the shared state to one process (a lease: if
that process dies, another takes over), so N processes send one probe, not N, and a trip or a 503's
Retry-After seen by one holds them all within ``sync_every``.

When Redis is slow or gone: a sync that does not answer within the socket timeout (50 ms by default) marks the
backend down, logged once per transition (``upstreamkit.state`` logger) and counted (:attr:`fallbacks`,
:attr:`backend_up`); every process then decides on its own local state, exactly as the memory store does, and
requests never wait for Redis (they never did). The backend is retried after ``retry_every`` seconds (doubling
to ``max_retry_every``: a breaker on Redis itself, so a dead Redis costs one failed sync per period). On
return, each process pushes what it knows (an open breaker's remaining break re-opens the shared one; deltas of
the outage are dropped, not replayed). A process that joins never resets anything: missing keys are the empty
state, and what exists is only ever updated.

Not shared (per process): a static ``rate`` (a shared GCRA needs a round trip per request: give each process
``rate / N``), and the learned pacing between responses (its holds and Retry-After blocks are shared).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.redact import redact_url
from upstreamkit.state._shared import (
    Reply,
    Sent,
    SharedBreaker,
    SharedBudget,
    SharedLimiter,
    adopt,
    idle,
    payload,
    settle_sent,
)
from upstreamkit.state.memory import MemoryStateStore, UpstreamState

__all__ = ["SCRIPT", "RedisStateStore"]

logger = logging.getLogger("upstreamkit.state")

SCRIPT = resources.files("upstreamkit.state").joinpath("sync.lua").read_text(encoding="utf-8")
"""The one Lua script (``sync.lua``)."""
_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()
_FAILURES = (RedisError, OSError)
_IDLE_EVERY = 10
"""An upstream with nothing to push and a closed breaker is synchronised every this many rounds, not every one:
a process without traffic to it needs the shared news only when its traffic starts (hundreds of idle
upstreams would otherwise cost a round trip's worth of encoding each, every ``sync_every``)."""

_Batch = list[tuple[str, UpstreamState, list[str | int], Sent]]


class RedisStateStore(MemoryStateStore):
    """A :class:`MemoryStateStore` whose states are shared through Redis (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis | redis.asyncio.Redis,
        *,
        prefix: str = "upstreamkit",
        sync_every: float = 0.02,
        retry_every: float = 0.5,
        max_retry_every: float = 5.0,
        clock: Clock | None = None,
        on_backend_change: Callable[[bool], None] | None = None,
        **memory: Any,
    ) -> None:
        """``client``: a ``redis.Redis`` (synchronised by a thread) or ``redis.asyncio.Redis`` (by a task on the
        running loop), with ``decode_responses`` on or off; give it a short ``socket_timeout`` and no retries
        (:meth:`from_url` does: 50 ms), the bound on what a slow Redis costs a sync. ``memory``: the arguments of
        :class:`MemoryStateStore` (configs, bounds, ``on_transition``)."""
        super().__init__(**memory)
        if not sync_every > 0:
            raise ValueError(f"sync_every must be a positive number of seconds, got {sync_every!r}")
        self.client = client
        self.prefix = prefix
        self.sync_every = sync_every
        self.retry_every = retry_every
        self.max_retry_every = max_retry_every
        self.on_backend_change = on_backend_change
        self._clock = clock
        self.me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        """This store's name in the shared state (who holds a probe)."""
        self._online = [False]  # decisions are local until the first sync has brought the shared state
        self.backend_up: bool | None = None
        """True once a sync succeeded, False after one failed (None before the first)."""
        self.fallbacks = 0
        """How many times the backend went down and decisions fell back to local state."""
        self._backoff = retry_every
        self._next_try = 0.0
        self._round = 0
        self._fixed_redis_ms = 0  # tests only: the script's "now" instead of TIME
        self._driver: threading.Thread | asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._is_async = isinstance(client, redis.asyncio.Redis)

    @classmethod
    def from_url(cls, url: str, *, asyncio: bool = False, timeout: float = 0.05, **options: Any) -> RedisStateStore:
        """A store on ``redis://HOST:PORT/DB`` (``rediss://`` for TLS); ``timeout`` bounds connects and replies."""
        module: Any = redis.asyncio if asyncio else redis
        retry = (redis.asyncio.retry.Retry if asyncio else redis.retry.Retry)(NoBackoff(), 0)
        # No retries inside the client: a failed sync is the answer (the store retries the backend later).
        client = module.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=retry)
        store = cls(client, **options)
        store.url = redact_url(url)
        return store

    url: str = ""
    """The Redis URL, redacted (empty when the store was given a client)."""

    @property
    def clock(self) -> Clock:
        """The clock of the local objects (upstreamkit's current one unless given)."""
        return self._clock if self._clock is not None else get_clock()

    def describe(self) -> dict[str, Any]:
        """For ``/status``: which backend, whether it is shared now, and its history."""
        return {"backend": "redis", "shared": bool(self._online[0]), "url": self.url, "fallbacks": self.fallbacks}

    def _new_state(self, upstream: str, now: float) -> UpstreamState:
        self.start()
        return UpstreamState(
            breaker=SharedBreaker(self.breaker_config, name=upstream, on_transition=self._announce, online=self._online)
            if self.breaker_config is not None
            else None,
            budget=SharedBudget(self.budget_config) if self.budget_config is not None else None,
            limiter=SharedLimiter(self.rate, self.burst, learn=self.learn_rate_limits),
            last_used=now,
        )

    # --- drivers ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background synchronisation (done by the first :meth:`get`); an asyncio client needs a
        running loop (without one, the next call from inside the loop starts it)."""
        if self._driver is not None or self._stopping.is_set():
            return
        if self._is_async:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._driver = loop.create_task(self._run_async(), name="upstreamkit-state-sync")
        else:
            self._driver = threading.Thread(target=self._run_thread, name="upstreamkit-state-sync", daemon=True)
            self._driver.start()

    def close(self) -> None:
        """Stop the thread driver (a last sync is not attempted: what is local stays local)."""
        self._stopping.set()
        self._online[0] = False  # from now on the breakers decide alone, as the memory store's do
        driver = self._driver
        if isinstance(driver, threading.Thread) and driver.is_alive():
            driver.join(timeout=1.0)
        if isinstance(self.client, redis.Redis):
            self.client.close()

    def stop_soon(self) -> None:
        """Stop synchronising without waiting (from inside the loop: the asyncio client is closed by a task)."""
        if isinstance(self.client, redis.asyncio.Redis):
            self._stopping.set()
            self._online[0] = False
            with contextlib.suppress(RuntimeError):  # no running loop: nothing was started on one
                asyncio.get_running_loop().create_task(self.aclose())
        else:
            self.close()

    async def aclose(self) -> None:
        """Stop the asyncio driver and close the client."""
        self._stopping.set()
        self._online[0] = False
        driver = self._driver
        if isinstance(driver, asyncio.Task):
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        if isinstance(self.client, redis.asyncio.Redis):
            await self.client.aclose()

    def _run_thread(self) -> None:
        while not self._stopping.wait(self._delay()):
            try:
                self.sync_once(everything=self._next_round())
            except Exception as exc:  # noqa: BLE001 - a bug must not leave breakers waiting for a grant
                self._crashed(exc)

    async def _run_async(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(self._delay())
            try:
                await self.async_sync_once(everything=self._next_round())
            except Exception as exc:  # noqa: BLE001 - as in the thread: local decisions, not a stuck state
                self._crashed(exc)

    def _crashed(self, exc: Exception) -> None:
        logger.exception("upstreamkit shared state: the synchronisation failed; decisions are local", exc_info=exc)
        self._online[0] = False
        self.backend_up = False
        self._next_try = self.clock.monotonic() + self.max_retry_every

    def _delay(self) -> float:
        if self.backend_up is False:
            return max(self._next_try - self.clock.monotonic(), self.sync_every)
        return self.sync_every

    def _next_round(self) -> bool:
        self._round += 1
        return self._round % _IDLE_EVERY == 0

    def sync_once(self, *, everything: bool = True) -> bool:
        """One synchronisation with a ``redis.Redis`` client (what the thread does); True when it went through.
        ``everything=False`` leaves out the upstreams with nothing to push (the driver's rounds but one in ten)."""
        batch = self._collect(everything)
        if batch is None:
            return False
        client = self.client
        assert isinstance(client, redis.Redis)  # noqa: S101 - the sync driver runs only with a sync client
        try:
            pipe = client.pipeline(transaction=False)
            _queue(pipe, self.prefix, batch)
            replies = pipe.execute(raise_on_error=False)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # Redis restarted or flushed its scripts: load once, run those that did not run
                client.script_load(SCRIPT)
                pipe = client.pipeline(transaction=False)
                _queue(pipe, self.prefix, [batch[i] for i in missing])
                for i, reply in zip(missing, pipe.execute(raise_on_error=False), strict=True):
                    replies[i] = reply
        except _FAILURES as exc:
            self._failed(batch, exc)
            return False
        return self._answered(batch, replies)

    async def async_sync_once(self, *, everything: bool = True) -> bool:
        """One synchronisation with a ``redis.asyncio.Redis`` client (what the task does)."""
        batch = self._collect(everything)
        if batch is None:
            return False
        client = self.client
        assert isinstance(client, redis.asyncio.Redis)  # noqa: S101 - the async driver runs only with an async client
        try:
            pipe = client.pipeline(transaction=False)
            _queue(pipe, self.prefix, batch)
            replies = await pipe.execute(raise_on_error=False)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:
                await client.script_load(SCRIPT)
                pipe = client.pipeline(transaction=False)
                _queue(pipe, self.prefix, [batch[i] for i in missing])
                for i, reply in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
                    replies[i] = reply
        except _FAILURES as exc:
            self._failed(batch, exc)
            return False
        return self._answered(batch, replies)

    # --- the pure steps around the round trip ------------------------------------------------------------

    def _collect(self, everything: bool) -> _Batch | None:
        """Every kept upstream's push; None when there is none, or while the backend is down and not yet due."""
        now = self.clock.monotonic()
        if self.backend_up is False and now < self._next_try:
            return None
        batch: _Batch = []
        every = everything or self.backend_up is not True
        for name, state in list(self._states.items()):
            args, sent = payload(state, self.me, now, self._fixed_redis_ms)
            if every or not idle(args):
                batch.append((name, state, args, sent))
        return batch or None

    def _failed(self, batch: _Batch, exc: BaseException) -> None:
        for _, state, _, sent in batch:
            settle_sent(state, sent)
        now = self.clock.monotonic()
        if self.backend_up is not False:
            self._online[0] = False
            self.backend_up = False
            self.fallbacks += 1
            self._backoff = self.retry_every
            logger.warning(
                "shared state unavailable (%s: %s): each process decides on its own state until Redis answers",
                type(exc).__name__, exc,
            )  # fmt: skip
            self._changed(up=False)
        else:
            self._backoff = min(self._backoff * 2, self.max_retry_every)
        self._next_try = now + self._backoff

    def _answered(self, batch: _Batch, replies: list[Any]) -> bool:
        errors = [reply for reply in replies if isinstance(reply, Exception)]
        if errors:
            self._failed(batch, errors[0])
            return False
        now = self.clock.monotonic()
        was = self.backend_up
        self._online[0] = True
        self.backend_up = True
        for (_, state, _, sent), raw in zip(batch, replies, strict=True):
            settle_sent(state, sent)
            adopt(state, Reply.of(raw), sent, now)
        if was is False:
            logger.warning("shared state back: processes decide on the shared state again")
            self._changed(up=True)
        return True

    def _changed(self, *, up: bool) -> None:
        callback = self.on_backend_change
        if callback is not None:
            try:
                callback(up)
            except Exception:  # a broken metrics hook must not stop the synchronisation
                logger.exception("upstreamkit state backend hook failed")


def keys(prefix: str, upstream: str) -> list[str]:
    """The Redis keys of one upstream's shared state (one hash tag: one cluster slot)."""
    base = f"{prefix}:{{{upstream}}}"
    return [f"{base}:breaker", f"{base}:window", f"{base}:budget", f"{base}:block"]


def _queue(pipe: Any, prefix: str, batch: _Batch) -> None:
    """One EVALSHA per upstream on the pipeline (sync or asyncio: the same calls)."""
    for name, _, args, _ in batch:
        pipe.evalsha(_SHA, 4, *keys(prefix, name), args[0], ",".join(map(str, args[1:])))
