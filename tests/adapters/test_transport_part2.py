"""Issue 10's findings, one test (or table) each: the caller's timeout, riding out an outage, single-flight
refresh, body-read failures, bounded state, the exception chain, and per-call options.

Socket-level behaviour uses real loopback servers (tests/adapters/conftest.py); time-dependent logic a
FakeClock. No test asserts a timing: the hung-server tests count attempts and read the timeouts sent.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from raw_server import RawServer, Script

import upstreamkit.testing as uk_testing
from upstreamkit import ErrorKind, UpstreamError
from upstreamkit.adapters._options import CallOptions
from upstreamkit.adapters.httpx import AsyncResilientTransport, ResilientTransport, Token, TokenAuth
from upstreamkit.core.backoff import Backoff
from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.events import Event, Throttled
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.state.memory import MemoryStateStore
from upstreamkit.testing import FakeClock

URL = "https://api.example.com/v1/items"
ORIGIN = "https://api.example.com:443"


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with uk_testing.testing() as fake:
        yield fake


def _hold(server: Callable[[Script], RawServer]) -> RawServer:
    """A server that reads each request and never answers (the connection stays open)."""
    box: list[RawServer] = []

    def script(conn: socket.socket, n: int) -> None:
        box[0].held.append(conn)

    box.append(server(script))
    return box[0]


# 1. The caller's timeout -------------------------------------------------------------------------------------


def test_a_hung_upstream_ends_at_the_callers_timeout_per_attempt_not_at_the_deadline(
    raw_server: Callable[[Script], RawServer],
) -> None:
    """Before: 30 s, 3 attempts, deadline_exceeded. Now each attempt ends at the caller's 0.5 s."""
    server = _hold(raw_server)
    policy = RetryPolicy(deadline=5.0, backoff=Backoff(base=0.01, cap=0.02))
    http = httpx.Client(transport=ResilientTransport(policy=policy, breaker=None), timeout=0.5)
    with http, pytest.raises(UpstreamError) as info:
        http.get(server.url + "/v1/items")
    assert info.value.kind is ErrorKind.HTTP_RESPONSE_TIMEOUT
    assert info.value.attempts == 3
    assert server.connections == 3
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_async_a_hung_upstream_ends_at_the_per_request_timeout(raw_server: Callable[[Script], RawServer]) -> None:
    server = _hold(raw_server)
    policy = RetryPolicy(attempts=2, deadline=5.0, backoff=Backoff(base=0.01, cap=0.02))

    async def main() -> UpstreamError:
        transport = AsyncResilientTransport(policy=policy, breaker=None)
        async with httpx.AsyncClient(transport=transport) as http:
            try:
                await http.get(server.url + "/v1/items", timeout=0.3)
            except UpstreamError as exc:
                return exc
        raise AssertionError("the hung upstream answered")

    error = asyncio.run(main())
    assert error.kind is ErrorKind.HTTP_RESPONSE_TIMEOUT
    assert error.attempts == 2
    assert server.connections == 2


# 2. Riding out an outage: wait for the probe within the deadline ----------------------------------------------


class _Upstream:
    """A scripted upstream whose health is switched by the test; counts what reached it."""

    def __init__(self) -> None:
        self.healthy = True
        self.seen = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        return httpx.Response(200, json={"ok": True}) if self.healthy else httpx.Response(503)


class _RecoveringClock(FakeClock):
    """A FakeClock under which the upstream recovers once the waits reach ``recover_at`` seconds."""

    def __init__(self, upstream: _Upstream, recover_at: float) -> None:
        super().__init__()
        self.upstream = upstream
        self.recover_at = recover_at

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.monotonic() >= self.recover_at:
            self.upstream.healthy = True


def _outage_client(upstream: _Upstream, **options: object) -> tuple[httpx.Client, list[Event]]:
    events: list[Event] = []
    breaker = BreakerConfig(consecutive_failures=2, failure_rate=None, open_for=0.5, open_for_growth=2.0)
    transport = ResilientTransport(
        httpx.MockTransport(upstream), breaker=breaker, hooks=[events.append], rng=random.Random(3), **options,  # type: ignore[arg-type]
    )  # fmt: skip
    return httpx.Client(transport=transport), events


