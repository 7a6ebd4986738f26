"""What ``@upstreamkit.retry``'s types promise: checked by mypy --strict from test_decorator.py, never run.

An assignment is a promise kept; a ``type: ignore[...]`` is a misuse that must stay an error (strict mypy
reports an unused ignore).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import upstreamkit
from upstreamkit import CallOptions, Retrying, RetryPolicy


@upstreamkit.retry
def rates(currency: str, *, fresh: bool = False) -> dict[str, float]:
    return {currency: 1.0 if fresh else 0.9}


@upstreamkit.retry(policy=RetryPolicy(attempts=5), on=(TimeoutError, ConnectionError))
async def charge(order: int) -> str:
    return str(order)


class Client:
    @upstreamkit.retry(on=lambda exc: isinstance(exc, TimeoutError))
    def fetch(self, path: str) -> bytes:
        return path.encode()


same: Callable[[str], dict[str, float]] = rates
retrying: Retrying[[str], dict[str, float]] = rates
keywords: dict[str, float] = rates("EUR", fresh=True)
override: Callable[[str], dict[str, float]] = rates.retry_with(fail_fast=True, budget=False)
options: Callable[[str], dict[str, float]] = rates.retry_with(CallOptions(breaker=False), policy=RetryPolicy())
awaited: Callable[[int], Awaitable[str]] = charge
async_override: Callable[[int], Coroutine[Any, Any, str]] = charge.retry_with(policy=RetryPolicy(attempts=1))
bound: Callable[[str], bytes] = Client().fetch
through_class: Callable[[Client, str], bytes] = Client.fetch.retry_with(fail_fast=True)

rates(1)  # type: ignore[arg-type]
rates.retry_with(fail_fast="yes")  # type: ignore[arg-type]
wrong_result: Callable[[str], int] = rates  # type: ignore[assignment]
unbound = Client().fetch.retry_with  # type: ignore[attr-defined]
upstreamkit.retry(on="TimeoutError")  # type: ignore[call-overload]
