"""Per-route policies in the request path: the client's retry policy, retry budget, circuit breaker, rate limiter
and deadline, sequenced on the gateway's event loop.

The policies are the client's own values and functions (:mod:`upstreamkit.core.retry`, the breaker, the budget,
the limiter, and the gate of :mod:`upstreamkit.adapters._gate` that the httpx engine and the decorator share);
this module only does what the engine's drivers do: ask them, and wait on the loop. One logical request:

1. the gate: the breaker (every attempt) and the budget (retries only). An open breaker is waited for (its next
   probe, jittered) when the request's deadline reaches it, else the request is answered at once with
   ``circuit_open`` and the probe's wait as ``retry_after``; a spent budget is final (``budget_exhausted``);
2. the limiter: a slot within the deadline is waited for, else ``rate_limited`` with the slot's time (an
   upstream's 429 Retry-After blocks the limiter, so every caller honours it, not only the one that got it);
3. the attempt, its timeout ``min(per_try, remaining)``; what it showed is taught to the limiter, breaker and
   budget (:func:`~upstreamkit.adapters._gate.learn`);
4. :meth:`RetryPolicy.decide <upstreamkit.core.retry.RetryPolicy.decide>`: retry after a delay (idempotent
   methods; POST and PATCH only with an ``Idempotency-Key`` or when the request never left), or give up.

Every step is an event of :mod:`upstreamkit.core.events` handed to one observer (the gateway's metrics), so
the gateway's Prometheus series are the client's, counted by the same hook.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from upstreamkit.adapters._gate import gate, is_health_failure, learn, wait_for_gate
from upstreamkit.clock import Clock
from upstreamkit.core.backoff import RandomSource
from upstreamkit.core.breaker import BreakerConfig, BreakerTransition, CircuitBreaker
from upstreamkit.core.budget import BudgetConfig
from upstreamkit.core.classify import classify_exception
from upstreamkit.core.events import (
    AttemptFailed,
    AttemptSucceeded,
    BreakerStateChanged,
    Event,
    GaveUp,
    RetryScheduled,
    Throttled,
)
from upstreamkit.core.outcome import Outcome
from upstreamkit.core.ratelimit import RateLimiter
from upstreamkit.core.retry import Deadline, GiveUp, RetryPolicy
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.assess import assess_response
from upstreamkit.gateway.connection import UpstreamResponse
from upstreamkit.gateway.state import aclose as close_stores
from upstreamkit.gateway.state import discard, make_store
from upstreamkit.state.memory import MemoryStateStore, UpstreamState

__all__ = ["Failure", "Policies", "Result", "RoutePolicy", "assess_response"]


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """What protects one route's upstream; the defaults are the client's (3 attempts, 10 s per try, 30 s
    deadline, the default breaker and budget, no rate of its own: the limiter learns the upstream's)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerConfig | None = field(default_factory=BreakerConfig)
    """None: no circuit breaker."""
    budget: BudgetConfig | None = field(default_factory=BudgetConfig)
    """None: no retry budget."""
    rate: float | None = None
    """Requests per second this gateway sends the upstream at most (None: only what the upstream teaches)."""
    burst: int = 1


@dataclass(frozen=True, slots=True)
class Failure:
    """How a logical request failed: the envelope's kind, its wait, and the last attempt's outcome."""

    kind: ErrorKind
    retry_after: float | None
    last: Outcome | None
    """The last failed attempt (None when no attempt was made)."""
    reason: str
    """The gateway's own decision when it refused (circuit open, budget, limiter, deadline), else empty."""


@dataclass(slots=True)
class Result:
    """A logical request's end: the response to pass through, or the failure to answer with."""

    response: UpstreamResponse | None = None
    """The last attempt's upstream response (passed through when ``failure`` is None)."""
    failure: Failure | None = None
    breaker: str | None = None
    """The upstream's breaker state when the request ended (None without a breaker)."""


Send = Callable[[float | None], Awaitable[UpstreamResponse]]
"""Make one attempt within the time limit (None: no limit of the policy's); returns the upstream's response."""
Assess = Callable[[UpstreamResponse], tuple[Outcome, bool]]
"""What a response shows (taught to the policies), and whether it is a failure for the caller (else passed on)."""


class Policies:
    """The policies and live per-upstream state of every route; :meth:`call` runs one logical request."""

    def __init__(
        self,
        policies: Iterable[RoutePolicy],
        *,
        clock: Clock,
        rng: RandomSource | None = None,
        observe: Callable[[Event], None] | None = None,
        on_success: Callable[[str, str, float, float], None] | None = None,
        previous: Policies | None = None,
        keep: Iterable[str] = (),
        state: str | None = None,
    ) -> None:
        """One state store per distinct breaker, budget and rate (state per upstream name); ``observe`` hears every
        event, except the quick path's successful attempts when ``on_success(upstream, method, duration, at)`` is
        given (the same facts without making an event: the one thing nearly every request does). ``state``: None
        keeps the state in this process; a ``redis://`` URL shares it (:mod:`upstreamkit.gateway.state`).

        ``previous`` and ``keep`` (a reload): the live state of the upstreams named in ``keep`` is carried over
        from ``previous`` where their breaker, budget and rate are configured the same (breaker state, budget
        and what the limiter learned survive); every other upstream starts afresh."""
        self.clock = clock
        self.rng: RandomSource = rng if rng is not None else random.Random()
        self._observe = observe
        self._on_success = on_success
        self.state_url = state
        self._stores: dict[tuple[object, ...], MemoryStateStore] = {}
        self._entries: dict[int, tuple[RoutePolicy, MemoryStateStore, float | None]] = {}
        kept = set(keep)
        self._single_attempt: dict[int, tuple[RoutePolicy, RoutePolicy]] = {}
        for policy in policies:
            key = _state_key(policy)
            if key in self._stores:
                continue
            old = previous._stores.get(key) if previous is not None else None
            if old is not None:
                # Reused whole (its breakers announce through the store's callback, re-pointed here); the upstreams
                # that changed or went away are forgotten, so they start afresh.
                old.on_transition = self._transition
                for name in old.upstreams():
                    if name not in kept:
                        old.forget(name)
                self._stores[key] = old
            else:
                self._stores[key] = make_store(
                    state, breaker=policy.breaker, budget=policy.budget, rate=policy.rate, burst=policy.burst,
                    on_transition=self._transition, clock=clock,
                )  # fmt: skip
        if previous is not None:  # a reload: the stores no policy uses any more stop sharing
            discard([store for store in previous.stores() if store not in self._stores.values()])

    def stores(self) -> list[MemoryStateStore]:
        """The state stores, one per distinct breaker, budget and rate."""
        return list(self._stores.values())

    async def aclose(self) -> None:
        """Stop sharing (the Redis stores' synchronisation); the local state stays as it is."""
        await close_stores(self._stores.values())

    def _transition(self, transition: BreakerTransition) -> None:
        if self._observe is not None:
            new, old = transition.new, transition.old
            self._observe(BreakerStateChanged(transition.name, old, new, transition.reason, transition.at))

    def state(self, policy: RoutePolicy, upstream: str) -> UpstreamState:
        """The live state (breaker, budget, limiter) of ``upstream`` under ``policy``."""
        return self._entry(policy)[1].get(upstream, self.clock.monotonic())

    def breakers(self) -> dict[str, str | None]:
        """Each upstream's breaker state now (None without a breaker); the worst when policies differ."""
        now = self.clock.monotonic()
        order = {None: -1, "closed": 0, "half_open": 1, "open": 2}
        states: dict[str, str | None] = {}
        for store in self._stores.values():
            for name in store.upstreams():
                breaker = store.get(name, now).breaker
                value = breaker.state(now).value if breaker is not None else None
                if name not in states or order[value] > order[states[name]]:
                    states[name] = value
        return states

    def _entry(self, policy: RoutePolicy) -> tuple[RoutePolicy, MemoryStateStore, float | None]:
        # Keyed by identity: hashing a policy (nested dataclasses) on every request costs microseconds. The entry
        # holds the policy, so its id cannot be reused by another object while the entry exists.
        entry = self._entries.get(id(policy))
        if entry is None:
            store = self._stores.get(_state_key(policy))
            if store is None:
                raise KeyError("a policy the gateway was not configured with")
            entry = self._entries[id(policy)] = (
                policy,
                store,
                policy.retry.start(0.0).attempt_timeout(policy.retry.per_try_timeout, 0.0),
            )
        return entry

    async def call(
        self, policy: RoutePolicy, upstream: str, method: str, request_id: str, *,
        idempotency_key: Callable[[], bool],
        send: Send, assess: Assess, bypass: frozenset[str] | None = None,
    ) -> Result:  # fmt: skip
        """One logical request: attempts, waits and refusals, as the module docstring says.

        ``idempotency_key()`` says whether the request carries an ``Idempotency-Key``; asked only when a failed
        attempt is weighed for a retry (most requests never need the answer).

        The first attempt of a request that nothing holds back (breaker closed, limiter idle), the common case,
        goes in the fewest steps (the engine's quick path); anything else it shows goes on in :meth:`_call`.

        ``bypass`` names middleware switched off for this request (:mod:`.bypass`): ``retry`` (one attempt),
        ``breaker``, ``budget``, ``rate_limit`` (neither asked nor taught; their state is kept for the restore).
        """
        clock = self.clock
        _, store, first_limit = self._entry(policy)
        start = clock.monotonic()
        state = store.get(upstream, start)
        if bypass:
            policy, state = self._bypassed(policy, state, bypass)
            return await self._call(policy, state, upstream, method, request_id, idempotency_key, send, assess)
        breaker, budget, limiter = state.breaker, state.budget, state.limiter
        if (breaker is not None and not breaker.is_closed) or not limiter.admit(start):
            return await self._call(policy, state, upstream, method, request_id, idempotency_key, send, assess)
        if budget is not None:
            budget.record_request(start)
        try:
            response: UpstreamResponse | None = await send(first_limit)
        except Exception as exc:  # noqa: BLE001 - every failure is classified
            response, outcome, failed = None, classify_exception(exc), True
        else:
            outcome, failed = assess(response)  # type: ignore[arg-type]  # set just above
            if outcome.kind is None:
                done = clock.monotonic()
                learn(limiter, breaker, budget, outcome, started=start, done=done)
                if self._on_success is not None:
                    self._on_success(upstream, method, done - start, done)
                elif self._observe is not None:
                    self._observe(
                        AttemptSucceeded(upstream, request_id, method, 1, outcome.status or 0, done - start, done)
                    )
                return Result(response, None, None if breaker is None else "closed")
        first = (start, response, outcome, failed)
        return await self._call(policy, state, upstream, method, request_id, idempotency_key, send, assess, first=first)

    def _bypassed(
        self, policy: RoutePolicy, state: UpstreamState, bypass: frozenset[str]
    ) -> tuple[RoutePolicy, UpstreamState]:
        """The policy and a view of the upstream's state without the bypassed middleware."""
        if "retry" in bypass:
            key = id(policy)
            single = self._single_attempt.get(key)
            if single is None or single[0] is not policy:
                single = self._single_attempt[key] = (policy, replace(policy, retry=replace(policy.retry, attempts=1)))
            policy = single[1]
        view = UpstreamState(
            breaker=None if "breaker" in bypass else state.breaker,
            budget=None if "budget" in bypass else state.budget,
            # A limiter of this request's own: it holds only what this request's attempts teach it.
            limiter=RateLimiter() if "rate_limit" in bypass else state.limiter,
        )
        return policy, view

    async def _call(  # noqa: PLR0915, PLR0917 - the timeline top to bottom; call()'s arguments, passed on
        self, policy: RoutePolicy, state: UpstreamState, upstream: str, method: str, request_id: str,
        idempotency_key: Callable[[], bool], send: Send, assess: Assess, *,
        first: tuple[float, UpstreamResponse | None, Outcome, bool] | None = None,
    ) -> Result:  # fmt: skip
        """The request's timeline, top to bottom, as the engine's; ``first``: the quick path's attempt."""
        clock, rng, observe, retry = self.clock, self.rng, self._observe, policy.retry
        breaker, budget, limiter = state.breaker, state.budget, state.limiter
        if first is None:
            start = clock.monotonic()
            if budget is not None:
                budget.record_request(start)
        else:
            start = first[0]
        deadline = retry.start(start)
        result = Result()
        attempt = probes_failed = 0
        previous_delay: float | None = None
        last: Outcome | None = None
        while True:
            attempt += 1
            if first is not None:
                now, response, outcome, failed = first
                first, probe = None, False
            else:
                ready = await self._ready(
                    policy, state, upstream=upstream, request_id=request_id, attempt=attempt, deadline=deadline,
                    last=last,
                )  # fmt: skip
                if isinstance(ready, Failure):
                    if observe is not None:
                        kind, wait = ready.kind, ready.retry_after
                        observe(GaveUp(upstream, request_id, attempt - 1, kind, wait, ready.reason, clock.monotonic()))
                    result.failure = ready
                    return self._end(result, breaker)
                now, limit = ready
                probe = breaker is not None and breaker.probing(now)
                try:
                    response = await send(limit)
                except asyncio.CancelledError:  # the gateway is stopping: free a half-open probe slot
                    if breaker is not None:
                        breaker.release(clock.monotonic(), now)
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is classified
                    response, outcome, failed = None, classify_exception(exc), True
                else:
                    outcome, failed = assess(response)
            done = clock.monotonic()
            if observe is not None:
                observe(
                    self._attempt_event(
                        upstream=upstream, request_id=request_id, method=method, attempt=attempt, outcome=outcome,
                        started=now, done=done,
                    )
                )  # fmt: skip
            learn(limiter, breaker, budget, outcome, started=now, done=done)
            result.response = response
            if not failed:
                return self._end(result, breaker)
            last = outcome
            if probe and is_health_failure(outcome):
                probes_failed += 1  # the breaker's attempt, not the caller's: it uses up none of them
            decision = retry.decide(
                outcome, attempt=max(attempt - probes_failed, 1), method=method, deadline=deadline, now=done,
                rng=rng, idempotency_key=idempotency_key(), previous_delay=previous_delay, upstream=upstream,
            )  # fmt: skip
            if isinstance(decision, GiveUp):
                error = decision.error
                if observe is not None:
                    observe(GaveUp(upstream, request_id, attempt, error.kind, error.retry_after, decision.reason, done))
                reason = decision.reason if error.kind is not outcome.kind else ""
                result.failure = Failure(error.kind, error.retry_after, outcome, reason)
                return self._end(result, breaker)
            if observe is not None:
                observe(RetryScheduled(upstream, request_id, attempt, decision.delay, decision.reason, done))
            previous_delay = decision.delay
            await clock.asleep(decision.delay)

    async def _ready(
        self, policy: RoutePolicy, state: UpstreamState, *, upstream: str, request_id: str, attempt: int,
        deadline: Deadline, last: Outcome | None,
    ) -> tuple[float, float | None] | Failure:  # fmt: skip
        """Before an attempt: the gate (breaker, budget), then the limiter. The attempt's start and time limit
        (``min(per_try, remaining)``), or the refusal; ``last`` is the last failed attempt."""
        clock, observe, retry = self.clock, self._observe, policy.retry
        breaker, budget, limiter = state.breaker, state.budget, state.limiter
        waited = False
        while True:  # the gate: go, wait for the breaker's probe within the deadline, or give up
            now = clock.monotonic()
            refusal = gate(breaker, budget, now, retry=attempt > 1, waited=waited, upstream=upstream)
            if refusal is None:
                break
            wait = wait_for_gate(
                refusal, breaker=breaker, deadline=deadline, policy=retry, fail_fast=retry.fail_fast, now=now,
                rng=self.rng,
            )  # fmt: skip
            if wait is None:
                return Failure(refusal.kind, refusal.retry_after(last), last, refusal.why)
            if observe is not None:
                observe(Throttled(upstream, request_id, wait, f"{refusal.why}: waiting for it", now))
            waited = True
            await clock.asleep(wait)
        hold = limiter.reserve(now)
        if hold > 0:
            if observe is not None:
                observe(Throttled(upstream, request_id, hold, limiter.describe(now), now))
            if not deadline.fits(hold, now, reserve=retry.min_attempt_time):
                if breaker is not None:
                    breaker.release(now)
                return Failure(ErrorKind.RATE_LIMITED, hold, last, f"rate limit: next slot in {hold:.3g}s")
            await clock.asleep(hold)
            now = clock.monotonic()
        limit = deadline.attempt_timeout(retry.per_try_timeout, now)
        if limit is not None and limit <= 0:
            if breaker is not None:
                breaker.release(now)
            return Failure(ErrorKind.DEADLINE_EXCEEDED, None, last, "the deadline passed before the attempt")
        return now, limit

    def _end(self, result: Result, breaker: CircuitBreaker | None) -> Result:
        if breaker is not None:
            result.breaker = breaker.state(self.clock.monotonic()).value
        return result

    @staticmethod
    def _attempt_event(
        *, upstream: str, request_id: str, method: str, attempt: int, outcome: Outcome, started: float, done: float
    ) -> Event:
        if outcome.kind is None:
            return AttemptSucceeded(upstream, request_id, method, attempt, outcome.status or 0, done - started, done)
        return AttemptFailed(
            upstream, request_id, method, attempt, outcome.kind, outcome.status, outcome.is_600, done - started,
            outcome.explanation, done,
        )  # fmt: skip


def _state_key(policy: RoutePolicy) -> tuple[object, ...]:
    """What an upstream's live state is made from: routes differing only in how they retry share it."""
    return (policy.breaker, policy.budget, policy.rate, policy.burst)
