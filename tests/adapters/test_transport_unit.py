"""ResilientTransport at the transport seam: httpx.MockTransport scripts the upstream, a FakeClock the time."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

import upstreamkit.testing as uk_testing
from upstreamkit import ErrorKind, UpstreamError
from upstreamkit.adapters.httpx import AsyncResilientTransport, ResilientTransport, Token, TokenAuth
from upstreamkit.core.backoff import Backoff
from upstreamkit.core.breaker import BreakerConfig, BreakerState
from upstreamkit.core.events import AttemptFailed, BreakerStateChanged, Event, GaveUp, RetryScheduled
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.testing import FakeClock

URL = "https://api.example.com/v1/items"


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with uk_testing.testing() as fake:
        yield fake


def snapshot(request: httpx.Request) -> httpx.Request:
    """The request as it was sent: the transport reuses one request object across attempts."""
    copy = httpx.Request(request.method, request.url, headers=request.headers.copy(), content=request.content)
    copy.extensions = dict(request.extensions)
    return copy


def scripted(*responses: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(snapshot(request))
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return httpx.Response(item.status_code, headers=item.headers, content=item.content)

    return httpx.MockTransport(handler), seen


def client(inner: httpx.BaseTransport, **options: object) -> httpx.Client:
    options.setdefault("rng", random.Random(1))
    return httpx.Client(transport=ResilientTransport(inner, **options))  # type: ignore[arg-type]


def test_defaults_retry_an_outage_then_succeed(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": True}))
    response = client(inner).get(URL)
    assert response.status_code == 200
    assert len(seen) == 3
    assert len(clock.sleeps) == 2
    assert all(0 <= s <= 5.0 for s in clock.sleeps)


def test_request_id_and_attempt_number_on_every_attempt(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(503), httpx.Response(503), httpx.Response(200))
    client(inner).get(URL, headers={"X-Request-Id": "caller-chose-this"})
    assert [r.headers["X-Request-Id"] for r in seen] == ["caller-chose-this"] * 3
    # No attempt header means the first attempt: the common case pays for no header.
    assert [r.headers.get("X-Upstreamkit-Attempt") for r in seen] == [None, "2", "3"]


def test_a_request_id_is_made_when_the_caller_has_none(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(503), httpx.Response(200))
    client(inner).get(URL)
    assert len({r.headers["X-Request-Id"] for r in seen}) == 1
    assert len(seen[0].headers["X-Request-Id"]) == 32


def test_retry_after_is_waited_out_to_the_moment(clock: FakeClock) -> None:
    inner, _ = scripted(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200))
    assert client(inner).get(URL).status_code == 200
    assert clock.sleeps == [3.0]


def test_retry_after_past_the_cap_fails_at_once(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(UpstreamError) as info:
        client(inner).get(URL)
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert info.value.retry_after == 3600.0
    assert len(seen) == 1
    assert clock.sleeps == []


def test_each_attempt_gets_min_of_per_try_and_remaining(clock: FakeClock) -> None:
    timeouts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        clock.advance(4.0)  # each attempt takes 4 s
        return httpx.Response(503)

    policy = RetryPolicy(attempts=5, per_try_timeout=8.0, deadline=10.0, backoff=Backoff(base=0.5, jitter="none"))
    transport = ResilientTransport(httpx.MockTransport(handler), policy=policy, rng=random.Random(1))
    http = httpx.Client(transport=transport, timeout=None)  # noqa: S113 - no caller timeout: the policy's alone
    with pytest.raises(UpstreamError):
        http.get(URL)
    # 8: the per-try timeout; 5.5: what the deadline leaves after 4 s + 0.5 s of backoff; 0.5: after
    # another 4 s + 1 s; then the next wait no longer fits before the deadline.
    assert timeouts == pytest.approx([8.0, 5.5, 0.5])


@pytest.mark.parametrize("where", ["client", "request"])
def test_the_callers_timeout_caps_every_attempt_part_by_part(clock: FakeClock, where: str) -> None:
    """Issue 10, finding 1: httpx's timeout (client-wide or per request) is the per-attempt limit, combined
    with the policy as min(caller's, per-try, remaining deadline), each of the four parts on its own."""
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.extensions["timeout"]))
        clock.advance(4.0)
        return httpx.Response(503)

    policy = RetryPolicy(attempts=3, per_try_timeout=10.0, deadline=30.0, backoff=Backoff(base=0.5, jitter="none"))
    caller = httpx.Timeout(0.5, connect=2.0, pool=None)
    transport = ResilientTransport(httpx.MockTransport(handler), policy=policy, rng=random.Random(1))
    if where == "client":
        http, options = httpx.Client(transport=transport, timeout=caller), {}
    else:
        http, options = httpx.Client(transport=transport), {"timeout": caller}
    with pytest.raises(UpstreamError):
        http.get(URL, **options)
    assert seen[0] == {"connect": 2.0, "read": 0.5, "write": 0.5, "pool": 10.0}  # pool: none given, the policy's
    assert len(seen) == 3
    # after 4 s + 0.5 s + 4 s + 1 s, 20.5 s are left: the caller's own parts still decide
    assert seen[2] == {"connect": 2.0, "read": 0.5, "write": 0.5, "pool": 10.0}