def test_a_caller_that_meets_an_open_circuit_waits_for_the_probe_and_succeeds() -> None:
    upstream = _Upstream()
    fake = _RecoveringClock(upstream, recover_at=2.0)
    with uk_testing.testing(fake):
        http, events = _outage_client(upstream, policy=RetryPolicy(attempts=5))
        upstream.healthy = False
        response = http.get(URL)  # 503, 503 (trips), then waits through breaks of 0.5 and 1 s: the probes
    assert response.status_code == 200
    assert fake.monotonic() >= 2.0
    # Only the two failures that tripped it and one probe per break reached the upstream.
    assert upstream.seen <= 2 + 3
    waits = [e for e in events if isinstance(e, Throttled)]
    assert waits
    assert all("circuit open" in e.reason for e in waits)


def test_fail_fast_meets_an_open_circuit_with_an_error_and_the_time_of_the_probe(clock: FakeClock) -> None:
    upstream = _Upstream()
    http, _ = _outage_client(upstream, policy=RetryPolicy(fail_fast=True))
    upstream.healthy = False
    with pytest.raises(UpstreamError) as info:
        http.get(URL)
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 0.5
    assert upstream.seen == 2


def test_a_wait_that_cannot_fit_the_deadline_fails_at_once(clock: FakeClock) -> None:
    upstream = _Upstream()
    http, _ = _outage_client(upstream, policy=RetryPolicy(deadline=0.3, backoff=Backoff(base=0.001, cap=0.001)))
    upstream.healthy = False
    with pytest.raises(UpstreamError) as info:
        http.get(URL)
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    assert clock.slept < 0.3


def test_per_call_options_skip_the_breaker_or_fail_fast(clock: FakeClock) -> None:
    upstream = _Upstream()
    http, _ = _outage_client(upstream, policy=RetryPolicy(fail_fast=True))
    upstream.healthy = False
    with pytest.raises(UpstreamError):
        http.get(URL)
    upstream.healthy = True
    with pytest.raises(UpstreamError) as info:
        http.get(URL)
    assert info.value.kind is ErrorKind.CIRCUIT_OPEN
    # A health check must reach the upstream whatever the breaker thinks.
    assert http.get(URL, extensions={"upstreamkit": CallOptions(breaker=False)}).status_code == 200
    # And a caller that prefers to wait can say so for one call.
    assert http.get(URL, extensions={"upstreamkit": CallOptions(fail_fast=False)}).status_code == 200


def test_per_call_policy_and_a_wrong_extension_type(clock: FakeClock) -> None:
    upstream = _Upstream()
    http, _ = _outage_client(upstream)
    upstream.healthy = False
    with pytest.raises(UpstreamError):
        http.get(URL, extensions={"upstreamkit": CallOptions(policy=RetryPolicy(attempts=1))})
    assert upstream.seen == 1
    with pytest.raises(TypeError, match="CallOptions"):
        http.get(URL, extensions={"upstreamkit": {"breaker": False}})


def test_the_budget_bites_at_the_start_of_an_outage_after_much_healthy_traffic(clock: FakeClock) -> None:
    """Breaker off: the budget alone. 480 healthy calls, then 480 failing ones: about one attempt each."""
    upstream = _Upstream()
    policy = RetryPolicy(attempts=4, backoff=Backoff(base=0.001, cap=0.001))
    http = httpx.Client(transport=ResilientTransport(httpx.MockTransport(upstream), breaker=None, policy=policy))
    for _ in range(480):
        http.get(URL)
        clock.advance(1 / 160)
    upstream.healthy, upstream.seen = False, 0
    for _ in range(480):
        with pytest.raises(UpstreamError):
            http.get(URL)
        clock.advance(1 / 160)
    assert upstream.seen / 480 <= 1.05


