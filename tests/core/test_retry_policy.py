"""The retry policy as a value: scripted decisions with explicit times, no clock, no sleep."""

from __future__ import annotations

import math
import random

import pytest

from upstreamkit import Backoff, ErrorKind, classify
from upstreamkit.core.retry import Deadline, GiveUp, Retry, RetryPolicy

RNG = random.Random(0)
NO_JITTER = Backoff(base=1.0, multiplier=2.0, cap=8.0, jitter="none")


def outage() -> object:
    return classify(503, {}, "")


def decide(policy: RetryPolicy, status: int, headers: dict[str, str] | None = None, **kwargs: object) -> object:
    options: dict[str, object] = {"attempt": 1, "method": "GET", "deadline": policy.start(0.0), "now": 0.0, "rng": RNG}
    options.update(kwargs)
    return policy.decide(classify(status, headers or {}, "", now=0.0), **options)  # type: ignore[arg-type]


def test_backoff_schedule_until_the_attempt_cap() -> None:
    policy = RetryPolicy(attempts=4, backoff=NO_JITTER, deadline=None)
    delays = [decide(policy, 503, attempt=n) for n in (1, 2, 3)]
    assert [d.delay for d in delays if isinstance(d, Retry)] == [1.0, 2.0, 4.0]
    final = decide(policy, 503, attempt=4)
    assert isinstance(final, GiveUp)
    assert final.error.kind is ErrorKind.UPSTREAM_OUTAGE
    assert final.error.attempts == 4
    assert "after 4 attempts" in final.reason


@pytest.mark.parametrize("status", [400, 401, 404, 413, 422])
def test_non_retryable_outcomes_give_up_at_once(status: int) -> None:
    result = decide(RetryPolicy(), status)
    assert isinstance(result, GiveUp)
    assert "not retryable" in result.reason


def test_retry_after_is_honoured_never_early() -> None:
    policy = RetryPolicy(backoff=NO_JITTER)
    result = decide(policy, 429, {"Retry-After": "7"})
    assert isinstance(result, Retry)
    assert result.delay == 7.0  # more than the 1 s backoff
    small = decide(policy, 429, {"Retry-After": "0.5"}, attempt=2)
    assert isinstance(small, Retry)
    assert small.delay == 2.0  # the backoff is longer than the upstream asked: never shorter than asked


def test_retry_after_past_the_cap_fails_at_once_with_the_time_attached() -> None:
    result = decide(RetryPolicy(max_retry_after=60), 429, {"Retry-After": "3600"})
    assert isinstance(result, GiveUp)
    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retry_after == 3600.0
    assert "max_retry_after" in result.reason


def test_retry_after_past_the_deadline_fails_at_once() -> None:
    policy = RetryPolicy(deadline=10)
    result = decide(policy, 503, {"Retry-After": "30"}, now=2.0)
    assert isinstance(result, GiveUp)
    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retry_after == 30.0
    assert "past the deadline" in result.reason


def test_a_wait_that_cannot_fit_before_the_deadline_is_not_taken() -> None:
    policy = RetryPolicy(attempts=10, backoff=NO_JITTER, deadline=5.0)
    assert isinstance(decide(policy, 502, attempt=2, now=2.0), Retry)  # 2 s wait, ends at 4 < 5
    late = decide(policy, 502, attempt=3, now=2.0)  # 4 s wait would end at 6 > 5
    assert isinstance(late, GiveUp)
    assert late.error.kind is ErrorKind.UPSTREAM_OUTAGE
    assert "does not fit" in late.reason


def test_an_expired_deadline_is_deadline_exceeded() -> None:
    result = decide(RetryPolicy(deadline=5.0), 502, now=5.0)
    assert isinstance(result, GiveUp)
    assert result.error.kind is ErrorKind.DEADLINE_EXCEEDED


@pytest.mark.parametrize(
    ("method", "key", "sent", "retried"),
    [
        ("GET", False, True, True),
        ("PUT", False, True, True),
        ("DELETE", False, True, True),
        ("POST", False, True, False),
        ("PATCH", False, True, False),
        ("POST", True, True, True),
        ("POST", False, False, True),  # provably never left
    ],
)
def test_idempotency_rules(method: str, key: bool, sent: bool, retried: bool) -> None:
    policy = RetryPolicy()
    assert policy.may_resend(method, idempotency_key=key, request_sent=sent) is retried


def test_a_sent_post_without_a_key_is_not_resent() -> None:
    result = decide(RetryPolicy(), 502, method="POST")
    assert isinstance(result, GiveUp)
    assert "Idempotency-Key" in result.reason
    assert isinstance(decide(RetryPolicy(), 502, method="POST", idempotency_key=True), Retry)


def test_decide_refuses_a_success() -> None:
    with pytest.raises(ValueError, match="success"):
        RetryPolicy().decide(classify(200, {}, ""), attempt=1, method="GET", deadline=Deadline(0, 1), now=0, rng=RNG)


def test_deadline_attempt_timeouts() -> None:
    deadline = Deadline(start=100.0, total=30.0)
    assert deadline.attempt_timeout(10.0, 100.0) == 10.0
    assert deadline.attempt_timeout(10.0, 125.0) == 5.0
    assert deadline.attempt_timeout(None, 125.0) == 5.0
    assert deadline.attempt_timeout(10.0, 140.0) == 0.0
    assert Deadline(0.0, None).attempt_timeout(None, 5.0) is None
    assert Deadline(0.0, None).remaining(1e9) == math.inf


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"per_try_timeout": -1.0}, {"deadline": math.inf}, {"max_retry_after": -1.0}]
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message names its own field
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
