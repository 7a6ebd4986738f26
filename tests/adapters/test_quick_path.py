"""The transport's quick path (``Engine.quick_start`` / ``quick_finish``, the first attempt of a call nothing holds
back) agrees with the full engine (``Engine.run``) it shortcuts: same responses, same errors, same state taught to
the breaker, the budget and the limiter. Each shortcut inside it agrees with the general code it stands for."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from upstreamkit import ErrorKind, UpstreamError
from upstreamkit.adapters._options import EXTENSION, CallOptions
from upstreamkit.adapters.httpx import ResilientTransport
from upstreamkit.adapters.httpx._commands import new_request_id
from upstreamkit.adapters.httpx._engine import Engine, _longest
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.state.memory import UpstreamState
from upstreamkit.testing import FakeClock

URL = "https://api.example.com/v1/items"
ORIGIN = "https://api.example.com:443"


def _chunks() -> Iterator[bytes]:
    yield b'{"ok": true, '
    yield b'"streamed": true}'


# What the upstream answers, by name: each a fresh response per attempt (a response is read once).
ANSWERS: dict[str, Callable[[], httpx.Response]] = {
    "plain 200": lambda: httpx.Response(200, json={"ok": True}),
    "204": lambda: httpx.Response(204),
    "201 with a Location": lambda: httpx.Response(201, headers={"Location": "/v1/items/7"}, json={"id": 7}),
    "200 with harmless names holding an r": lambda: httpx.Response(
        200, headers={"Server": "x", "X-Request-Id": "abc", "Referrer-Policy": "no-referrer"}, json={}
    ),
    "200 with low RateLimit": lambda: httpx.Response(
        200, headers={"RateLimit-Limit": "100", "RateLimit-Remaining": "1", "RateLimit-Reset": "5"}, json={}
    ),
    "200 with X-RateLimit exhausted": lambda: httpx.Response(
        200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"}, json={}
    ),
    "200 with Retry-After": lambda: httpx.Response(200, headers={"Retry-After": "2"}, json={}),
    "200 carrying a 600 envelope": lambda: httpx.Response(200, json={"code": 600, "error": "upstream_error"}),
    "200 with Slack's ok false": lambda: httpx.Response(200, json={"ok": False, "error": "token_expired"}),
    "200 streamed (no Content-Length)": lambda: httpx.Response(200, content=_chunks()),
    "200 too large to read in the call": lambda: httpx.Response(200, content=b"x" * (300 * 1024)),
    "503": lambda: httpx.Response(503),
    "429 with Retry-After": lambda: httpx.Response(429, headers={"Retry-After": "1"}),
    "404": lambda: httpx.Response(404, json={"error": "not found"}),
}


def _state(state: UpstreamState, now: float) -> dict[str, Any]:
    """Everything a call teaches an upstream's state, read whole (tests may look inside)."""
    breaker, budget, limiter = state.breaker, state.budget, state.limiter
    assert breaker is not None
    assert budget is not None
    return {
        "breaker": (
            breaker.state(now),
            breaker._consecutive,
            breaker._head,
            breaker._stamps,
            breaker._calls,
            breaker._failures,
            breaker._slow,
        ),
        "budget": (budget._head, budget._deposits, budget._withdrawals, budget._tokens),
        "limiter": (limiter.describe(now), limiter.admit(now)),
    }


def _drive(answer: str, *, full: bool, calls: int = 3) -> tuple[list[object], dict[str, Any], int]:
    """``calls`` calls against an upstream that always gives ``answer``: what the caller got (status and body,
    or the error's kind), the upstream's state after, and how many calls the full engine ran."""
    clock = FakeClock(start=100.0)
    transport = ResilientTransport(httpx.MockTransport(lambda _: ANSWERS[answer]()), clock=clock, rng=random.Random(7))
    engine = transport.engine
    ran = 0
    run = engine.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal ran
        ran += 1
        return run(*args, **kwargs)

    engine.run = counted  # type: ignore[method-assign]
    seen: list[object] = []
    # CallOptions() changes nothing but is a per-call option: the quick path leaves such a call to the engine.
    extensions = {EXTENSION: CallOptions()} if full else {}
    with httpx.Client(transport=transport) as client:
        for _ in range(calls):
            try:
                response = client.get(URL, extensions=extensions)
            except UpstreamError as error:
                seen.append(error.kind)
            else:
                seen.append((response.status_code, response.content))
            clock.advance(0.25)
    return seen, _state(transport.store.get(ORIGIN, clock.monotonic()), clock.monotonic()), ran


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_the_quick_path_and_the_full_engine_agree(answer: str) -> None:
    quick_seen, quick_state, quick_ran = _drive(answer, full=False)
    full_seen, full_state, full_ran = _drive(answer, full=True)
    assert quick_seen == full_seen
    assert quick_state == full_state
    assert full_ran == 3  # every call of the twin went through the full engine
    if answer in {"plain 200", "204", "201 with a Location", "200 with harmless names holding an r"}:
        assert quick_ran == 0  # ... and these never left the quick path, so the comparison compared it


def test_the_quick_path_really_handles_a_plain_success() -> None:
    # Guards the test above: were the quick path never taken, it would compare the engine with itself.
    _, _, ran = _drive("200 streamed (no Content-Length)", full=False)
    assert ran == 0
    seen, _, ran = _drive("503", full=False)
    assert ran == 3  # a failure goes on to the engine, which takes the quick attempt as its first
    assert all(isinstance(kind, ErrorKind) for kind in seen)


TIMEOUTS: list[object] = [
    {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0},  # httpx's default
    {"connect": 5.0, "read": 10.0, "write": 5.0, "pool": 5.0},  # the policy's per-try limit exactly
    {"connect": 5.0, "read": 10.5, "write": 5.0, "pool": 5.0},  # one part longer
    {"connect": 1, "read": 2, "write": 3, "pool": 4},  # ints
    {"connect": 5.0, "read": None, "write": 5.0, "pool": 5.0},  # no read limit: inf
    {"read": None},  # a lone None part
    {"read": 3.0},
    {},  # empty: inf
    None,  # no timeout extension
    "5 seconds",  # not a dict: inf
]


@pytest.mark.parametrize("timeout", TIMEOUTS, ids=repr)
@pytest.mark.parametrize(
    "policy", [RetryPolicy(), RetryPolicy(per_try_timeout=None, deadline=None)], ids=["default", "none"]
)
def test_the_quick_timeout_test_is_longest_above_the_limit(timeout: object, policy: RetryPolicy) -> None:
    # quick_start inlines `_longest(timeout) > limit`: it must decline exactly the calls whose timeout needs capping.
    engine: Engine = ResilientTransport(httpx.MockTransport(lambda _: httpx.Response(200)), policy=policy).engine
    extensions = {} if timeout is None else {"timeout": timeout}
    request = httpx.Request("GET", URL, extensions=extensions)
    limit = engine._first_limit
    declines = limit is not None and _longest(extensions.get("timeout")) > limit
    assert (engine.quick_start(request) is None) is declines


def test_request_ids_are_32_distinct_lower_case_hex_digits() -> None:
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids)
    assert len({i[:16] for i in ids}) == 1  # one process, one random prefix: the counter never carries into it
