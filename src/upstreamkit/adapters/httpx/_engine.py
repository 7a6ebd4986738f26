"""The logic of one resilient logical call, written once for sync and async.

:meth:`Engine.run` is a generator: it yields commands (:class:`Sleep`, :class:`Send`, :class:`Refresh`)
and receives their results, so the sync transport and the async transport are thin drivers that perform
the commands their own way (the mitmproxy "commands" pattern). All policy decisions come from the pure
core (retry policy, budget, breaker, limiter); the engine only sequences them and emits events.

Before every attempt the call passes a gate: the circuit breaker (every attempt) and the retry budget
(retries only). When one says "not now", a call that has deadline left waits for it (the breaker's next
probe, the budget's refill), with jitter so that the callers a recovery releases do not arrive as one herd;
a call whose deadline cannot reach that moment, or whose policy says ``fail_fast``, fails at once with the
time to retry attached. The waits cost the upstream nothing: only probes and permitted attempts reach it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from upstreamkit.adapters._gate import gate, is_health_failure, learn, wait_for_gate
from upstreamkit.adapters._options import EXTENSION, CallOptions
from upstreamkit.adapters.httpx._commands import (
    PLAIN_SUCCESS,
    Command,
    Discard,
    Fallback,
    Refresh,
    Send,
    Sleep,
    new_request_id,
    read_body,
    success,
    upstream_key,
)
from upstreamkit.adapters.httpx._fastheaders import add_header, ensure_header, header, lower_names, teaches_nothing
from upstreamkit.adapters.httpx.auth import Token, TokenAuth
from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import BreakerTransition, CircuitBreaker
from upstreamkit.core.budget import RetryBudget
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


# Failures handed back as the response itself rather than raised: the caller's own business.
PASS_THROUGH = frozenset({ErrorKind.HTTP_REQUEST_ERROR, ErrorKind.PAYLOAD_REJECTED, ErrorKind.AUTH_FORBIDDEN})
_TIMEOUT_PARTS = ("connect", "read", "write", "pool")


Quick = tuple[UpstreamState, float, Clock]
"""A first attempt prepared by :meth:`Engine.quick_start`: its upstream's state, its start time and the clock
it was read on (its end is read on the same one). A tuple, not a dataclass: on Python 3.11 making a class
instance costs ~2k instructions (the call goes through C), a tuple next to nothing, and one is made per request."""


@dataclass(slots=True)
class _Call:
    """What stays the same across the attempts of one logical call."""

    request: httpx.Request
    upstream: str
    state: UpstreamState
    method: str
    request_id: str
    deadline: Deadline
    policy: RetryPolicy
    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    fail_fast: bool
    caller_timeout: dict[str, float | None] | None
    caller_longest: float
    """The longest part of the caller's timeout (inf when a part is None): a limit at least this long leaves
    the caller's timeout as it is."""
    probe: bool = False
    """The current attempt is the breaker's probe (let through while it is half open)."""
    probes_failed: int = 0
    """Failed probes this call made: they do not count against its attempts (the breaker chose them)."""
    attempt_limit: float | None = None
    """The current attempt's time limit (policy and deadline), for the events."""
    token: Token | None = None
    """The token the last attempt carried: a refresh after its 401 replaces exactly that one."""
    error: BaseException | None = field(default=None)
    """The last exception an attempt raised: the cause of the UpstreamError the call may end with."""

    @property
    def where(self) -> str:
        """The URL for error messages: redacted, without query or fragment (computed only for failures)."""
        return redact_url(str(self.request.url.copy_with(query=None, fragment=None)))

    @property
    def has_key(self) -> bool:
        return header(self.request.headers, b"idempotency-key") is not None


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
        per_try, total = policy.per_try_timeout, policy.deadline
        self._first_limit = min(per_try, total) if per_try is not None and total is not None else per_try or total
        self.request_id_header = request_id_header
        self._request_id_lower = request_id_header.lower().encode("ascii")
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

    def _identify(self, request: httpx.Request) -> tuple[str, str, str]:
        """The call's upstream, method and request id (made and sent when the caller gave none), and an
        idempotency key when asked for. Idempotent: a second look finds what the first added."""
        headers = request.headers
        method = request.method  # httpx upper-cases it
        request_id = ensure_header(headers, self._request_id_lower, self.request_id_header, new_request_id)
        if (
            self.auto_idempotency_key and method in ("POST", "PATCH")
            and header(headers, b"idempotency-key") is None
        ):  # fmt: skip
            add_header(headers, "Idempotency-Key", new_request_id())
        return upstream_key(request.url), method, request_id

    def quick_start(self, request: httpx.Request) -> Quick | None:
        """Prepare a first attempt that nothing can hold back, the common case, in the fewest steps; None
        when the full engine is needed (auth, hooks, per-call options, an open breaker, a held limiter, a
        caller's timeout longer than the policy allows). The driver sends, then calls :meth:`quick_finish`."""
        extensions = request.extensions
        if self.auth is not None or self.hooks or EXTENSION in extensions:
            return None
        limit = self._first_limit
        if limit is not None:
            # `_longest(timeout) > limit` without the call (httpx's timeout is a dict of four numbers): when some
            # part of the caller's timeout is longer than the policy allows, _prepare caps it. A None part (max()
            # cannot compare it), an empty dict or no dict is inf to _longest. tests/adapters check they agree.
            timeout = extensions.get("timeout")
            if not isinstance(timeout, dict):
                return None
            try:
                if max(timeout.values()) > limit:
                    return None
            except (TypeError, ValueError):
                return None
        clock = self._clock if self._clock is not None else get_clock()  # self.clock, without the property call
        now = clock.monotonic()
        upstream, _, _ = self._identify(request)
        state = self.store.get(upstream, now)
        breaker, budget = state.breaker, state.budget
        if (breaker is not None and not breaker.is_closed) or not state.limiter.admit(now):
            return None
        if budget is not None:
            budget.record_request(now)
        return state, now, clock

    def quick_finish(self, quick: Quick, result: httpx.Response | BaseException) -> httpx.Response | None:
        """The response when the quick attempt is a plain success (recorded as such), else None: then the
        driver hands the result to :meth:`run` with ``resume``, which takes it as the first attempt."""
        if isinstance(result, BaseException) or not 200 <= result.status_code < 300:
            return None
        try:  # read_body(result), without the call
            body = result.content
        except httpx.ResponseNotRead:  # a streamed body: the caller reads it
            body = b""
        if not teaches_nothing(result.headers) or not is_plain_success(result.status_code, (), body):
            return None
        state, started, clock = quick
        done = clock.monotonic()
        if state.breaker is not None:
            state.breaker.record_success(done, done - started)
        if state.budget is not None:
            state.budget.record_success()
        result.elapsed = timedelta(0, done - started)  # see run(); (days, seconds): cheaper than keywords
        return result

    def _start(self, request: httpx.Request, now: float, *, deposit: bool = True) -> _Call:
        """Name the call, give it a request id (and an idempotency key when asked), start its deadline."""
        upstream, method, request_id = self._identify(request)
        extensions = request.extensions
        options = CallOptions.of(extensions) if EXTENSION in extensions else None
        policy = self.policy if options is None or options.policy is None else options.policy
        state = self.store.get(upstream, now)
        breaker, budget = state.breaker, state.budget
        fail_fast = policy.fail_fast
        if options is not None:
            breaker = breaker if options.breaker else None
            budget = budget if options.budget else None
            fail_fast = fail_fast if options.fail_fast is None else options.fail_fast
        timeout = extensions.get("timeout")
        caller = timeout if isinstance(timeout, dict) else None
        call = _Call(
            request=request, upstream=upstream, state=state, method=method, request_id=request_id,
            deadline=policy.start(now), policy=policy, breaker=breaker, budget=budget, fail_fast=fail_fast,
            caller_timeout=caller, caller_longest=_longest(caller),
        )  # fmt: skip
        if budget is not None and deposit:
            budget.record_request(now)
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

    def _read(self, result: httpx.Response | BaseException) -> tuple[Outcome, httpx.Response | None]:
        """Classify what an attempt brought back."""
        if isinstance(result, BaseException):
            return classify_exception(result), None
        headers = result.headers
        body = read_body(result)
        names = lower_names(headers)
        if is_plain_success(result.status_code, names, body):
            return PLAIN_SUCCESS if result.status_code == 200 else success(result.status_code), result
        # HTTP-dates and epoch resets are read against the server's own Date when it sends one: immune to
        # skew between the client's clock and the server's.
        reference = None if "date" in names else self.clock.time()
        return classify(result.status_code, headers, body, now=reference), result

    def _record(self, call: _Call, attempt: int, outcome: Outcome, started: float, done: float) -> None:
        """Teach the limiter, the breaker and the budget what the attempt showed; emit the attempt's event."""
        kind = outcome.kind
        if kind is None:
            learn(call.state.limiter, call.breaker, call.budget, outcome, started=started, done=done)
            if self.hooks:
                status = outcome.status or 0
                self.emit(
                    AttemptSucceeded(call.upstream, call.request_id, call.method, attempt, status, done - started,
                                     done)
                )  # fmt: skip
            return
        if self.hooks:
            self.emit(
                AttemptFailed(call.upstream, call.request_id, call.method, attempt, kind, outcome.status,
                              outcome.is_600, done - started, outcome.explanation, done)
            )  # fmt: skip
        learn(call.state.limiter, call.breaker, call.budget, outcome, started=started, done=done)

    def _prepare(self, call: _Call, attempt: int, limit: float | None) -> None:
        """This attempt's timeouts (the caller's httpx timeout, part by part, capped by the policy's and the
        deadline's ``limit``) and attempt number (sent on retries only: no header means the first attempt)."""
        request = call.request
        caller = call.caller_timeout
        if caller is None:
            timeout: dict[str, float | None] | None = None if limit is None else dict.fromkeys(_TIMEOUT_PARTS, limit)
        elif limit is None or limit >= call.caller_longest:
            timeout = caller  # the common case: the caller's timeout is the tighter one, part by part
        else:
            timeout = {part: limit if value is None or value > limit else value for part, value in caller.items()}
        extensions = request.extensions
        if timeout is not None and extensions.get("timeout") is not timeout:
            # httpx builds a fresh extensions dict for every request: setting the key in place is safe.
            extensions["timeout"] = timeout
        if self.attempt_header and attempt > 1:
            request.headers[self.attempt_header] = str(attempt)

    def run(
        self, request: httpx.Request, resume: tuple[Quick, httpx.Response | BaseException] | None = None
    ) -> Generator[Command, Any, httpx.Response]:
        """One logical call: attempts, waits, refreshes; returns the response or raises UpstreamError.

        ``resume``: the first attempt was made by :meth:`quick_start` and the driver; this is its result.

        The response's ``elapsed`` is the whole call's time, retries and waits included. httpx's Client sets it
        when its own read closes the response; a body the call read (every small one) is already there, so that
        read closes nothing and ``response.elapsed`` raised without this, as it does for a response made already
        read (``httpx.MockTransport``'s). A streamed body's is set again when it closes.
        """
        clock = self.clock
        started = clock.monotonic() if resume is None else resume[0][1]
        response = yield from self._run(request, started, resume)
        response.elapsed = timedelta(0, clock.monotonic() - started)
        return response

    def _run(  # noqa: PLR0915 - the call's timeline, top to bottom
        self, request: httpx.Request, started: float, resume: tuple[Quick, httpx.Response | BaseException] | None
    ) -> Generator[Command, Any, httpx.Response]:
        clock = self.clock
        call = self._start(request, started, deposit=resume is None)
        policy, deadline = call.policy, call.deadline
        attempt = 0
        previous_delay: float | None = None
        refreshed = resend_after_refresh = False
        last: Outcome | None = None
        while True:
            attempt += 1
            if resume is not None:  # the first attempt was made by the quick path: take its result
                now, result, resume = deadline.start, resume[1], None
            else:
                # A resend after a token refresh is not a retry: the upstream is healthy, the token was not.
                ready = yield from self._ready(call, attempt, retry=attempt > 1 and not resend_after_refresh, last=last)
                resend_after_refresh = False
                if isinstance(ready, httpx.Response):
                    return ready  # given up: a fallback's response (an error was raised otherwise)
                now = ready
                if self.hooks:
                    self.emit(AttemptStarted(call.upstream, call.request_id, call.method, attempt,
                                             call.attempt_limit, now))  # fmt: skip
                try:
                    result = yield Send(request)
                except GeneratorExit:  # the driver was cancelled mid-attempt: free a half-open probe slot
                    self._release(call, clock.monotonic(), now)
                    raise
            done = clock.monotonic()
            outcome, response = self._read(result)
            self._record(call, attempt, outcome, now, done)
            if outcome.ok:
                assert response is not None  # noqa: S101 - only responses are successes
                return response
            last = outcome
            if isinstance(result, BaseException):
                call.error = result
            if call.probe and is_health_failure(outcome):
                call.probes_failed += 1  # the breaker's attempt, not the caller's: it uses up none of them

            if outcome.kind is ErrorKind.AUTH_EXPIRED and self.auth is not None and not refreshed:
                refreshed = resend_after_refresh = True
                if response is not None:
                    yield Discard(response)
                token = yield Refresh(call.token, "the upstream said the token expired")
                self._emit_refresh(call.upstream, token, done)
                continue

            decision = policy.decide(
                outcome, attempt=max(attempt - call.probes_failed, 1), method=call.method, deadline=deadline,
                now=done, rng=self.rng,
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

    def _ready(
        self, call: _Call, attempt: int, *, retry: bool, last: Outcome | None
    ) -> Generator[Command, Any, float | httpx.Response]:
        """Everything before an attempt: the gate (breaker, budget), the limiter, the token, the timeouts.
        Returns the monotonic time the attempt starts, or the fallback's response when the call gave up."""
        clock, policy, deadline, state, request = self.clock, call.policy, call.deadline, call.state, call.request
        waited = False
        while True:  # the gate: go, wait for the breaker's probe within the deadline, or give up
            now = clock.monotonic()
            refusal = gate(call.breaker, call.budget, now, retry=retry, waited=waited, upstream=call.upstream)
            if refusal is None:
                call.probe = call.breaker is not None and call.breaker.probing(now)
                break
            wait = wait_for_gate(
                refusal, breaker=call.breaker, deadline=deadline, policy=policy, fail_fast=call.fail_fast, now=now,
                rng=self.rng,
            )  # fmt: skip
            if wait is None:
                error = self._client_error(
                    call, refusal.kind, refusal.why, attempts=attempt - 1, last=last,
                    retry_after=refusal.retry_after(last),
                )  # fmt: skip
                return self._give_up(call, attempt - 1, GiveUp(error, refusal.reason))
            self.emit(Throttled(call.upstream, call.request_id, wait, f"{refusal.why}: waiting for it", now))
            waited = True
            yield Sleep(wait)

        hold = state.limiter.reserve(now)
        if hold > 0:
            self.emit(Throttled(call.upstream, call.request_id, hold, state.limiter.describe(now), now))
            if not deadline.fits(hold, now, reserve=policy.min_attempt_time):
                self._release(call, now)
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
            call.token = token

        limit = deadline.attempt_timeout(policy.per_try_timeout, now)
        if limit is not None and limit <= 0:
            self._release(call, now)
            error = self._client_error(
                call, ErrorKind.DEADLINE_EXCEEDED, "the deadline passed before the attempt",
                attempts=attempt - 1, last=last,
            )  # fmt: skip
            return self._give_up(call, attempt - 1, GiveUp(error, "deadline"))
        self._prepare(call, attempt, limit)
        call.attempt_limit = limit
        return now

    def _hands_back(self, error: UpstreamError) -> bool:
        """Whether a failed response is returned to the caller instead of raising."""
        return not self.raise_on_failure or error.kind in PASS_THROUGH

    def _release(self, call: _Call, now: float, started: float | None = None) -> None:
        """Give back a half-open probe slot the call holds (one let through at ``started``, else at ``now``)."""
        if call.breaker is not None:
            call.breaker.release(now, now if started is None else started)

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
        raise error from call.error


def _longest(timeout: object) -> float:
    """The longest part of a caller's httpx timeout dict; inf when a part is None (no limit there) or there is
    no such dict."""
    if not isinstance(timeout, dict) or not timeout:
        return math.inf
    try:
        return float(max(timeout.values()))
    except TypeError:  # a None part: comparing it, or converting a lone one, fails
        return math.inf
