"""The logic of one resilient logical call, written once for sync and async.

:meth:`Engine.run` is a generator: it yields commands (:class:`Sleep`, :class:`Send`, :class:`Refresh`)
and receives their results, so the sync transport and the async transport are thin drivers that perform
the commands their own way (the mitmproxy "commands" pattern). All policy decisions come from the pure
core (retry policy, budget, breaker, limiter); the engine only sequences them and emits events.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from upstreamkit.adapters.httpx.auth import Token, TokenAuth
from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import BreakerTransition
from upstreamkit.core.classify import classify, classify_exception, is_plain_success
from upstreamkit.core.events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    BreakerStateChanged,
    Event,
    GaveUp,
    Hook,
    RetryScheduled,
    Throttled,
    TokenRefreshed,
)
from upstreamkit.core.outcome import Outcome
from upstreamkit.core.redact import fingerprint, redact_url
from upstreamkit.core.retry import Deadline, GiveUp, RetryPolicy
from upstreamkit.errors import ErrorKind, Hop, UpstreamError, make_error
from upstreamkit.state.memory import MemoryStateStore, UpstreamState

logger = logging.getLogger("upstreamkit")

BODY_READ_LIMIT = 256 * 1024
"""Bodies up to this size are read to look for error envelopes (a 600 inside an HTTP 200)."""

# Failures that say nothing about the upstream's health: they neither trip nor heal a breaker.
_NOT_HEALTH = frozenset(
    {
        ErrorKind.AUTH_EXPIRED,
        ErrorKind.AUTH_INVALID,
        ErrorKind.AUTH_FORBIDDEN,
        ErrorKind.PAYLOAD_REJECTED,
        ErrorKind.HTTP_REQUEST_ERROR,
        ErrorKind.HTTP_REQUEST_DENIED,
        ErrorKind.RATE_LIMITED,
        ErrorKind.REQUEST_TIMEOUT,
    }
)
# Failures handed back as the response itself rather than raised: the caller's own business.
PASS_THROUGH = frozenset({ErrorKind.HTTP_REQUEST_ERROR, ErrorKind.PAYLOAD_REJECTED, ErrorKind.AUTH_FORBIDDEN})


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds (through the clock)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Send:
    """Send the request; the result is an ``httpx.Response`` (body read when small) or the exception raised."""

    request: httpx.Request


@dataclass(frozen=True, slots=True)
class Refresh:
    """Refresh the token (single-flight); ``stale`` is the token that failed. The result is the new Token."""

    stale: Token | None
    reason: str


@dataclass(frozen=True, slots=True)
class Discard:
    """Close a response that will not be handed to the caller (sync or async, as the driver is)."""

    response: httpx.Response


Command = Sleep | Send | Refresh | Discard
Fallback = Callable[[httpx.Request, UpstreamError], httpx.Response | None]


def should_read_body(response: httpx.Response) -> bool:
    """Read bodies that may carry an error envelope: failures, and small JSON or untyped successes."""
    if response.status_code >= 300:
        return True
    length = response.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > BODY_READ_LIMIT:
        return False
    ctype = response.headers.get("content-type", "").lower()
    return not ctype or "json" in ctype


def upstream_key(url: httpx.URL) -> str:
    """``scheme://host:port``: the key of per-upstream state and the label of metrics."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.host}:{port}"


@dataclass(frozen=True, slots=True)
class _Call:
    """What stays the same across the attempts of one logical call."""

    request: httpx.Request
    upstream: str
    state: UpstreamState
    method: str
    request_id: str
    has_key: bool
    deadline: Deadline

    @property
    def where(self) -> str:
        """The URL for error messages: redacted, without query or fragment (computed only for failures)."""
        return redact_url(str(self.request.url.copy_with(query=None, fragment=None)))