def test_retry_if_decides_what_is_retried(clock: FakeClock) -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        return httpx.Response(404) if len(seen) < 3 else httpx.Response(200)

    policy = RetryPolicy(retry_if=lambda outcome: outcome.status == 404, backoff=Backoff(base=0.001, cap=0.001))
    http = httpx.Client(transport=ResilientTransport(httpx.MockTransport(handler), policy=policy))
    assert http.get(URL).status_code == 200  # an eventually consistent store: 404 until it is not
    assert len(seen) == 3


# 3. Token refresh, single-flight by the token the request carried ----------------------------------------------


def _expired_then_ok(carried: set[str], barrier: threading.Barrier | None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        if token == "t0":
            carried.add(token)
            if barrier is not None:
                barrier.wait(timeout=10)  # every thread sent the old token before any learns it failed
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token", '
                                                'error_description="The access token expired"'})  # fmt: skip
        return httpx.Response(200)

    return httpx.MockTransport(handler)


def test_twenty_threads_rejected_with_one_token_cause_one_refresh(clock: FakeClock) -> None:
    """Before: 5 refreshes, because late threads compared against the token current *now*."""
    counter = iter(range(1, 1000))
    auth = TokenAuth(lambda: Token(f"t{next(counter)}", expires_at=None))
    auth._token = Token("t0")  # the token everyone starts with
    carried: set[str] = set()
    http = httpx.Client(transport=ResilientTransport(_expired_then_ok(carried, threading.Barrier(20)), auth=auth))
    results: list[int] = []

    def call() -> None:
        results.append(http.get(URL).status_code)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results == [200] * 20
    assert auth.refreshes == 1


def test_async_twenty_tasks_rejected_with_one_token_cause_one_refresh(clock: FakeClock) -> None:
    """The first task's 401 is answered, its refresh done; only then do the other 19 learn of theirs."""
    counter = iter(range(1, 1000))
    auth: TokenAuth

    async def main() -> list[int]:
        everyone_sent, refreshed = asyncio.Event(), asyncio.Event()
        arrived = 0

        async def afetch() -> Token:
            refreshed.set()
            return Token(f"t{next(counter)}")

        nonlocal auth
        auth = TokenAuth(afetch=afetch)
        auth._token = Token("t0")

        async def handler(request: httpx.Request) -> httpx.Response:
            nonlocal arrived
            if request.headers["Authorization"] == "Bearer t0":
                arrived += 1
                first = arrived == 1
                if arrived == 20:
                    everyone_sent.set()
                await (everyone_sent.wait() if first else refreshed.wait())
                return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token", '
                                                    'error_description="The access token expired"'})  # fmt: skip
            return httpx.Response(200)

        transport = AsyncResilientTransport(httpx.MockTransport(handler), auth=auth)
        async with httpx.AsyncClient(transport=transport) as http:
            responses = await asyncio.gather(*(http.get(URL) for _ in range(20)))
        return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 20
    assert auth.refreshes == 1


def test_a_short_lived_token_is_not_fetched_on_every_call(clock: FakeClock) -> None:
    """A 30 s token inside a 60 s skew was refreshed before every call; now at a quarter of its life."""
    auth = TokenAuth(lambda: Token("short", expires_at=clock.time() + 30), skew=60)
    http = httpx.Client(transport=ResilientTransport(httpx.MockTransport(lambda r: httpx.Response(200)), auth=auth))
    for _ in range(10):
        http.get(URL)
        clock.advance(2)  # 20 s in all: still more than 7.5 s left
    assert auth.refreshes == 1
    clock.advance(3)
    http.get(URL)
    assert auth.refreshes == 2


# 5. Body-read failures ------------------------------------------------------------------------------------------


def _cut_first_body(conn: socket.socket, n: int) -> None:
    """Connection 0 promises 64 bytes and sends 10; later ones answer in full."""
    if n == 0:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n0123456789")
    else:
        body = b"x" * 64
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n" + body)
    conn.close()


