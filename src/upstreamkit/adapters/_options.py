"""Per-call options: what one call may change of its transport's or decorator's configuration.

client.get(url, extensions={"upstreamkit": CallOptions(breaker=False)})   # httpx, per request
fetch_rates.retry_with(fail_fast=True)()                                 # the decorator, per call
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upstreamkit.core.retry import RetryPolicy

__all__ = ["EXTENSION", "CallOptions"]

EXTENSION = "upstreamkit"
"""The key of :class:`CallOptions` in an httpx request's ``extensions``."""


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Overrides for one logical call.

    Attributes:
        policy: this call's retry policy instead of the configured one.
        breaker: False: this call neither asks the circuit breaker nor teaches it (a health check that must
            reach the upstream, a call whose failure says nothing about it).
        budget: False: this call's retries are neither limited by the retry budget nor counted in it.
        fail_fast: True: meet an open circuit or an exhausted budget with an error at once instead of waiting
            within the deadline; False: wait; None: as the policy says.
    """

    policy: RetryPolicy | None = None
    breaker: bool = True
    budget: bool = True
    fail_fast: bool | None = None

    @classmethod
    def of(cls, extensions: dict[str, Any]) -> CallOptions | None:
        """The options an httpx request carries, if any; a wrong type is the caller's mistake, said plainly."""
        options = extensions.get(EXTENSION)
        if options is None or isinstance(options, CallOptions):
            return options
        raise TypeError(
            f'request.extensions["{EXTENSION}"] must be an upstreamkit.CallOptions, got {type(options).__name__}'
        )
