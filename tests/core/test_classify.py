"""Classification, table-driven: each case is a real-looking response or exception and what it must mean."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstreamkit import ErrorKind, Hop, classify, classify_exception, make_error
from upstreamkit.core import classify as classify_module
from upstreamkit.core.classify import Outcome, is_plain_success

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    kind: ErrorKind | None
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    retryable: bool | None = None
    request_sent: bool | None = None
    retry_after: float | None = None
    is_600: bool = False
    hop: Hop | None = None
    extra: dict[str, object] = field(default_factory=dict)


K = ErrorKind
JSON = (("Content-Type", "application/json"),)

RESPONSES: list[Case] = [
    # --- error 600, raw and in bodies -------------------------------------------------------------------
    Case(
        "raw 600 with upstream_error",
        600,
        K.UPSTREAM_600,
        JSON,
        '{"error": "upstream_error"}',
        is_600=True,
        retryable=True,
        hop=Hop.GATEWAY,
    ),
    Case("raw 600 without body", 600, K.UPSTREAM_600, is_600=True),
    Case(
        "200 code 600 upstream_error",
        200,
        K.UPSTREAM_600,
        JSON,
        '{"code": 600, "error": "upstream_error"}',
        is_600=True,
        retryable=True,
    ),
    Case(
        "200 code 600 gateway_timeout",
        200,
        K.HTTP_RESPONSE_TIMEOUT,
        JSON,
        '{"code": 600, "error": "gateway_timeout"}',
        is_600=True,
        retryable=True,
        request_sent=True,
    ),
    Case(
        "200 nested error code 600",
        200,
        K.UPSTREAM_OUTAGE,
        JSON,
        '{"error": {"code": 600, "message": "upstream service unavailable"}}',
        is_600=True,
    ),
    Case("200 status 600", 200, K.UPSTREAM_600, JSON, '{"status": 600}', is_600=True),
    Case(
        "200 errorCode string 600 token expired",
        200,
        K.AUTH_EXPIRED,
        JSON,
        '{"errorCode": "600", "errorMessage": "Token expired"}',
        is_600=True,
        retryable=False,
    ),
    Case(
        "200 code string 600 rate limit",
        200,
        K.RATE_LIMITED,
        JSON,
        '{"code": "600", "msg": "rate limit exceeded, slow down"}',
        is_600=True,
    ),
    Case("200 upstream_error without code", 200, K.UPSTREAM_600, JSON, '{"error": "upstream_error"}', is_600=True),
    Case(
        "200 gateway_timeout without code",
        200,
        K.HTTP_RESPONSE_TIMEOUT,
        JSON,
        '{"error": "gateway_timeout"}',
        is_600=True,
    ),
    Case(
        "200 errors list with 600",
        200,
        K.CONNECTION_REFUSED,
        JSON,
        '{"errors": [{"code": 600, "detail": "connection refused by upstream 10.0.0.5:443"}]}',
        is_600=True,
    ),
    Case("200 success code 0", 200, None, JSON, '{"code": 0, "data": {"id": 1}}'),
    Case("200 code 6000 is not 600", 200, None, JSON, '{"code": 6000, "message": "ok"}'),
    Case("200 plain text", 200, None, (("Content-Type", "text/plain"),), "hello"),
    Case("201 created", 201, None, JSON, '{"id": "pay_1"}'),
    # --- credentials ------------------------------------------------------------------------------------
    Case(
        "401 RFC 6750 expired token",
        401,
        K.AUTH_EXPIRED,
        (
            (
                "WWW-Authenticate",
                'Bearer realm="example", error="invalid_token", error_description="The access token expired"',
            ),
        ),
        retryable=False,
        request_sent=True,
    ),
    Case(
        "401 RFC 6750 malformed token",
        401,
        K.AUTH_INVALID,
        (
            (
                "WWW-Authenticate",
                'Bearer realm="example", error="invalid_token", error_description="The access token is malformed"',
            ),
        ),
        retryable=False,
    ),
    Case(
        "401 GitHub bad credentials",
        401,
        K.AUTH_INVALID,
        JSON,
        '{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}',
    ),
    Case(
        "401 Microsoft Graph expired",
        401,
        K.AUTH_EXPIRED,
        JSON,
        '{"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet '
        'valid.", "innerError": {"request-id": "0d6e2f47-1d3c-4b5a-9b0e-4c3b1a2f9e8d"}}}',
    ),
    Case("401 bare", 401, K.AUTH_INVALID),
    Case(
        "403 insufficient scope",
        403,
        K.AUTH_FORBIDDEN,
        (("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="payments:write"'),),
    ),
    # --- rate limits ------------------------------------------------------------------------------------
    Case(
        "403 GitHub primary rate limit",
        403,
        K.RATE_LIMITED,
        (
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", str(int(NOW) + 1800)),
            ("x-ratelimit-used", "5000"),
        ),
        '{"message": "API rate limit exceeded for user ID 1."}',
        retryable=True,
        retry_after=1800.0,
    ),
    Case(
        "403 GitHub secondary rate limit",
        403,
        K.RATE_LIMITED,
        (("retry-after", "60"),),
        '{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}',
        retry_after=60.0,
    ),
    Case("429 Retry-After seconds", 429, K.RATE_LIMITED, (("Retry-After", "30"),), retry_after=30.0, retryable=True),
    Case(
        "429 Retry-After HTTP-date",
        429,
        K.RATE_LIMITED,
        (("Retry-After", "Thu, 01 Jan 2026 00:02:00 GMT"), ("Date", DATE)),
        retry_after=120.0,
    ),
    Case(
        "429 structured RateLimit only",
        429,
        K.RATE_LIMITED,
        (("RateLimit-Policy", '"default";q=100;w=60'), ("RateLimit", '"default";r=0;t=15')),
        retry_after=15.0,
    ),
    Case(
        "429 OpenAI insufficient quota",
        429,
        K.RATE_LIMITED,
        JSON,
        '{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", '
        '"type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}',
        retryable=False,
    ),
    Case("503 with Retry-After", 503, K.RATE_LIMITED, (("Retry-After", "120"),), retry_after=120.0),
    # --- outages and timeouts ---------------------------------------------------------------------------
    Case("503 without Retry-After", 503, K.UPSTREAM_OUTAGE, retryable=True),
    Case(
        "502 nginx",
        502,
        K.UPSTREAM_OUTAGE,
        (("Server", "nginx/1.25.3"), ("Content-Type", "text/html")),
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
        "<hr><center>nginx/1.25.3</center></body></html>",
        hop=Hop.GATEWAY,
        retryable=True,
    ),
    Case("504 gateway timeout", 504, K.HTTP_RESPONSE_TIMEOUT, hop=Hop.GATEWAY, retryable=True, request_sent=True),
    Case("500 internal error", 500, K.UPSTREAM_OUTAGE, JSON, '{"error": "internal"}', retryable=True),
    Case("408 request timeout", 408, K.REQUEST_TIMEOUT, retryable=True),
    Case(
        "502 Proxy-Status connection_refused",
        502,
        K.CONNECTION_REFUSED,
        (("Proxy-Status", "SomeReverseProxy; error=connection_refused"),),
        hop=Hop.GATEWAY,
    ),
    Case(
        "504 Proxy-Status http_response_timeout",
        504,
        K.HTTP_RESPONSE_TIMEOUT,
        (("Proxy-Status", "ExampleCDN; error=http_response_timeout"),),
    ),
    Case(
        "502 Proxy-Status dns_error",
        502,
        K.DNS_ERROR,
        (("Proxy-Status", 'proxy.example.net; error=dns_error; rcode="NXDOMAIN"'),),
        request_sent=False,
    ),
    # --- payloads and requests --------------------------------------------------------------------------
    Case("413 payload too large", 413, K.PAYLOAD_REJECTED, retryable=False),
    Case("400 bad request", 400, K.PAYLOAD_REJECTED, JSON, '{"error": "missing field amount"}', retryable=False),
    Case(
        "422 problem+json",
        422,
        K.PAYLOAD_REJECTED,
        (("Content-Type", "application/problem+json"),),
        '{"type": "about:blank", "title": "Unprocessable Entity", "detail": "amount: must be > 0"}',
    ),
    Case("404 not found", 404, K.HTTP_REQUEST_ERROR, retryable=False),
    Case("505 version", 505, K.HTTP_PROTOCOL_ERROR),
]


@pytest.mark.parametrize("case", RESPONSES, ids=[c.name for c in RESPONSES])
def test_response_classification(case: Case) -> None:
    outcome = classify(case.status, case.headers, case.body, now=NOW)
    assert outcome.kind == case.kind, outcome.explanation
    assert outcome.ok is (case.kind is None)
    assert outcome.is_600 is case.is_600
    assert outcome.status == case.status
    assert outcome.explanation
    if case.retryable is not None:
        assert outcome.retryable is case.retryable
    if case.request_sent is not None:
        assert outcome.request_sent is case.request_sent
    if case.retry_after is not None:
        assert outcome.retry_after == pytest.approx(case.retry_after)
    if case.hop is not None:
        assert outcome.hop == case.hop


def test_retry_after_http_date_uses_the_response_date_when_now_is_not_given() -> None:
    outcome = classify(429, {"Retry-After": "Thu, 01 Jan 2026 00:00:45 GMT", "Date": DATE})
    assert outcome.retry_after == pytest.approx(45.0)


def test_request_id_is_captured_and_named_in_evidence() -> None:
    outcome = classify(502, {"X-Request-Id": "req-42"}, "")
    assert outcome.request_id == "req-42"
    assert any("req-42" in line for line in outcome.evidence)


def test_outcome_becomes_the_most_specific_error() -> None:
    outcome = classify(429, {"Retry-After": "7"}, "", now=NOW)
    error = outcome.to_error(attempts=3, upstream="https://api.example.com/v1")
    assert type(error).__name__ == "RateLimitedError"
    assert error.retry_after == 7.0
    assert error.attempts == 3
    with pytest.raises(ValueError, match="no error"):
        classify(200, {}, "{}").to_error()


def test_classify_needs_a_status_or_an_exception() -> None:
    with pytest.raises(ValueError, match="status or an exception"):
        classify()


# --- exceptions ------------------------------------------------------------------------------------------


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as exc:  # noqa: BLE001 - building the chain the HTTP stack builds
        return exc


def _cert_error() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1000)"
    )
    exc.verify_message = "certificate has expired"
    return exc


EXCEPTIONS: list[tuple[str, BaseException, ErrorKind, bool, bool]] = [
    # (name, exception, kind, request_sent, retryable)
    (
        "dns nxdomain",
        _chained(
            httpx.ConnectError("[Errno -2] Name or service not known"), socket.gaierror(-2, "Name or service not known")
        ),
        K.DNS_ERROR,
        False,
        False,
    ),
    (
        "dns temporary",
        _chained(
            httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
            socket.gaierror(-3, "Temporary failure in name resolution"),
        ),
        K.DNS_TIMEOUT,
        False,
        True,
    ),
    ("dns by message only", httpx.ConnectError("[Errno -2] Name or service not known"), K.DNS_ERROR, False, False),
    (
        "refused",
        _chained(
            httpx.ConnectError("[Errno 111] Connection refused"), ConnectionRefusedError(111, "Connection refused")
        ),
        K.CONNECTION_REFUSED,
        False,
        True,
    ),
    (
        "certificate expired",
        _chained(
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired"),
            _cert_error(),
        ),
        K.TLS_CERTIFICATE_ERROR,
        False,
        False,
    ),
    (
        "tls wrong version",
        _chained(
            httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
        ),
        K.TLS_PROTOCOL_ERROR,
        False,
        False,
    ),
    ("connect timeout", httpx.ConnectTimeout("timed out"), K.CONNECTION_TIMEOUT, False, True),
    (
        "read timeout",
        _chained(httpx.ReadTimeout("timed out"), TimeoutError("timed out")),
        K.HTTP_RESPONSE_TIMEOUT,
        True,
        True,
    ),
    ("write timeout", httpx.WriteTimeout("timed out"), K.CONNECTION_WRITE_TIMEOUT, True, True),
    ("pool timeout", httpx.PoolTimeout("timed out"), K.CONNECTION_LIMIT_REACHED, False, True),
    (
        "disconnected",
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        K.CONNECTION_TERMINATED,
        True,
        True,
    ),
    (
        "truncated",
        httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body: received 10 bytes, expected 100"
        ),
        K.HTTP_RESPONSE_INCOMPLETE,
        True,
        True,
    ),
    (
        "reset while reading",
        _chained(
            httpx.ReadError("[Errno 104] Connection reset by peer"),
            ConnectionResetError(104, "Connection reset by peer"),
        ),
        K.CONNECTION_TERMINATED,
        True,
        True,
    ),
    (
        "no scheme",
        httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol."),
        K.HTTP_REQUEST_ERROR,
        False,
        False,
    ),
    ("bare TimeoutError", TimeoutError(), K.HTTP_RESPONSE_TIMEOUT, True, True),
    (
        "unreachable",
        _chained(httpx.ConnectError("[Errno 101] Network is unreachable"), OSError(101, "Network is unreachable")),
        K.DESTINATION_IP_UNROUTABLE,
        False,
        True,
    ),
    ("a bug, not the network", KeyError("amount"), K.HTTP_REQUEST_ERROR, True, False),
]


@pytest.mark.parametrize(("name", "exc", "kind", "sent", "retryable"), EXCEPTIONS, ids=[e[0] for e in EXCEPTIONS])
def test_exception_classification(name: str, exc: BaseException, kind: ErrorKind, sent: bool, retryable: bool) -> None:
    outcome = classify(exception=exc)
    assert outcome.kind == kind, f"{name}: {outcome.explanation}"
    assert outcome.request_sent is sent
    assert outcome.retryable is retryable
    assert outcome.hop == Hop.CLIENT
    assert outcome.evidence


def test_an_upstream_error_keeps_its_kind() -> None:
    error = make_error("circuit_open", "breaker open", request_sent=False, retry_after=4.0)
    outcome = classify_exception(error)
    assert outcome.kind == K.CIRCUIT_OPEN
    assert outcome.retry_after == 4.0
    assert outcome.request_sent is False


@pytest.mark.integration
def test_a_real_refused_connection_on_loopback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connects are refused
        with pytest.raises(httpx.ConnectError) as info:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    outcome = classify_exception(info.value)
    assert outcome.kind == K.CONNECTION_REFUSED
    assert outcome.request_sent is False


@pytest.mark.integration
def test_a_real_read_timeout_after_the_request_was_sent() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)  # the kernel accepts the connection; nobody ever answers
        port = server.getsockname()[1]
        with pytest.raises(httpx.ReadTimeout) as info:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(2.0, read=0.2))
    outcome: Outcome = classify_exception(info.value)
    assert outcome.kind == K.HTTP_RESPONSE_TIMEOUT
    assert outcome.request_sent is True
    assert outcome.retryable is True


def test_there_are_at_least_forty_cases() -> None:
    assert len(RESPONSES) + len(EXCEPTIONS) >= 40


# --- vendor signatures from the knowledge base -----------------------------------------------------------

VENDORS: list[tuple[str, int, dict[str, str], str, ErrorKind, str]] = [
    ("Cloudflare 522", 522, {"Server": "cloudflare", "CF-RAY": "8f3a1b2c3d4e5f60-AMS"}, "error code: 522",
     K.CONNECTION_TIMEOUT, "Cloudflare"),
    ("Slack token_expired in a 200", 200, {"Content-Type": "application/json"},
     '{"ok": false, "error": "token_expired"}', K.AUTH_EXPIRED, "Slack"),
    ("API Gateway integration timeout", 504, {"x-amzn-ErrorType": "IntegrationTimeout"},
     '{"message": "Endpoint request timed out"}', K.HTTP_RESPONSE_TIMEOUT, "AWS API Gateway"),
    ("Envoy no healthy upstream", 503, {"server": "envoy"}, "no healthy upstream", K.DESTINATION_UNAVAILABLE,
     "Envoy"),
    ("Envoy connect failure", 503, {"server": "envoy"},
     "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
     K.CONNECTION_REFUSED, "Envoy"),
    ("Apigee expired access token", 401, {},
     ('{"fault": {"faultstring": "Access Token expired", '
     '"detail": {"errorcode": "keymanagement.service.access_token_expired"}}}'), K.AUTH_EXPIRED, "Apigee"),
    ("Azure APIM missing key", 401, {},
     ('{"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include '
     'subscription key when making requests to an API."}'), K.AUTH_INVALID, "Azure API Management"),
    ("Kong upstream timing out", 504, {"Server": "kong/3.4.0"}, '{"message": "The upstream server is timing out"}',
     K.HTTP_RESPONSE_TIMEOUT, "Kong"),
    ("HAProxy 503", 503, {}, ("<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle "
     "this request.\n</body></html>"), K.DESTINATION_UNAVAILABLE, "HAProxy"),
    ("Salesforce session", 401, {}, '[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]',
     K.AUTH_EXPIRED, "Salesforce"),
    ("Google RESOURCE_EXHAUSTED", 429, {},
     '{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}', K.RATE_LIMITED,
     "Google"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "status", "headers", "body", "kind", "producer"), VENDORS, ids=[v[0] for v in VENDORS]
)
def test_vendor_signatures(
    name: str, status: int, headers: dict[str, str], body: str, kind: ErrorKind, producer: str
) -> None:
    outcome = classify(status, headers, body, now=NOW)
    assert outcome.kind == kind, f"{name}: {outcome.explanation} ({outcome.signature})"
    assert outcome.producer is not None
    assert outcome.producer.startswith(producer)
    assert outcome.source is not None
    assert outcome.source.startswith("http")
    assert any(outcome.signature in line for line in outcome.evidence if outcome.signature)


def test_a_vendor_header_alone_does_not_make_a_success_a_failure() -> None:
    assert classify(200, {"Server": "cloudflare", "CF-RAY": "8f3a-AMS"}, "<html>ok</html>").ok


# --- the client's fast path agrees with the full classifier ---------------------------------------------

_BODY_BITS = st.sampled_from(
    ['{"ok": true}', '{"code": 600}', '"error": "token_expired"', '"errcode": 42001', "upstream_error", "hello", ""]
)
_HEADER_NAMES = st.sampled_from(["content-type", "retry-after", "x-ratelimit-remaining", "ratelimit", "x-request-id"])


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=999),
    names=st.lists(_HEADER_NAMES, max_size=3),
    body=st.lists(_BODY_BITS, max_size=3).map(" ".join),
)
def test_is_plain_success_implies_a_success_with_nothing_to_learn(status: int, names: list[str], body: str) -> None:
    headers = [(name, "1") for name in names]
    if is_plain_success(status, names, body):
        outcome = classify(status, headers, body, now=NOW)
        assert outcome.ok
        assert outcome.rate_limit is None
        assert outcome.retry_after is None


@pytest.mark.parametrize(
    ("headers", "body", "incomplete"),
    [
        ({"Content-Length": "35"}, b'{"items": [1, 2', True),  # cut off mid-body, as proxies relay it
        ({"Content-Length": "15"}, b'{"items": [1, 2', False),  # exactly what was promised
        ({"Content-Length": "35"}, b"", False),  # empty: also a HEAD response, left alone
        ({"Content-Length": "35", "Transfer-Encoding": "chunked"}, b"{", False),  # the length does not apply
        ({"Content-Length": "x35"}, b"{", False),
        ({"Content-Length": "9" * 40}, b"{", False),
    ],
)
def test_a_success_shorter_than_its_content_length_is_incomplete(
    headers: dict[str, str], body: bytes, incomplete: bool
) -> None:
    outcome = classify(200, headers, body)
    assert (outcome.kind is ErrorKind.HTTP_RESPONSE_INCOMPLETE) is incomplete
    assert outcome.ok is not incomplete


@pytest.mark.parametrize("word", classify_module._MAY_CARRY_600)
def test_every_word_that_may_carry_a_600_keeps_a_success_off_the_fast_path(word: str) -> None:
    # is_plain_success tests these words unrolled, for speed: a word added to the tuple must be added there.
    assert not is_plain_success(200, (), f'{{"note": "x{word.upper()}x"}}'.encode())
    assert not is_plain_success(200, (), f"x{word}x")