def _cut_chunked(conn: socket.socket, n: int) -> None:
    """A chunked body (no length: it streams) that breaks off after one chunk."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    conn.close()


def test_a_body_cut_short_is_a_failed_attempt_and_a_safe_request_is_retried(
    raw_server: Callable[[Script], RawServer],
) -> None:
    server = raw_server(_cut_first_body)
    policy = RetryPolicy(backoff=Backoff(base=0.001, cap=0.001))
    with httpx.Client(transport=ResilientTransport(policy=policy)) as http:
        response = http.get(server.url + "/report.txt")
    assert response.content == b"x" * 64
    assert server.connections == 2


@pytest.mark.parametrize("streamed", [True, False])
def test_a_streamed_body_that_breaks_raises_the_taxonomys_error(
    raw_server: Callable[[Script], RawServer], streamed: bool
) -> None:
    server = raw_server(_cut_chunked)

    def read(http: httpx.Client) -> bytes:
        if not streamed:
            return http.get(server.url + "/events").content
        with http.stream("GET", server.url + "/events") as response:
            return b"".join(response.iter_bytes())

    http = httpx.Client(transport=ResilientTransport())
    with http, pytest.raises(UpstreamError) as info:
        read(http)
    assert info.value.kind is ErrorKind.HTTP_RESPONSE_INCOMPLETE
    assert isinstance(info.value.__cause__, httpx.HTTPError)
    assert info.value.request_id


def test_async_a_streamed_body_that_breaks_raises_the_taxonomys_error(
    raw_server: Callable[[Script], RawServer],
) -> None:
    server = raw_server(_cut_chunked)

    async def main() -> UpstreamError:
        async with httpx.AsyncClient(transport=AsyncResilientTransport()) as http:
            try:
                async with http.stream("GET", server.url + "/events") as response:
                    async for _ in response.aiter_bytes():
                        pass
            except UpstreamError as exc:
                return exc
        raise AssertionError("the broken body read cleanly")

    error = asyncio.run(main())
    assert isinstance(error.__cause__, httpx.HTTPError)


# 6. Bounded per-upstream state ----------------------------------------------------------------------------------


def test_state_for_many_origins_stays_bounded_and_an_incident_is_never_forgotten(clock: FakeClock) -> None:
    store = MemoryStateStore(breaker=BreakerConfig(consecutive_failures=1), max_upstreams=100, idle_for=60.0)
    failing = store.get("https://down.example:443", clock.monotonic())
    assert failing.breaker is not None
    failing.breaker.record_failure(clock.monotonic(), 0.01)
    for n in range(20_000):
        store.get(f"https://host{n}.example:443", clock.monotonic())
        clock.advance(0.001)
    assert len(store.upstreams()) <= 100
    assert "https://down.example:443" in store.upstreams()
    assert store.get("https://down.example:443", clock.monotonic()) is failing


def test_idle_states_are_forgotten(clock: FakeClock) -> None:
    store = MemoryStateStore(max_upstreams=1000, idle_for=60.0)
    for n in range(50):
        store.get(f"https://host{n}.example:443", clock.monotonic())
    clock.advance(61.0)
    store.get("https://fresh.example:443", clock.monotonic())
    assert store.upstreams() == ["https://fresh.example:443"]


def test_the_transport_keeps_bounded_state_over_many_hosts(clock: FakeClock) -> None:
    store = MemoryStateStore(max_upstreams=50)
    http = httpx.Client(transport=ResilientTransport(httpx.MockTransport(lambda r: httpx.Response(200)), store=store))
    for n in range(500):
        http.get(f"https://hook{n}.example/callback")
    assert len(store.upstreams()) <= 50


# 7. The exception chain -----------------------------------------------------------------------------------------


def test_the_upstream_error_keeps_the_httpx_exception_as_its_cause(clock: FakeClock) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")

    def handler(request: httpx.Request) -> httpx.Response:
        raise refused

    http = httpx.Client(transport=ResilientTransport(httpx.MockTransport(handler)))
    with pytest.raises(UpstreamError) as info:
        http.get(URL)
    assert info.value.kind is ErrorKind.CONNECTION_REFUSED
    assert info.value.__cause__ is refused


def test_a_503_with_retry_after_holds_every_caller_behind_one_probe(clock: FakeClock) -> None:
    """bench/outage.py's finding: with Retry-After: 1 on the 503s, every call of the first second went out
    (the limiter held them, then released them all at once). Now the 503's wait opens the breaker."""
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(clock.monotonic())
        return httpx.Response(503, headers={"Retry-After": "1"})

    policy = RetryPolicy(fail_fast=True)
    http = httpx.Client(transport=ResilientTransport(httpx.MockTransport(handler), policy=policy))
    with pytest.raises(UpstreamError):
        http.get(URL)  # 503, Retry-After 1: the breaker opens for 1 s; this call's retry waits 1 s, then probes
    callers = []
    for _ in range(20):  # twenty more calls during the second that follows
        clock.advance(0.04)
        with pytest.raises(UpstreamError) as info:
            http.get(URL)
        callers.append(info.value)
    assert all(e.kind is ErrorKind.CIRCUIT_OPEN for e in callers)
    assert all(e.retry_after is not None and e.retry_after > 0 for e in callers)
    # One probe per break reached the upstream while the twenty called, never the twenty themselves.
    assert len([t for t in seen if t > 2.0]) <= 2


