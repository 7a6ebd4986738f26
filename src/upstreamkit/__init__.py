"""upstreamkit: find, survive, see and escalate upstream API failures (a gateway's "error 600").

The public API is what ``__all__`` lists; ``tests/test_public_api.py`` guards it. Test support lives in
:mod:`upstreamkit.testing`, the simulator in :mod:`upstreamkit.simulator`.
"""

from typing import TYPE_CHECKING

from upstreamkit._lazy import lazy_exports
from upstreamkit._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time each name loads on first use (below)
    from upstreamkit.adapters._options import CallOptions
    from upstreamkit.adapters.decorator import Retrying, retry
    from upstreamkit.adapters.httpx import AsyncResilientTransport, ResilientTransport, Token, TokenAuth
    from upstreamkit.clock import Clock, SystemClock, get_clock, set_clock
    from upstreamkit.core.backoff import Backoff
    from upstreamkit.core.breaker import BreakerConfig, BreakerState, CircuitBreaker
    from upstreamkit.core.budget import BudgetConfig, RetryBudget
    from upstreamkit.core.classify import Outcome, classify, classify_exception
    from upstreamkit.core.headers import (
        RateLimit,
        bearer_error,
        find_request_id,
        format_proxy_status,
        parse_proxy_status,
        parse_rate_limit,
        parse_retry_after,
        parse_www_authenticate,
    )
    from upstreamkit.core.ratelimit import RateLimiter
    from upstreamkit.core.redact import (
        fingerprint,
        redact_body,
        redact_headers,
        redact_json,
        redact_text,
        redact_url,
    )
    from upstreamkit.core.retry import RetryPolicy
    from upstreamkit.errors import (
        AuthError,
        BudgetExhaustedError,
        CircuitOpenError,
        ConnectError,
        DeadlineExceededError,
        DNSError,
        ErrorKind,
        GatewayError,
        Hop,
        PayloadRejectedError,
        PolicyError,
        ProtocolError,
        RateLimitedError,
        RequestRejectedError,
        ResponseError,
        ResponseTimeoutError,
        TLSError,
        TransportError,
        UpstreamError,
        UpstreamUnavailableError,
        make_error,
    )

# Every public name loads on first use, so that `import upstreamkit` (and every command, and `analyze`, which
# needs none of the client) does not pay for the whole client: the HTTP library, the retry machinery, the
# header and redaction grammars. `from upstreamkit import X` works as before (it calls __getattr__).
_MODULES: dict[str, tuple[str, ...]] = {
    "upstreamkit.adapters._options": ("CallOptions",),
    "upstreamkit.adapters.decorator": ("Retrying", "retry"),
    "upstreamkit.adapters.httpx": ("AsyncResilientTransport", "ResilientTransport", "Token", "TokenAuth"),
    "upstreamkit.clock": ("Clock", "SystemClock", "get_clock", "set_clock"),
    "upstreamkit.core.backoff": ("Backoff",),
    "upstreamkit.core.breaker": ("BreakerConfig", "BreakerState", "CircuitBreaker"),
    "upstreamkit.core.budget": ("BudgetConfig", "RetryBudget"),
    "upstreamkit.core.classify": ("Outcome", "classify", "classify_exception"),
    "upstreamkit.core.headers": (
        "RateLimit", "bearer_error", "find_request_id", "format_proxy_status", "parse_proxy_status",
        "parse_rate_limit", "parse_retry_after", "parse_www_authenticate",
    ),
    "upstreamkit.core.ratelimit": ("RateLimiter",),
    "upstreamkit.core.redact": (
        "fingerprint", "redact_body", "redact_headers", "redact_json", "redact_text", "redact_url",
    ),
    "upstreamkit.core.retry": ("RetryPolicy",),
    "upstreamkit.errors": (
        "AuthError", "BudgetExhaustedError", "CircuitOpenError", "ConnectError", "DeadlineExceededError",
        "DNSError", "ErrorKind", "GatewayError", "Hop", "PayloadRejectedError", "PolicyError", "ProtocolError",
        "RateLimitedError", "RequestRejectedError", "ResponseError", "ResponseTimeoutError", "TLSError",
        "TransportError", "UpstreamError", "UpstreamUnavailableError", "make_error",
    ),
}  # fmt: skip
if not TYPE_CHECKING:  # type checkers read the imports above, and so flag a misspelt name
    __getattr__, __dir__ = lazy_exports(globals(), _MODULES)

__all__ = [
    "AsyncResilientTransport",
    "AuthError",
    "Backoff",
    "BreakerConfig",
    "BreakerState",
    "BudgetConfig",
    "BudgetExhaustedError",
    "CallOptions",
    "CircuitBreaker",
    "CircuitOpenError",
    "Clock",
    "ConnectError",
    "DNSError",
    "DeadlineExceededError",
    "ErrorKind",
    "GatewayError",
    "Hop",
    "Outcome",
    "PayloadRejectedError",
    "PolicyError",
    "ProtocolError",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RequestRejectedError",
    "ResilientTransport",
    "ResponseError",
    "ResponseTimeoutError",
    "RetryBudget",
    "RetryPolicy",
    "Retrying",
    "SystemClock",
    "TLSError",
    "Token",
    "TokenAuth",
    "TransportError",
    "UpstreamError",
    "UpstreamUnavailableError",
    "__version__",
    "bearer_error",
    "classify",
    "classify_exception",
    "find_request_id",
    "fingerprint",
    "format_proxy_status",
    "get_clock",
    "make_error",
    "parse_proxy_status",
    "parse_rate_limit",
    "parse_retry_after",
    "parse_www_authenticate",
    "redact_body",
    "redact_headers",
    "redact_json",
    "redact_text",
    "redact_url",
    "retry",
    "set_clock",
]