def test_a_sent_post_without_a_key_is_never_sent_twice(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(502), httpx.Response(200))
    with pytest.raises(UpstreamError) as info:
        client(inner).post(URL, json={"amount": 1})
    assert len(seen) == 1
    assert info.value.attempts == 1


def test_a_post_with_a_key_is_retried_with_the_same_key(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(502), httpx.Response(200))
    client(inner).post(URL, json={"amount": 1}, headers={"Idempotency-Key": "order-42"})
    assert [r.headers["Idempotency-Key"] for r in seen] == ["order-42", "order-42"]
    assert seen[0].content == seen[1].content == b'{"amount":1}'


def test_automatic_idempotency_keys_are_one_per_logical_call(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(502), httpx.Response(200))
    http = client(inner, auto_idempotency_key=True)
    http.post(URL, json={})
    http.post(URL, json={})
    keys = [r.headers["Idempotency-Key"] for r in seen]
    assert keys[0] == keys[1]
    assert keys[2] != keys[0]


def test_a_post_that_never_left_is_retried(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.ConnectError("[Errno 111] Connection refused"), httpx.Response(201))
    assert client(inner).post(URL, json={}).status_code == 201
    assert len(seen) == 2


def test_600_in_a_200_body_is_a_failure(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(200, json={"code": 600, "error": "upstream_error"}))
    with pytest.raises(UpstreamError) as info:
        client(inner).get(URL)
    assert info.value.kind is ErrorKind.UPSTREAM_600
    assert len(seen) == 3


def test_callers_own_4xx_come_back_as_responses(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(404, json={"error": "not found"}))
    assert client(inner).get(URL).status_code == 404
    assert len(seen) == 1


def test_invalid_credentials_raise_without_retry(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(401, json={"message": "Bad credentials"}))
    with pytest.raises(UpstreamError) as info:
        client(inner).get(URL)
    assert info.value.kind is ErrorKind.AUTH_INVALID
    assert len(seen) == 1


def test_breaker_opens_fails_fast_then_probes(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(503))
    breaker = BreakerConfig(consecutive_failures=3, failure_rate=None, open_for=5.0)
    policy = RetryPolicy(attempts=1, fail_fast=True)
    transport = ResilientTransport(inner, breaker=breaker, budget=None, policy=policy)
    http = httpx.Client(transport=transport)
    for _ in range(3):
        with pytest.raises(UpstreamError):
            http.get(URL)
    with pytest.raises(UpstreamError) as info:
        http.get(URL)
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    assert info.value.retry_after == pytest.approx(5.0)
    assert info.value.request_sent is False
    assert len(seen) == 3
    clock.advance(5.0)
    with pytest.raises(UpstreamError) as probe:
        http.get(URL)
    assert probe.value.kind is ErrorKind.UPSTREAM_OUTAGE  # the probe went out, and failed
    assert len(seen) == 4
    state = transport.store.get("https://api.example.com:443")
    assert state.breaker is not None
    assert state.breaker.state(clock.monotonic()) is BreakerState.OPEN


def test_fallback_serves_a_degraded_response(clock: FakeClock) -> None:
    inner, _ = scripted(httpx.Response(503))
    cached = httpx.Response(200, json={"cached": True})

    def fallback(request: httpx.Request, error: UpstreamError) -> httpx.Response | None:
        return cached if error.kind in {ErrorKind.CIRCUIT_OPEN, ErrorKind.UPSTREAM_OUTAGE} else None

    http = client(inner, fallback=fallback)
    assert http.get(URL).json() == {"cached": True}


def test_retry_budget_caps_attempts_during_a_total_outage(clock: FakeClock) -> None:
    inner, seen = scripted(httpx.Response(503))
    policy = RetryPolicy(attempts=5, backoff=Backoff(base=0.01, cap=0.05), fail_fast=True)
    http = client(inner, breaker=None, policy=policy)
    requests = 500
    for _ in range(requests):
        with pytest.raises(UpstreamError):
            http.get(URL)
        clock.advance(0.02)  # 500 requests over about 10 s
    ratio = len(seen) / requests
    assert ratio <= 1.2 + 10 / requests * 2  # 20 % plus the floor of 1 retry/s over the window


def test_events_reach_hooks_and_a_broken_hook_is_harmless(clock: FakeClock) -> None:
    events: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    inner, _ = scripted(httpx.Response(503), httpx.Response(200))
    client(inner, hooks=[broken, events.append]).get(URL)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["AttemptStarted", "AttemptFailed", "RetryScheduled", "AttemptStarted", "AttemptSucceeded"]
    failed = next(e for e in events if isinstance(e, AttemptFailed))
    assert failed.kind is ErrorKind.UPSTREAM_OUTAGE
    assert any(isinstance(e, RetryScheduled) for e in events)


