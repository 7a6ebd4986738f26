"""upstreamkit: find, survive, see and escalate upstream API failures (a gateway's "error 600").

The public API is what ``__all__`` lists; ``tests/test_public_api.py`` guards it. Test support lives in
:mod:`upstreamkit.testing`, the simulator in :mod:`upstreamkit.simulator`.
"""

from upstreamkit._version import __version__
from upstreamkit.clock import Clock, SystemClock, get_clock, set_clock
from upstreamkit.core.backoff import Backoff
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
from upstreamkit.core.redact import (
    fingerprint,
    redact_body,
    redact_headers,
    redact_json,
    redact_text,
    redact_url,
)
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

__all__ = [
    "AuthError",
    "Backoff",
    "BudgetExhaustedError",
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
    "RequestRejectedError",
    "ResponseError",
    "ResponseTimeoutError",
    "SystemClock",
    "TLSError",
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
    "set_clock",
]
