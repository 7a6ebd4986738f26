"""Where the gateway keeps each upstream's breaker, budget and limiter: in this process, or shared through Redis.

``state = None`` (the default): a :class:`~upstreamkit.state.memory.MemoryStateStore` per policy, so with
``--workers N`` each worker has its own (``/status`` says ``"shared": false``). ``state = "redis://HOST:PORT/DB"``:
a :class:`~upstreamkit.state.redis.RedisStateStore` per policy, synchronised by a task on the gateway's loop
(``redis.asyncio``), shared by every worker and every replica on that Redis; when Redis fails each worker goes on
on its own state (see that module). The Prometheus series of the backend (``upstreamkit_state_backend_up``,
``upstreamkit_state_fallbacks_total``) come from :class:`StateCollector`, read at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from upstreamkit.clock import Clock
from upstreamkit.core.breaker import BreakerConfig, BreakerTransition
from upstreamkit.core.budget import BudgetConfig
from upstreamkit.core.redact import redact_url
from upstreamkit.state.memory import MemoryStateStore

if TYPE_CHECKING:
    from upstreamkit.state.redis import RedisStateStore

__all__ = ["StateCollector", "aclose", "check_state_url", "describe", "discard", "make_store"]

_SCHEMES = ("redis", "rediss", "unix")


def check_state_url(url: str) -> str:
    """``url`` when it names a Redis (``redis://``, ``rediss://``, ``unix://``), else ValueError with the reason."""
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"state must be a redis://HOST:PORT/DB URL, not {redact_url(url)!r}")
    return url


def make_store(
    url: str | None, *, breaker: BreakerConfig | None, budget: BudgetConfig | None, rate: float | None, burst: int,
    on_transition: Callable[[BreakerTransition], None], clock: Clock | None = None,
) -> MemoryStateStore:  # fmt: skip
    """One policy's store: in memory, or shared on the Redis at ``url`` (the ``redis`` extra)."""
    options: dict[str, Any] = {
        "breaker": breaker, "budget": budget, "rate": rate, "burst": burst, "on_transition": on_transition,
        "max_upstreams": 4096, "idle_for": 1e12,  # the gateway's upstreams are configured, never forgotten
    }  # fmt: skip
    if url is None:
        return MemoryStateStore(**options)
    from upstreamkit.state.redis import RedisStateStore  # noqa: PLC0415 - optional extra, loaded only when asked

    return RedisStateStore.from_url(check_state_url(url), asyncio=True, clock=clock, **options)


def _shared(stores: Iterable[MemoryStateStore]) -> list[RedisStateStore]:
    from upstreamkit.state.redis import RedisStateStore  # noqa: PLC0415 - imported only once one exists

    return [store for store in stores if isinstance(store, RedisStateStore)]


def describe(stores: Iterable[MemoryStateStore], url: str | None, workers: int) -> dict[str, Any]:
    """``/status``'s ``state``: the backend, whether the state is shared right now, the workers, this process."""
    document: dict[str, Any] = {"backend": "memory" if url is None else "redis", "workers": workers, "pid": os.getpid()}
    if url is None:
        document["shared"] = False
        return document
    shared = _shared(stores)
    document["shared"] = bool(shared) and all(store.backend_up for store in shared)
    document["url"] = redact_url(url)
    document["fallbacks"] = sum(store.fallbacks for store in shared)
    return document


async def aclose(stores: Iterable[MemoryStateStore]) -> None:
    """Stop the synchronisation of every shared store (at the gateway's stop)."""
    if any(type(store) is not MemoryStateStore for store in stores):
        for store in _shared(stores):
            await store.aclose()


def discard(stores: Iterable[MemoryStateStore]) -> None:
    """Stores a reload no longer uses: their synchronisation stops (their local state is dropped with them)."""
    if any(type(store) is not MemoryStateStore for store in stores):
        for store in _shared(stores):
            store.stop_soon()


class StateCollector:
    """A Prometheus collector: is the shared-state backend up (1/0; 1 for memory), and how often it fell back."""

    def __init__(self, stores: Callable[[], Iterable[MemoryStateStore]], *, namespace: str = "upstreamkit") -> None:
        self._stores = stores
        self._namespace = namespace

    def collect(self) -> Iterator[Any]:
        """The two samples, read now."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # noqa: PLC0415 - optional extra

        stores = list(self._stores())
        shared = _shared(stores) if any(type(s) is not MemoryStateStore for s in stores) else []
        up = GaugeMetricFamily(
            f"{self._namespace}_state_backend_up",
            "1 while the per-upstream state backend answers (always 1 in memory); 0: decisions are local.",
            labels=["backend"],
        )
        up.add_metric(["redis" if shared else "memory"], 1.0 if all(s.backend_up for s in shared) else 0.0)
        yield up
        fallbacks = CounterMetricFamily(
            f"{self._namespace}_state_fallbacks",
            "Times the shared-state backend failed and this process fell back to local state.",
            labels=["backend"],
        )
        fallbacks.add_metric(["redis" if shared else "memory"], float(sum(s.fallbacks for s in shared)))
        yield fallbacks