def test_gave_up_event(clock: FakeClock) -> None:
    events: list[Event] = []
    inner, _ = scripted(httpx.Response(503))
    with pytest.raises(UpstreamError):
        client(inner, hooks=[events.append]).get(URL)
    gave_up = [e for e in events if isinstance(e, GaveUp)]
    assert len(gave_up) == 1
    assert gave_up[0].attempts == 3


def _expiring_upstream(valid: Callable[[], str]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(snapshot(request))
        if request.headers.get("Authorization") == f"Bearer {valid()}":
            return httpx.Response(200)
        challenge = 'Bearer error="invalid_token", error_description="The access token expired"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    return httpx.MockTransport(handler), seen


def test_an_expired_token_is_refreshed_once_then_retried(clock: FakeClock) -> None:
    tokens = iter(["old-token-1", "new-token-2"])
    issued: list[str] = []

    def fetch() -> Token:
        issued.append(next(tokens))
        return Token(issued[-1], expires_at=None)

    inner, seen = _expiring_upstream(lambda: "new-token-2")
    auth = TokenAuth(fetch)
    assert client(inner, auth=auth).get(URL).status_code == 200
    assert issued == ["old-token-1", "new-token-2"]
    assert [r.headers["Authorization"] for r in seen] == ["Bearer old-token-1", "Bearer new-token-2"]


def test_a_token_expiring_within_the_skew_is_refreshed_before_sending(clock: FakeClock) -> None:
    count = 0

    def fetch() -> Token:
        nonlocal count
        count += 1
        return Token(f"t{count}", expires_at=clock.time() + 300)

    inner, _ = scripted(httpx.Response(200))
    http = client(inner, auth=TokenAuth(fetch, skew=60))
    http.get(URL)
    clock.advance(239)
    http.get(URL)  # 61 s left: outside the skew
    assert count == 1
    clock.advance(2)
    http.get(URL)  # 59 s left: inside the 60 s skew, refreshed before sending
    assert count == 2


def test_twenty_concurrent_threads_share_one_refresh(clock: FakeClock) -> None:
    auth = TokenAuth(lambda: Token("fresh", expires_at=None))
    auth._token = Token("stale")
    inner, _ = _expiring_upstream(lambda: "fresh")
    http = client(inner, auth=auth)
    results: list[int] = []
    barrier = threading.Barrier(20)

    def call() -> None:
        barrier.wait()
        results.append(http.get(URL).status_code)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 20
    assert auth.refreshes == 1


def test_async_twenty_concurrent_tasks_share_one_refresh(clock: FakeClock) -> None:
    fetches = 0

    async def afetch() -> Token:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0)
        return Token("fresh")

    auth = TokenAuth(afetch=afetch)
    auth._token = Token("stale")

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        if request.headers.get("Authorization") == "Bearer fresh":
            return httpx.Response(200)
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="token expired"'}
        )

    async def main() -> list[int]:
        transport = AsyncResilientTransport(httpx.MockTransport(handler), auth=auth, rng=random.Random(1))
        async with httpx.AsyncClient(transport=transport) as http:
            responses = await asyncio.gather(*(http.get(URL) for _ in range(20)))
        return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 20
    assert fetches == 1


def test_async_path_behaves_like_sync(clock: FakeClock) -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(503), httpx.Response(200)]

    async def handler(request: httpx.Request) -> httpx.Response:
        item = answers.pop(0)
        return httpx.Response(item.status_code, headers=item.headers)

    async def main() -> int:
        transport = AsyncResilientTransport(httpx.MockTransport(handler), rng=random.Random(1))
        async with httpx.AsyncClient(transport=transport) as http:
            return (await http.get(URL)).status_code

    assert asyncio.run(main()) == 200
    assert clock.sleeps[0] == 2.0
    assert len(clock.sleeps) == 2


def test_async_gives_up_with_an_upstream_error(clock: FakeClock) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Bad credentials"})

    async def main() -> None:
        async with httpx.AsyncClient(transport=AsyncResilientTransport(httpx.MockTransport(handler))) as http:
            await http.get(URL)

    with pytest.raises(UpstreamError) as info:
        asyncio.run(main())
    assert info.value.kind is ErrorKind.AUTH_INVALID


def test_breaker_transitions_reach_the_hooks(clock: FakeClock) -> None:
    inner, _ = scripted(httpx.Response(503), httpx.Response(503), httpx.Response(200))
    events: list[Event] = []
    breaker = BreakerConfig(consecutive_failures=2, failure_rate=None, open_for=5.0)
    transport = ResilientTransport(
        inner, breaker=breaker, budget=None, policy=RetryPolicy(attempts=1), hooks=[events.append]
    )
    http = httpx.Client(transport=transport)
    for _ in range(2):
        with pytest.raises(UpstreamError):
            http.get(URL)
    clock.advance(5.0)
    assert http.get(URL).status_code == 200
    changes = [(e.old, e.new) for e in events if isinstance(e, BreakerStateChanged)]
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    first = next(e for e in events if isinstance(e, BreakerStateChanged))
    assert first.upstream == "https://api.example.com:443"
    assert "2" in first.reason
