"""The public API is a decision: this test fails when a name is added or removed without updating it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import upstreamkit
import upstreamkit.testing

EXPECTED = {
    "AuthError", "Backoff", "BudgetExhaustedError", "CircuitOpenError", "Clock", "ConnectError", "DNSError",
    "DeadlineExceededError", "ErrorKind", "GatewayError", "Hop", "Outcome", "PayloadRejectedError", "PolicyError",
    "ProtocolError", "RateLimit", "RateLimitedError", "RequestRejectedError", "ResponseError", "ResponseTimeoutError",
    "SystemClock", "TLSError", "TransportError", "UpstreamError", "UpstreamUnavailableError", "__version__",
    "bearer_error", "classify", "classify_exception", "find_request_id", "fingerprint", "format_proxy_status",
    "get_clock", "make_error", "parse_proxy_status", "parse_rate_limit", "parse_retry_after",
    "parse_www_authenticate", "redact_body", "redact_headers", "redact_json", "redact_text", "redact_url",
    "set_clock", "AsyncResilientTransport", "ResilientTransport", "Token", "TokenAuth", "retry", "RetryPolicy",
    "BreakerConfig", "BreakerState", "BudgetConfig", "CircuitBreaker", "RateLimiter", "RetryBudget",
    "CallOptions", "Retrying",
}  # fmt: skip


def test_exported_members() -> None:
    assert set(upstreamkit.__all__) == EXPECTED
    assert len(upstreamkit.__all__) == len(set(upstreamkit.__all__))


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in upstreamkit.__all__:
        member = getattr(upstreamkit, name)
        if name != "__version__" and callable(member):
            assert member.__doc__, f"{name} has no docstring"


def test_public_classes_claim_the_package() -> None:
    for name in upstreamkit.__all__:
        member = getattr(upstreamkit, name)
        if isinstance(member, type):
            assert member.__module__.startswith("upstreamkit"), name


def test_testing_module_exports() -> None:
    assert set(upstreamkit.testing.__all__) == {"FakeClock", "testing"}


def test_version_is_a_string() -> None:
    assert upstreamkit.__version__.count(".") >= 2


def test_dir_lists_every_public_name_before_any_is_used() -> None:
    assert set(upstreamkit.__all__) <= set(dir(upstreamkit))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'RetryPolcy'"):
        upstreamkit.RetryPolcy  # type: ignore[attr-defined]  # noqa: B018 - the lookup is the test


def test_importing_the_package_imports_none_of_its_parts() -> None:
    # the public names load on first use: `import upstreamkit` (and `analyze`) never pays for the whole client
    code = "import sys, upstreamkit; print(sorted(m for m in sys.modules if m.startswith('upstreamkit')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "['upstreamkit', 'upstreamkit._lazy', 'upstreamkit._version']"