class Engine:
    """Shared configuration and state of a resilient transport; :meth:`run` drives one logical call."""

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        store: MemoryStateStore,
        auth: TokenAuth | None,
        hooks: Sequence[Hook],
        clock: Clock | None,
        rng: RandomSource | None,
        auto_idempotency_key: bool,
        request_id_header: str,
        attempt_header: str | None,
        fallback: Fallback | None,
        raise_on_failure: bool,
    ) -> None:
        self.policy = policy
        self.store = store
        self.auth = auth
        self.hooks = tuple(hooks)
        self._clock = clock
        self.rng: RandomSource = rng if rng is not None else random.Random()
        self.auto_idempotency_key = auto_idempotency_key
        self.request_id_header = request_id_header
        self.attempt_header = attempt_header
        self.fallback = fallback
        self.raise_on_failure = raise_on_failure
        if self.hooks:
            # Breakers are made lazily by the store, per upstream: every one made from now on tells the hooks.
            earlier = store.on_transition

            def announce(transition: BreakerTransition) -> None:
                if earlier is not None:
                    earlier(transition)
                self.emit(BreakerStateChanged(transition.name, transition.old, transition.new, transition.reason,
                                              transition.at))  # fmt: skip

            store.on_transition = announce

    @property
    def clock(self) -> Clock:
        """The injected clock, else upstreamkit's current one (a FakeClock under ``testing()``)."""
        return self._clock if self._clock is not None else get_clock()

    def emit(self, event: Event) -> None:
        """Deliver an event to every hook; a failing hook is logged, never raised."""
        for hook in self.hooks:
            try:
                hook(event)
            except Exception:  # a broken hook must not break the call it observes
                logger.exception("upstreamkit hook %r failed on %s", hook, type(event).__name__)

    def _start(self, request: httpx.Request) -> _Call:
        """Name the call, give it a request id (and an idempotency key when asked), start its deadline."""
        upstream = upstream_key(request.url)
        method = request.method.upper()
        request_id = request.headers.get(self.request_id_header) or uuid.uuid4().hex
        request.headers[self.request_id_header] = request_id
        if self.auto_idempotency_key and method in ("POST", "PATCH") and "idempotency-key" not in request.headers:
            request.headers["Idempotency-Key"] = str(uuid.uuid4())
        call = _Call(
            request=request,
            upstream=upstream,
            state=self.store.get(upstream),
            method=method,
            request_id=request_id,
            has_key="idempotency-key" in request.headers,
            deadline=self.policy.start(self.clock.monotonic()),
        )
        if call.state.budget is not None:
            call.state.budget.record_request(call.deadline.start)
        return call

    def _client_error(
        self, call: _Call, kind: ErrorKind, message: str, *, attempts: int, last: Outcome | None,
        retry_after: float | None = None,
    ) -> UpstreamError:  # fmt: skip
        """An error the client decided on (budget, breaker, limiter, deadline), naming the last failure."""
        if last is not None:
            message = f"{message}; last failure: {last.kind}: {last.explanation}"
        return make_error(
            kind, message, request_sent=last.request_sent if last is not None else False, attempts=attempts,
            retry_after=retry_after, request_id=call.request_id, upstream=call.where, hop=Hop.CLIENT,
            status=last.status if last is not None else None,
        )  # fmt: skip

    def _gate(self, call: _Call, attempt: int, now: float, last: Outcome | None, *, retry: bool) -> GiveUp | None:
        """The retry budget (for retries) and the breaker, before an attempt; a GiveUp when one says no."""
        state = call.state
        if retry and state.budget is not None and not state.budget.try_withdraw(now):
            error = self._client_error(
                call, ErrorKind.BUDGET_EXHAUSTED, "retry budget exhausted", attempts=attempt - 1, last=last,
                retry_after=last.retry_after if last is not None else None,
            )  # fmt: skip
            return GiveUp(error, "retry budget exhausted")
        wait = state.breaker.allow(now) if state.breaker is not None else None
        if wait is not None:
            message = f"circuit open for {call.upstream}; next probe in {wait:.3g}s"
            error = self._client_error(
                call, ErrorKind.CIRCUIT_OPEN, message, attempts=attempt - 1, last=last, retry_after=wait
            )
            return GiveUp(error, "circuit open")
        return None

    def _read(self, result: httpx.Response | BaseException) -> tuple[Outcome, httpx.Response | None]:
        """Classify what an attempt brought back."""
        if isinstance(result, BaseException):
            return classify_exception(result), None
        body = result.content if _is_read(result) else b""
        if is_plain_success(result.status_code, result.headers.keys(), body):
            return _PLAIN_SUCCESS if result.status_code == 200 else _success(result.status_code), result
        # HTTP-dates and epoch resets are read against the server's own Date when it sends one: immune to
        # skew between the client's clock and the server's.
        reference = None if "date" in result.headers else self.clock.time()
        return classify(result.status_code, result.headers, body, now=reference), result

    def _record(self, call: _Call, attempt: int, outcome: Outcome, started: float, done: float) -> None:
        """Teach the limiter and the breaker what the attempt showed; emit the attempt's event."""
        state, duration = call.state, done - started
        limit = outcome.rate_limit
        if limit is not None:
            state.limiter.observe(done, remaining=limit.remaining, reset_after=limit.reset_after, limit=limit.limit)
        kind = outcome.kind
        if kind is None:
            if state.breaker is not None:
                state.breaker.record_success(done, duration)
            status = outcome.status or 0
            if self.hooks:
                self.emit(
                    AttemptSucceeded(call.upstream, call.request_id, call.method, attempt, status, duration, done)
                )
            return
        self.emit(
            AttemptFailed(call.upstream, call.request_id, call.method, attempt, kind, outcome.status, outcome.is_600,
                          duration, outcome.explanation, done)
        )  # fmt: skip
        if state.breaker is not None:
            # A 503 with Retry-After is classified rate_limited, yet it says the upstream is shedding load:
            # every 5xx counts against the upstream's health.
            if kind in _NOT_HEALTH and (outcome.status or 0) < 500:
                state.breaker.release(done)
            else:
                state.breaker.record_failure(done, duration)
        if kind is ErrorKind.RATE_LIMITED and outcome.retry_after is not None:
            state.limiter.block_until(done + outcome.retry_after)

    def _prepare(self, call: _Call, attempt: int, timeout: float | None) -> None:
        request = call.request
        if timeout is not None:
            request.extensions = {
                **request.extensions,
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout},
            }
        if self.attempt_header:
            request.headers[self.attempt_header] = str(attempt)

    def run(self, request: httpx.Request) -> Generator[Command, Any, httpx.Response]:  # noqa: PLR0915 - the call's timeline, top to bottom
        """One logical call: attempts, waits, refreshes; returns the response or raises UpstreamError."""
        clock, policy = self.clock, self.policy
        call = self._start(request)
        state, deadline = call.state, call.deadline
        attempt = 0
        previous_delay: float | None = None
        refreshed = resend_after_refresh = False
        last: Outcome | None = None
        while True:
            attempt += 1
            now = clock.monotonic()
            # A resend after a token refresh is not a retry: the upstream is healthy, the token was not.
            gate = self._gate(call, attempt, now, last, retry=attempt > 1 and not resend_after_refresh)
            resend_after_refresh = False
            if gate is not None:
                return self._give_up(call, attempt - 1, gate)

            hold = state.limiter.reserve(now)
            if hold > 0:
                self.emit(Throttled(call.upstream, call.request_id, hold, state.limiter.describe(now), now))
                if not deadline.fits(hold, now, reserve=policy.min_attempt_time):
                    self._release(state, now)
                    message = f"client-side rate limit: next slot in {hold:.3g}s, past the deadline"
                    error = self._client_error(
                        call, ErrorKind.RATE_LIMITED, message, attempts=attempt - 1, last=last, retry_after=hold
                    )
                    return self._give_up(call, attempt - 1, GiveUp(error, "throttled"))
                yield Sleep(hold)
                now = clock.monotonic()

            if self.auth is not None:
                token = self.auth.current()
                if token is None or self.auth.expiring(token, clock.time()):
                    token = yield Refresh(token, "token expires within the skew" if token else "no token yet")
                    self._emit_refresh(call.upstream, token, now)
                self.auth.apply(request, token)

            timeout = deadline.attempt_timeout(policy.per_try_timeout, now)
            if timeout is not None and timeout <= 0:
                self._release(state, now)
                error = self._client_error(
                    call, ErrorKind.DEADLINE_EXCEEDED, "the deadline passed before the attempt",
                    attempts=attempt - 1, last=last,
                )  # fmt: skip
                return self._give_up(call, attempt - 1, GiveUp(error, "deadline"))
            self._prepare(call, attempt, timeout)

            if self.hooks:
                self.emit(AttemptStarted(call.upstream, call.request_id, call.method, attempt, timeout, now))
            try:
                result = yield Send(request)
            except GeneratorExit:  # the caller was cancelled mid-attempt: free a half-open probe slot
                self._release(state, clock.monotonic())
                raise
            done = clock.monotonic()
            outcome, response = self._read(result)
            self._record(call, attempt, outcome, now, done)
            if outcome.ok:
                assert response is not None  # noqa: S101 - only responses are successes
                return response
            last = outcome

            if outcome.kind is ErrorKind.AUTH_EXPIRED and self.auth is not None and not refreshed:
                refreshed = resend_after_refresh = True
                if response is not None:
                    yield Discard(response)
                token = yield Refresh(self.auth.current(), "the upstream said the token expired")
                self._emit_refresh(call.upstream, token, done)
                continue

            decision = policy.decide(
                outcome, attempt=attempt, method=call.method, deadline=deadline, now=done, rng=self.rng,
                idempotency_key=call.has_key, previous_delay=previous_delay, upstream=call.where,
            )  # fmt: skip
            if isinstance(decision, GiveUp):
                if response is not None and not self._hands_back(decision.error):
                    yield Discard(response)
                    response = None
                return self._give_up(call, attempt, decision, response)
            if response is not None:
                yield Discard(response)
            self.emit(RetryScheduled(call.upstream, call.request_id, attempt, decision.delay, decision.reason, done))
            previous_delay = decision.delay
            if decision.delay > 0:
                yield Sleep(decision.delay)

    def _hands_back(self, error: UpstreamError) -> bool:
        """Whether a failed response is returned to the caller instead of raising."""
        return not self.raise_on_failure or error.kind in PASS_THROUGH

    def _release(self, state: UpstreamState, now: float) -> None:
        if state.breaker is not None:
            state.breaker.release(now)

    def _emit_refresh(self, upstream: str, token: Token, now: float) -> None:
        self.emit(TokenRefreshed(upstream, "refreshed", fingerprint(token.value), token.expires_at, now))

    def _give_up(
        self, call: _Call, attempts: int, decision: GiveUp, response: httpx.Response | None = None
    ) -> httpx.Response:
        error = decision.error
        if error.request_id is None:
            error.request_id = call.request_id
        now = self.clock.monotonic()
        self.emit(GaveUp(call.upstream, call.request_id, attempts, error.kind, error.retry_after, decision.reason, now))
        if response is not None:
            return response  # run() passes a response only when it is to be handed back
        if self.fallback is not None:
            substitute = self.fallback(call.request, error)
            if substitute is not None:
                return substitute
        raise error


def _success(status: int) -> Outcome:
    return Outcome(
        ok=True, kind=None, retryable=False, request_sent=True, explanation=f"HTTP {status}: not a failure.",
        status=status, hop=Hop.UPSTREAM,
    )  # fmt: skip


_PLAIN_SUCCESS = _success(200)


def _is_read(response: httpx.Response) -> bool:
    try:
        _ = response.content
    except httpx.ResponseNotRead:
        return False
    return True