def test_a_probe_does_not_use_up_the_callers_attempts() -> None:
    """bench/outage.py's closed loop: a caller that waited, then probed and failed, ran out of attempts
    inside the outage. The probe is the breaker's attempt: the caller keeps waiting and succeeds."""
    upstream = _Upstream()
    fake = _RecoveringClock(upstream, recover_at=3.0)
    with uk_testing.testing(fake):
        http, _ = _outage_client(upstream, policy=RetryPolicy(attempts=3))
        upstream.healthy = False
        response = http.get(URL)  # 503 x2 (trips), then probes at 0.5 s, 1.5 s (fail), 3.5 s (succeeds)
    assert response.status_code == 200
    assert upstream.seen == 5  # more than its three attempts reached the upstream: the extra ones were probes


# response.elapsed: httpx's Client sets it when the response closes, through the stream it wraps around the
# transport's; a body the transport reads is closed before that, so the transport sets it (the call's time).


def _constant(conn: socket.socket, n: int) -> None:
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}')
    conn.close()


@pytest.mark.parametrize("streamed", [False, True])
def test_elapsed_is_set_as_plain_httpx_sets_it(raw_server: Callable[[Script], RawServer], streamed: bool) -> None:
    server = raw_server(_constant)
    for transport in (None, ResilientTransport()):
        with httpx.Client(transport=transport) as http:
            if streamed:
                with http.stream("GET", server.url + "/v1/items") as response:
                    response.read()
            else:
                response = http.get(server.url + "/v1/items")
        assert response.json() == {"ok": True}
        assert response.elapsed.total_seconds() >= 0, transport


def test_async_elapsed_is_set(raw_server: Callable[[Script], RawServer]) -> None:
    server = raw_server(_constant)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=AsyncResilientTransport()) as http:
            return await http.get(server.url + "/v1/items")

    assert asyncio.run(call()).elapsed.total_seconds() >= 0


