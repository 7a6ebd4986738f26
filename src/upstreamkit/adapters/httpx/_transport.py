"""``ResilientTransport`` and ``AsyncResilientTransport``: httpx transports that survive upstream failures.

    client = httpx.Client(transport=upstreamkit.ResilientTransport())

With no arguments they are production-safe: 3 attempts with jittered backoff, 10 s per attempt (or the
client's own httpx timeout when shorter, part by part) within a 30 s deadline, Retry-After honoured (never
early), a retry budget and a circuit breaker per upstream (a call that meets an open circuit waits for the
next probe's answer while its deadline allows), client-side pacing learned from RateLimit headers, POST/PATCH
resent only with an Idempotency-Key. A failure that survives the policy is raised as an
:class:`~upstreamkit.errors.UpstreamError` (``from`` the httpx exception behind it), except the caller's own
4xx business (404, 400/413/422, 403), which comes back as the response. A body that fails while the caller
streams it raises the taxonomy's error too. Per call, ``extensions={"upstreamkit": CallOptions(...)}``
overrides the policy, skips the breaker or the budget, or fails fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any

import httpx

from upstreamkit.adapters.httpx._commands import (
    Discard,
    Fallback,
    Refresh,
    Send,
    Sleep,
    keep_body,
    map_stream_error,
    should_read_body,
)
from upstreamkit.adapters.httpx._engine import Engine
from upstreamkit.adapters.httpx.auth import TokenAuth
from upstreamkit.clock import Clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.budget import BudgetConfig
from upstreamkit.core.events import Hook
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.state.memory import MemoryStateStore

__all__ = ["AsyncResilientTransport", "ResilientTransport"]

_DEFAULT = object()


def _engine(  # noqa: PLR0917 - the transports' options, passed through in order
    policy: RetryPolicy | None,
    budget: BudgetConfig | object | None,
    breaker: BreakerConfig | object | None,
    rate: float | None,
    burst: int,
    store: MemoryStateStore | None,
    auth: TokenAuth | None,
    hooks: Sequence[Hook],
    clock: Clock | None,
    rng: RandomSource | None,
    auto_idempotency_key: bool,
    request_id_header: str,
    attempt_header: str | None,
    fallback: Fallback | None,
    raise_on_failure: bool,
) -> Engine:
    if store is None:
        store = MemoryStateStore(
            breaker=BreakerConfig() if breaker is _DEFAULT else breaker,  # type: ignore[arg-type]
            budget=BudgetConfig() if budget is _DEFAULT else budget,  # type: ignore[arg-type]
            rate=rate,
            burst=burst,
        )
    return Engine(
        policy=policy if policy is not None else RetryPolicy(),
        store=store,
        auth=auth,
        hooks=hooks,
        clock=clock,
        rng=rng,
        auto_idempotency_key=auto_idempotency_key,
        request_id_header=request_id_header,
        attempt_header=attempt_header,
        fallback=fallback,
        raise_on_failure=raise_on_failure,
    )


class ResilientTransport(httpx.BaseTransport):
    """An ``httpx.BaseTransport`` that wraps another (by default ``httpx.HTTPTransport()``) with retries,
    a deadline, a retry budget, a circuit breaker, rate limiting, token refresh and request ids.

    Args:
        transport: the transport that does the I/O.
        policy: attempts, backoff, per-try timeout, deadline, Retry-After cap.
        budget: the retry budget per upstream (``None`` turns it off).
        breaker: the circuit breaker per upstream (``None`` turns it off).
        rate, burst: a client-side rate limit per upstream, requests/second (``None``: only what the
            upstream's RateLimit headers teach).
        store: per-upstream state to share between transports (overrides budget, breaker, rate, burst).
        auth: bearer tokens refreshed before expiry and once on ``auth_expired``.
        hooks: receive every event (``upstreamkit.telemetry`` has logging, Prometheus and OpenTelemetry).
        clock, rng: injected time and randomness (``upstreamkit.testing`` swaps the clock for all).
        auto_idempotency_key: give every POST/PATCH one ``Idempotency-Key`` per logical call, so it may be retried.
        request_id_header: the header carrying the logical call's id (kept when the caller set it).
        attempt_header: the header carrying the attempt number (``None`` sends none).
        fallback: called with the request and the error when the call fails; a response it returns is used.
        raise_on_failure: ``False`` returns the last failed response instead of raising, where there is one.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        policy: RetryPolicy | None = None,
        budget: BudgetConfig | Any | None = _DEFAULT,
        breaker: BreakerConfig | Any | None = _DEFAULT,
        rate: float | None = None,
        burst: int = 1,
        store: MemoryStateStore | None = None,
        auth: TokenAuth | None = None,
        hooks: Sequence[Hook] = (),
        clock: Clock | None = None,
        rng: RandomSource | None = None,
        auto_idempotency_key: bool = False,
        request_id_header: str = "X-Request-Id",
        attempt_header: str | None = "X-Upstreamkit-Attempt",
        fallback: Fallback | None = None,
        raise_on_failure: bool = True,
    ) -> None:
        self.transport = transport if transport is not None else httpx.HTTPTransport()
        self.engine = _engine(
            policy, budget, breaker, rate, burst, store, auth, hooks, clock, rng, auto_idempotency_key,
            request_id_header, attempt_header, fallback, raise_on_failure,
        )  # fmt: skip

    @property
    def store(self) -> MemoryStateStore:
        """The per-upstream state (breakers, budgets, limiters)."""
        return self.engine.store

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with the resilience policy; see the class docstring."""
        request.read()  # a body that may be sent twice must be replayable
        engine = self.engine
        quick = engine.quick_start(request)
        if quick is None:
            run = engine.run(request)
        else:
            result = self._send(request)
            succeeded = engine.quick_finish(quick, result)
            if succeeded is not None:
                return succeeded
            run = engine.run(request, (quick, result))
        value: Any = None
        try:
            while True:
                command = run.send(value)
                if isinstance(command, Send):
                    value = self._send(command.request)
                elif isinstance(command, Sleep):
                    self.engine.clock.sleep(command.seconds)
                    value = None
                elif isinstance(command, Discard):
                    command.response.close()
                    value = None
                else:
                    value = self._refresh(command)
        except StopIteration as stop:
            response: httpx.Response = stop.value
            return response
        finally:
            run.close()  # on cancellation or an error in the driver, let the engine release what it holds

    def _send(self, request: httpx.Request) -> httpx.Response | Exception:
        try:
            response = self.transport.handle_request(request)
        except Exception as exc:  # noqa: BLE001 - every failure is classified by the engine, then raised as UpstreamError
            return exc
        if response.is_stream_consumed:  # made already read (httpx.MockTransport's): nothing to read
            return response
        if should_read_body(response):
            try:
                keep_body(response, b"".join(response.iter_raw()))
            except Exception as exc:  # noqa: BLE001 - a body cut short or not decodable fails this attempt
                response.close()
                return exc
        else:
            response.stream = _MappedStream(response.stream, request, self.engine.request_id_header)
        return response

    def _refresh(self, command: Refresh) -> Any:
        assert self.engine.auth is not None  # noqa: S101 - the engine refreshes only with auth
        return self.engine.auth.refresh(command.stale)

    def close(self) -> None:
        """Close the wrapped transport."""
        self.transport.close()

    def __enter__(self) -> ResilientTransport:
        self.transport.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.transport.__exit__(exc_type, exc_value, traceback)


class AsyncResilientTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`ResilientTransport`, wrapping ``httpx.AsyncHTTPTransport()`` by default.

    Same arguments, same behaviour: the decisions are made by the same engine.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        policy: RetryPolicy | None = None,
        budget: BudgetConfig | Any | None = _DEFAULT,
        breaker: BreakerConfig | Any | None = _DEFAULT,
        rate: float | None = None,
        burst: int = 1,
        store: MemoryStateStore | None = None,
        auth: TokenAuth | None = None,
        hooks: Sequence[Hook] = (),
        clock: Clock | None = None,
        rng: RandomSource | None = None,
        auto_idempotency_key: bool = False,
        request_id_header: str = "X-Request-Id",
        attempt_header: str | None = "X-Upstreamkit-Attempt",
        fallback: Fallback | None = None,
        raise_on_failure: bool = True,
    ) -> None:
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()
        self.engine = _engine(
            policy, budget, breaker, rate, burst, store, auth, hooks, clock, rng, auto_idempotency_key,
            request_id_header, attempt_header, fallback, raise_on_failure,
        )  # fmt: skip

    @property
    def store(self) -> MemoryStateStore:
        """The per-upstream state (breakers, budgets, limiters)."""
        return self.engine.store

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with the resilience policy; see :class:`ResilientTransport`."""
        await request.aread()
        engine = self.engine
        quick = engine.quick_start(request)
        if quick is None:
            run = engine.run(request)
        else:
            result = await self._send(request)
            succeeded = engine.quick_finish(quick, result)
            if succeeded is not None:
                return succeeded
            run = engine.run(request, (quick, result))
        value: Any = None
        try:
            while True:
                command = run.send(value)
                if isinstance(command, Send):
                    value = await self._send(command.request)
                elif isinstance(command, Sleep):
                    await self.engine.clock.asleep(command.seconds)
                    value = None
                elif isinstance(command, Discard):
                    await command.response.aclose()
                    value = None
                else:
                    assert self.engine.auth is not None  # noqa: S101
                    value = await self.engine.auth.arefresh(command.stale)
        except StopIteration as stop:
            response: httpx.Response = stop.value
            return response
        finally:
            run.close()  # on cancellation or an error in the driver, let the engine release what it holds

    async def _send(self, request: httpx.Request) -> httpx.Response | Exception:
        try:
            response = await self.transport.handle_async_request(request)
        except Exception as exc:  # noqa: BLE001 - every failure is classified by the engine
            return exc
        if response.is_stream_consumed:  # made already read (httpx.MockTransport's): nothing to read
            return response
        if should_read_body(response):
            try:
                keep_body(response, b"".join([chunk async for chunk in response.aiter_raw()]))
            except Exception as exc:  # noqa: BLE001 - a body cut short or not decodable fails this attempt
                await response.aclose()
                return exc
        else:
            response.stream = _AsyncMappedStream(response.stream, request, self.engine.request_id_header)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncResilientTransport:
        await self.transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.transport.__aexit__(exc_type, exc_value, traceback)


class _MappedStream(httpx.SyncByteStream):
    """A body the caller streams: a failure while reading it is raised as the taxonomy's UpstreamError."""

    def __init__(self, stream: Any, request: httpx.Request, request_id_header: str) -> None:
        self._stream = stream
        self._request = request
        self._header = request_id_header

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except Exception as exc:
            raise map_stream_error(exc, self._request, self._header) from exc

    def close(self) -> None:
        self._stream.close()


class _AsyncMappedStream(httpx.AsyncByteStream):
    """The async twin of :class:`_MappedStream`."""

    def __init__(self, stream: Any, request: httpx.Request, request_id_header: str) -> None:
        self._stream = stream
        self._request = request
        self._header = request_id_header

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            raise map_stream_error(exc, self._request, self._header) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()
