"""RedisStateStore against a real redis-server: the script's atomicity and expiry, sharing between stores (each
store stands for one process), a joining process, decode_responses, Redis killed and restarted, asyncio.

Local time is a FakeClock; Redis time is the server's TIME, or a fixed value where a test moves it
(``_fixed_redis_ms``, the script's "now"): no test sleeps for time logic.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading

import pytest
import redis

from upstreamkit.core.breaker import BreakerConfig, BreakerState
from upstreamkit.core.budget import BudgetConfig
from upstreamkit.state._shared import SharedBreaker, SharedBudget
from upstreamkit.state.redis import SCRIPT, RedisStateStore, keys
from upstreamkit.state.testing import RedisServer
from upstreamkit.testing import FakeClock

pytestmark = pytest.mark.engine

UP = "http://api.example:80"
BREAKER = BreakerConfig(consecutive_failures=5, failure_rate=None, open_for=1.0, open_for_growth=2.0)


def _store(server: RedisServer, clock: FakeClock, *, decode_responses: bool = False) -> RedisStateStore:
    client = server.client(socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=decode_responses)
    store = RedisStateStore(client, clock=clock, breaker=BREAKER, budget=BudgetConfig())
    store._fixed_redis_ms = 1_000_000
    store._driver = threading.Thread()
    store.get(UP, 0.0)
    return store


def _breaker(store: RedisStateStore, now: float = 0.0) -> SharedBreaker:
    breaker = store.get(UP, now).breaker
    assert isinstance(breaker, SharedBreaker)
    return breaker


def _throttled(budget: SharedBudget) -> bool:
    return budget.throttled  # a function: mypy would keep a property narrowed between two asserts


def _up(store: RedisStateStore) -> bool | None:
    return store.backend_up


def _fail(store: RedisStateStore, n: int, now: float = 0.0) -> None:
    state = store.get(UP, now)
    assert state.breaker is not None
    for _ in range(n):
        assert state.breaker.allow(now) is None
        state.breaker.record_failure(now, 0.01)


def test_script_updates_are_atomic_under_concurrent_threads(redis_server: RedisServer) -> None:
    """Many processes pushing at once: no deposit lost, and the breaker opens exactly once."""
    clock = FakeClock()
    stores = [_store(redis_server, clock) for _ in range(8)]

    def push(store: RedisStateStore) -> None:
        state = store.get(UP, 0.0)
        for _ in range(25):
            state.budget.record_request(0.0)  # type: ignore[union-attr]
            state.breaker.record_failure(0.0, 0.01)  # type: ignore[union-attr]
            assert store.sync_once()

    threads = [threading.Thread(target=push, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    raw: dict[bytes, bytes] = redis_server.client().hgetall(keys("upstreamkit", UP)[2])  # type: ignore[assignment]
    deposits = sum(int(v) for k, v in raw.items() if k.startswith(b"d:"))
    assert deposits == 8 * 25
    shared = redis_server.client().hgetall(keys("upstreamkit", UP)[0])
    assert shared[b"st"] == b"1"
    assert shared[b"gen"] == b"1"  # one transition: no two processes opened it twice


def test_keys_are_namespaced_and_expire(redis_server: RedisServer) -> None:
    clock = FakeClock()
    store = _store(redis_server, clock)
    store.prefix = "team-a"
    _fail(store, 1)
    store.get(UP).budget.record_request(0.0)  # type: ignore[union-attr]
    store.get(UP).limiter.block_until(5.0)
    assert store.sync_once()
    client = redis_server.client()
    names = sorted(k.decode() for k in client.keys("*"))  # type: ignore[union-attr]
    assert names == sorted(keys("team-a", UP))
    assert all(name.startswith("team-a:{" + UP + "}:") for name in names)
    for name in names:
        assert 0 < client.pttl(name) <= 3_600_000


def test_a_trip_in_one_process_opens_the_others_and_only_one_probes(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a, b = _store(redis_server, clock), _store(redis_server, clock)
    _breaker(a), _breaker(b)
    _fail(a, 3)
    _fail(b, 1)
    assert a.sync_once()
    assert b.sync_once()
    assert _breaker(b).state(0.0) is BreakerState.CLOSED
    _fail(b, 1)
    assert b.sync_once()
    assert a.sync_once()
    assert _breaker(a).state(0.0) is BreakerState.OPEN
    assert _breaker(b).state(0.0) is BreakerState.OPEN
    clock.advance(5.0)  # locally the break is long over: an online breaker still waits for the shared grant
    assert _breaker(a).allow(clock.monotonic()) is not None
    for store in (a, b):
        store._fixed_redis_ms += 1_500
    assert b.sync_once()
    assert a.sync_once()
    now = clock.monotonic()
    assert _breaker(b).state(now) is BreakerState.HALF_OPEN  # B synced first after the break: the probe is B's
    assert _breaker(a).allow(now) is not None  # A waits for B's probe
    assert _breaker(b).allow(now) is None
    _breaker(b).record_success(now + 0.01, 0.01)
    assert _breaker(b).state(now) is BreakerState.CLOSED
    assert b.sync_once()
    assert a.sync_once()
    assert _breaker(a).state(now) is BreakerState.CLOSED


def test_a_failed_probe_reopens_for_a_longer_break_everywhere(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a, b = _store(redis_server, clock), _store(redis_server, clock)
    _fail(a, 5)
    assert a.sync_once()
    assert b.sync_once()
    for store in (a, b):
        store._fixed_redis_ms += 1_001
    assert a.sync_once()
    assert b.sync_once()
    assert _breaker(a).allow(0.0) is None  # A's probe
    _breaker(a).record_failure(0.01, 0.01)
    assert a.sync_once()
    assert b.sync_once()
    assert _breaker(b).state(0.0) is BreakerState.OPEN
    assert _breaker(b).allow(0.0) == pytest.approx(2.0, abs=0.01)  # open_for * growth: the shared break


def test_a_joining_process_does_not_reset_an_open_breaker(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a = _store(redis_server, clock)
    _fail(a, 5)
    assert a.sync_once()
    newcomer = _store(redis_server, clock)
    assert _breaker(newcomer).state(0.0) is BreakerState.CLOSED  # before it has heard of the shared state
    assert newcomer.sync_once()
    assert _breaker(newcomer).state(0.0) is BreakerState.OPEN
    assert a.sync_once()
    assert _breaker(a).state(0.0) is BreakerState.OPEN
    assert redis_server.client().hget(keys("upstreamkit", UP)[0], "gen") == b"1"


def test_decode_responses_clients_read_the_same_state(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a = _store(redis_server, clock, decode_responses=True)
    b = _store(redis_server, clock, decode_responses=False)
    _fail(a, 5)
    assert a.sync_once()
    assert b.sync_once()
    assert _breaker(b).state(0.0) is BreakerState.OPEN


def test_budget_and_throttle_are_shared(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a, b = _store(redis_server, clock), _store(redis_server, clock)
    budget_a, budget_b = a.get(UP, 0.0).budget, b.get(UP, 0.0).budget
    assert isinstance(budget_a, SharedBudget)
    assert isinstance(budget_b, SharedBudget)
    for _ in range(100):
        budget_a.record_request(0.0)
    floor = budget_b.balance(0.0)
    assert a.sync_once()
    assert b.sync_once()
    assert budget_b.balance(0.0) == pytest.approx(floor + 0.2 * 100)  # A's traffic finances B's retries
    for _ in range(6):
        budget_a.record_failure()  # the throttle: 10 tokens - 6 = 4, at most half: retries stop
    assert not _throttled(budget_b)
    assert a.sync_once()
    assert b.sync_once()
    assert _throttled(budget_b)
    assert not budget_b.try_withdraw(0.0)


def test_a_retry_after_block_holds_every_process(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a, b = _store(redis_server, clock), _store(redis_server, clock)
    a.get(UP, 0.0).limiter.block_until(3.0)
    limiter_b = b.get(UP, 0.0).limiter
    assert a.sync_once()
    assert b.sync_once()
    assert limiter_b.holding(0.0)
    assert limiter_b.reserve(0.0) == pytest.approx(3.0, abs=0.01)


def test_redis_killed_falls_back_to_local_state_then_rejoins_and_pushes_an_open_breaker(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    changes: list[bool] = []
    store = _store(redis_server, clock)
    store.on_backend_change = changes.append
    _breaker(store)
    assert store.sync_once()
    assert store.backend_up
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="upstreamkit.state"):
        assert not store.sync_once()
        clock.advance(1.0)
        assert not store.sync_once()  # still down: logged once
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "shared state unavailable" in caplog.records[0].message
    assert _up(store) is False
    assert store.fallbacks == 1
    assert changes == [False]
    # Local decisions, exactly the memory store's: trips, and goes half open by local time alone.
    _fail(store, 5, clock.monotonic())
    breaker = _breaker(store)
    assert breaker.state(clock.monotonic()) is BreakerState.OPEN
    clock.advance(1.0)
    assert breaker.state(clock.monotonic()) is BreakerState.HALF_OPEN
    assert breaker.allow(clock.monotonic()) is None
    breaker.record_failure(clock.monotonic(), 0.01)  # the probe failed: open again, locally
    redis_server.start()  # empty: no keys, no script loaded (NOSCRIPT is handled)
    clock.advance(10.0)  # past the backend's retry period
    assert store.sync_once()
    assert _up(store) is True
    assert changes == [False, True]
    assert redis_server.client().hget(keys("upstreamkit", UP)[0], "st") == b"1"  # the local open was pushed
    other = _store(redis_server, clock)
    assert other.sync_once()
    assert _breaker(other).state(clock.monotonic()) is BreakerState.OPEN


def test_async_driver_shares_through_redis_asyncio(redis_server: RedisServer) -> None:
    clock = FakeClock()

    async def main() -> tuple[BreakerState, bool]:
        a = RedisStateStore.from_url(redis_server.url, asyncio=True, clock=clock, breaker=BREAKER)
        b = RedisStateStore.from_url(redis_server.url, asyncio=True, clock=clock, breaker=BREAKER)
        try:
            _fail(a, 5)
            assert await a.async_sync_once()
            state_b = b.get(UP, 0.0)
            assert await b.async_sync_once()
            assert state_b.breaker is not None
            return state_b.breaker.state(0.0), a.describe()["shared"]
        finally:
            await a.aclose()
            await b.aclose()

    state, shared = asyncio.run(main())
    assert state is BreakerState.OPEN
    assert shared is True


def test_the_script_is_loaded_once_and_reloaded_after_a_flush(redis_server: RedisServer) -> None:
    clock = FakeClock()
    store = _store(redis_server, clock)
    _breaker(store)
    assert store.sync_once()
    client: redis.Redis = redis_server.client()
    sha = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()
    assert client.script_exists(sha) == [True]
    client.script_flush()
    assert store.sync_once()


def test_a_closed_store_leaves_its_breakers_to_decide_alone(redis_server: RedisServer) -> None:
    """An open breaker waits for the shared grant only while the store synchronises; closed, time alone heals it."""
    clock = FakeClock()
    store = _store(redis_server, clock)
    _fail(store, 5)
    assert store.sync_once()
    breaker = _breaker(store)
    clock.advance(5.0)
    assert breaker.state(clock.monotonic()) is BreakerState.OPEN  # online: waiting for the shared grant
    store.close()
    assert breaker.state(clock.monotonic()) is BreakerState.HALF_OPEN