class _SlowThenHealthy:
    """Each attempt takes 0.25 s of the fake clock; the first answers 503."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.seen = clock, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        self.clock.advance(0.25)
        return httpx.Response(503 if self.seen == 1 else 200, json={"ok": self.seen > 1})


@pytest.mark.parametrize("retried", [False, True])
def test_elapsed_is_the_whole_calls_time_retries_and_waits_included(clock: FakeClock, retried: bool) -> None:
    upstream = _SlowThenHealthy(clock)
    upstream.seen = 0 if retried else 1
    policy = RetryPolicy(backoff=Backoff(base=0.5, cap=0.5, jitter="none"))
    with httpx.Client(transport=ResilientTransport(httpx.MockTransport(upstream), policy=policy)) as http:
        response = http.get(URL)
    assert response.status_code == 200
    # One attempt: 0.25 s. Two: 0.25 + the 0.5 s wait + 0.25.
    assert response.elapsed.total_seconds() == pytest.approx(1.0 if retried else 0.25)


# A body the transport reads inside the call still streams as plain httpx streams it: raw (still compressed)
# through iter_raw(), decoded through iter_bytes(); a caller of client.stream() cannot tell the difference.

_GZIPPED = gzip.compress(b'{"ok":true,"items":[1,2,3]}', mtime=0)


def _gzip_reply(conn: socket.socket, n: int) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
    conn.sendall(head % len(_GZIPPED) + _GZIPPED)
    conn.close()


def _seen(response: httpx.Response, how: str, chunks: list[bytes]) -> dict[str, object]:
    # is_closed after client.get(): plain httpx closes the response as it reads it; here the body was read in
    # the call and the Client's read finds it there, so it stays False until closed (the connection itself is
    # back in the pool either way). After client.stream() both are closed.
    closed = response.is_closed if how != "get" else None
    return {"how": how, "body": b"".join(chunks), "bytes": response.num_bytes_downloaded,
            "elapsed": response.elapsed.total_seconds() >= 0, "closed": closed}  # fmt: skip


@pytest.mark.parametrize("script", [_constant, _gzip_reply], ids=["identity", "gzip"])
def test_a_body_read_in_the_call_streams_as_plain_httpx_streams_it(
    raw_server: Callable[[Script], RawServer], script: Script
) -> None:
    server = raw_server(script)
    seen: dict[str, list[dict[str, object]]] = {}
    for name, transport in (("plain", None), ("resilient", ResilientTransport())):
        with httpx.Client(transport=transport) as http:
            runs = []
            for how in ("iter_raw", "iter_bytes", "read"):
                with http.stream("GET", server.url + "/v1/items") as response:
                    chunks = list(getattr(response, how)()) if how != "read" else [response.read()]
                runs.append(_seen(response, how, chunks))
            response = http.get(server.url + "/v1/items")
            runs.append(_seen(response, "get", [response.content]))
        seen[name] = runs
    assert seen["resilient"] == seen["plain"]
    assert seen["plain"][0]["body"] == (_GZIPPED if script is _gzip_reply else b'{"ok":true}')


def test_async_a_body_read_in_the_call_streams_raw_as_plain_httpx(
    raw_server: Callable[[Script], RawServer],
) -> None:
    server = raw_server(_gzip_reply)

    async def raw(transport: httpx.AsyncBaseTransport | None) -> tuple[bytes, bytes]:
        async with httpx.AsyncClient(transport=transport) as http:
            async with http.stream("GET", server.url + "/v1/items") as response:
                streamed = b"".join([chunk async for chunk in response.aiter_raw()])
            return streamed, (await http.get(server.url + "/v1/items")).content

    assert asyncio.run(raw(AsyncResilientTransport())) == asyncio.run(raw(None))


def _bad_gzip(conn: socket.socket, n: int) -> None:
    body = b"not gzip at all"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    conn.close()


def test_a_body_that_does_not_decode_is_a_failed_attempt_raised_as_the_taxonomys_error(
    raw_server: Callable[[Script], RawServer],
) -> None:
    server = raw_server(_bad_gzip)
    with httpx.Client() as http, pytest.raises(httpx.DecodingError):
        http.get(server.url + "/v1/items")  # plain httpx
    with httpx.Client(transport=ResilientTransport()) as http, pytest.raises(UpstreamError) as info:
        http.get(server.url + "/v1/items")
    assert info.value.kind is ErrorKind.HTTP_RESPONSE_CONTENT_CODING
    assert isinstance(info.value.__cause__, httpx.DecodingError)
