"""Header parsing against values real APIs and the RFCs' own examples send."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from upstreamkit.core.headers import (
    REQUEST_ID_HEADERS,
    RETRY_AFTER_CEILING,
    BearerError,
    Challenge,
    HeaderView,
    ProxyStatusEntry,
    RateLimit,
    bearer_error,
    find_request_id,
    format_proxy_status,
    header_view,
    parse_http_date,
    parse_proxy_status,
    parse_rate_limit,
    parse_rate_limits,
    parse_retry_after,
    parse_www_authenticate,
)

# Sun, 06 Nov 1994 08:49:37 GMT, the RFCs' example date.
RFC_DATE = 784111777.0


# --------------------------------------------------------------------------------------------------
# HeaderView


def test_header_view_is_case_insensitive_and_keeps_order_and_case() -> None:
    view = HeaderView([("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    assert view.get("content-type") == "text/plain"
    assert view.get("SET-COOKIE") == "a=1, b=2"
    assert view.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert view.items() == [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")]
    assert len(view) == 3
    assert "CONTENT-TYPE" in view
    assert "x-missing" not in view
    assert 42 not in view
    assert view.get("x-missing") is None
    assert view.get("x-missing", "fallback") == "fallback"
    assert view.get_all("x-missing") == []


def test_header_view_accepts_bytes_pairs_and_strips_whitespace() -> None:
    view = HeaderView([(b"X-Request-Id", b"  abc  "), (b"X-Name", "caf\xe9".encode("latin-1"))])
    assert view.items() == [("X-Request-Id", "abc"), ("X-Name", "caf\xe9")]
    assert HeaderView([(b"X-Name", "café".encode())]).get("x-name") == "café"


def test_header_view_keeps_repeated_httpx_fields_apart() -> None:
    headers = httpx.Headers([("WWW-Authenticate", 'Basic realm="a"'), ("WWW-Authenticate", "Bearer")])
    view = header_view(headers)
    assert view.get_all("www-authenticate") == ['Basic realm="a"', "Bearer"]
    assert view.items()[0][0] == "WWW-Authenticate"


def test_header_view_from_mapping_none_and_junk() -> None:
    assert header_view({"Retry-After": "5"}).get("retry-after") == "5"
    assert len(header_view(None)) == 0
    junk: list[object] = [("only-one",), ("a", 1), "ab", None, ("ok", "yes")]
    assert header_view(junk).items() == [("ok", "yes")]  # type: ignore[arg-type]


def test_header_view_is_returned_as_is_and_immutable() -> None:
    view = HeaderView({"a": "b"})
    assert header_view(view) is view
    assert HeaderView(view).items() == view.items()
    with pytest.raises(AttributeError):
        view._fields = ()


def test_header_view_repr_hides_values() -> None:
    view = HeaderView({"Authorization": "Bearer sk-secret"})
    assert "sk-secret" not in repr(view)
    assert "Authorization" in repr(view)


# --------------------------------------------------------------------------------------------------
# Dates and Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", RFC_DATE),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", RFC_DATE),  # asctime
        ("  Sun, 06 Nov 1994 08:49:37 GMT  ", RFC_DATE),
        ("Sun, 06 Nov 1994 10:49:37 +0200", RFC_DATE),  # numeric zone (RFC 5322)
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0),  # MDN's Retry-After example
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Sun, 31 Feb 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 25:49:37 GMT", None),
        ("Sun, 06 Nov 99999999999999999999 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994", None),
        ("120", None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_parse_http_date(value: str, expected: float | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("120", None, 120.0),
        ("0", None, 0.0),
        (" 5 ", None, 5.0),
        ("1.5", None, 1.5),  # not RFC 9110, but servers send it
        ("007", None, 7.0),
        ("9" * 400, None, RETRY_AFTER_CEILING),
        (str(10**9), None, RETRY_AFTER_CEILING),
        ("-1", None, None),
        ("+5", None, None),
        ("1e3", None, None),
        ("5 seconds", None, None),
        ("", None, None),
        ("   ", None, None),
        (None, None, None),
        ("١٢٠", None, None),  # Arabic-Indic digits are not delta-seconds
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 - 30, 30.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 + 30, 0.0),  # past: retry now
        ("Wed, 21 Oct 2015 07:28:00 GMT", None, None),  # a date needs the clock
        ("Fri, 31 Dec 9999 23:59:59 GMT", 0.0, RETRY_AFTER_CEILING),
        ("Wed, 21 Oct 2015 07:28:00 GMT", float("nan"), None),
        ("not a date", 0.0, None),
    ],
)
def test_parse_retry_after(value: str | None, now: float | None, expected: float | None) -> None:
    assert parse_retry_after(value, now) == expected


# --------------------------------------------------------------------------------------------------
# Rate limits

GITHUB_NOW = 1372700000.0
GITHUB = {
    # GitHub REST API, exhausted primary rate limit (docs.github.com "Rate limits for the REST API").
    "x-ratelimit-limit": "60",
    "x-ratelimit-remaining": "0",
    "x-ratelimit-used": "60",
    "x-ratelimit-reset": "1372700873",
    "x-ratelimit-resource": "core",
}
OPENAI = {
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-limit-tokens": "150000",
    "x-ratelimit-remaining-requests": "59",
    "x-ratelimit-remaining-tokens": "149984",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-reset-tokens": "6m0s",
}


@pytest.mark.parametrize(
    ("headers", "now", "expected"),
    [
        pytest.param(
            GITHUB,
            GITHUB_NOW,
            [RateLimit(60, 0, 873.0, None, "core", "x-ratelimit")],
            id="github-epoch-reset",
        ),
        pytest.param(
            GITHUB,
            None,
            [RateLimit(60, 0, None, None, "core", "x-ratelimit")],
            id="github-epoch-reset-without-clock",
        ),
        pytest.param(
            {"x-ratelimit-limit": "60", "x-ratelimit-used": "12", "x-ratelimit-reset": "1372701000"},
            GITHUB_NOW + 2000,
            [RateLimit(60, 48, 0.0, None, None, "x-ratelimit")],
            id="github-used-without-remaining-past-reset",
        ),
        pytest.param(
            {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "42", "X-RateLimit-Reset": "30"},
            None,
            [RateLimit(100, 42, 30.0, None, None, "x-ratelimit")],
            id="delta-reset",
        ),
        pytest.param(
            {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "42", "X-RateLimit-Reset": "1700000060000"},
            1700000000.0,
            [RateLimit(100, 42, 60.0, None, None, "x-ratelimit")],
            id="epoch-milliseconds-reset",
        ),
        pytest.param(
            {
                # Discord: epoch float in Reset, float seconds in Reset-After (preferred).
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "1",
                "X-RateLimit-Reset": "1470173023.123",
                "X-RateLimit-Reset-After": "64.57",
                "X-RateLimit-Bucket": "abcd1234",
            },
            None,
            [RateLimit(5, 1, 64.57, None, "abcd1234", "x-ratelimit")],
            id="discord",
        ),
        pytest.param(
            {"x-rate-limit-limit": "900", "x-rate-limit-remaining": "899", "x-rate-limit-reset": "1705000900"},
            1705000000.0,
            [RateLimit(900, 899, 900.0, None, None, "x-ratelimit")],
            id="twitter-x-rate-limit",
        ),
        pytest.param(
            OPENAI,
            None,
            [
                RateLimit(60, 59, 1.0, None, "requests", "openai"),
                RateLimit(150000, 149984, 360.0, None, "tokens", "openai"),
            ],
            id="openai",
        ),
        pytest.param(
            {
                "x-ratelimit-limit-tokens": "30000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "20ms",
            },
            None,
            [RateLimit(30000, 0, 0.02, None, "tokens", "openai")],
            id="openai-tokens-only-ms",
        ),
        pytest.param(
            {"x-ratelimit-reset-requests": "1h2m3.5s"},
            None,
            [RateLimit(None, None, 3723.5, None, "requests", "openai")],
            id="openai-compound-duration",
        ),
        pytest.param(
            # draft-ietf-httpapi-ratelimit-headers-08 and later.
            {"RateLimit": '"default";r=50;t=30', "RateLimit-Policy": '"default";q=100;w=60'},
            None,
            [RateLimit(100, 50, 30.0, 60.0, "default", "ratelimit")],
            id="structured",
        ),
        pytest.param(
            {
                "RateLimit-Policy": '"burst";q=100;w=60, "daily";q=1000;w=86400',
                "RateLimit": '"daily";r=0;t=3600, "burst";r=99;t=12',
            },
            None,
            [
                RateLimit(1000, 0, 3600.0, 86400.0, "daily", "ratelimit"),
                RateLimit(100, 99, 12.0, 60.0, "burst", "ratelimit"),
            ],
            id="structured-several-policies",
        ),
        pytest.param(
            {"RateLimit-Policy": '"permin";q=50;w=60'},
            None,
            [RateLimit(50, None, None, 60.0, "permin", "ratelimit")],
            id="structured-policy-only",
        ),
        pytest.param(
            {"RateLimit": '"default";r=5'},
            None,
            [RateLimit(None, 5, None, None, "default", "ratelimit")],
            id="structured-without-policy",
        ),
        pytest.param(
            # draft-07: a dictionary, with integer policies.
            {"RateLimit": "limit=10, remaining=1, reset=7", "RateLimit-Policy": "10;w=1, 50;w=60"},
            None,
            [RateLimit(10, 1, 7.0, 1.0, "10;w=1, 50;w=60", "ratelimit-draft")],
            id="draft-07-dictionary",
        ),
        pytest.param(
            # drafts 00-06: the triple, policies after the current limit.
            {"RateLimit-Limit": "10, 10;w=1, 50;w=60", "RateLimit-Remaining": "9", "RateLimit-Reset": "1"},
            None,
            [RateLimit(10, 9, 1.0, 1.0, "10;w=1, 50;w=60", "ratelimit-draft")],
            id="draft-triple",
        ),
        pytest.param(
            {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "50"},
            None,
            [RateLimit(100, 0, 50.0, None, None, "ratelimit-draft")],
            id="draft-triple-plain",
        ),
        pytest.param(
            # GitLab sends an epoch in RateLimit-Reset.
            {"RateLimit-Limit": "600", "RateLimit-Remaining": "599", "RateLimit-Reset": "1609844400"},
            1609844340.0,
            [RateLimit(600, 599, 60.0, None, None, "ratelimit-draft")],
            id="gitlab-epoch-in-draft-reset",
        ),
        pytest.param(
            {"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "soon"},
            None,
            [],
            id="garbage-family-left-out",
        ),
        pytest.param({"RateLimit": "garbage;;", "RateLimit-Policy": "(("}, None, [], id="garbage-structured"),
        pytest.param({"Content-Type": "application/json"}, None, [], id="none"),
    ],
)
def test_parse_rate_limits(headers: dict[str, str], now: float | None, expected: list[RateLimit]) -> None:
    assert parse_rate_limits(headers, now) == expected


def test_parse_rate_limits_reports_every_family() -> None:
    found = parse_rate_limits({**GITHUB, **OPENAI, "RateLimit": '"default";r=1;t=2'}, now=GITHUB_NOW)
    assert [rate_limit.source for rate_limit in found] == ["ratelimit", "x-ratelimit", "openai", "openai"]


def test_parse_rate_limit_picks_the_exhausted_one() -> None:
    chosen = parse_rate_limit({**GITHUB, **OPENAI}, now=GITHUB_NOW)
    assert chosen == RateLimit(60, 0, 873.0, None, "core", "x-ratelimit")
    assert chosen.exhausted


def test_parse_rate_limit_picks_the_lowest_ratio_then_the_longest_exhaustion() -> None:
    headers = {
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": "50",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "10",
    }
    chosen = parse_rate_limit(headers)
    assert chosen is not None
    assert chosen.policy == "tokens"
    assert not chosen.exhausted
    both_exhausted = {
        "RateLimit-Policy": '"burst";q=10;w=1, "daily";q=1000;w=86400',
        "RateLimit": '"burst";r=0;t=1, "daily";r=0;t=40000',
    }
    chosen = parse_rate_limit(both_exhausted)
    assert chosen is not None
    assert chosen.policy == "daily"


def test_parse_rate_limit_none_when_absent() -> None:
    assert parse_rate_limit({}) is None
    assert parse_rate_limit(HeaderView()) is None


# --------------------------------------------------------------------------------------------------
# WWW-Authenticate


def _challenge(scheme: str, token68: str | None = None, **params: str) -> Challenge:
    return Challenge(scheme=scheme, params=params, token68=token68)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('Basic realm="simple"', [_challenge("Basic", realm="simple")]),
        (
            # RFC 9110 §11.6.1's example.
            'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
            [
                _challenge("Newauth", realm="apps", type="1", title='Login to "apps"'),
                _challenge("Basic", realm="simple"),
            ],
        ),
        (
            # RFC 6750 §3.
            'Bearer realm="example", error="invalid_token", error_description="The access token expired"',
            [
                _challenge(
                    "Bearer",
                    realm="example",
                    error="invalid_token",
                    error_description="The access token expired",
                )
            ],
        ),
        (
            'Bearer realm="example"',
            [_challenge("Bearer", realm="example")],
        ),
        (
            'BEARER Realm = "a, b", Error=invalid_request',
            [_challenge("BEARER", realm="a, b", error="invalid_request")],
        ),
        ("Negotiate", [_challenge("Negotiate")]),
        ("Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXY=", [_challenge("Negotiate", "YIIBhgYGKwYBBQUCoIIBejCCAXY=")]),
        (
            'Basic dXNlcjpwYXNz==, Bearer realm="x"',
            [_challenge("Basic", "dXNlcjpwYXNz=="), _challenge("Bearer", realm="x")],
        ),
        (
            'DPoP algs="ES256 PS256", error="invalid_dpop_proof", error_description="Invalid DPoP key binding"',
            [
                _challenge(
                    "DPoP",
                    algs="ES256 PS256",
                    error="invalid_dpop_proof",
                    error_description="Invalid DPoP key binding",
                )
            ],
        ),
        (
            'Bearer realm="r", realm="second", resource_metadata=https://api.example/.well-known/x',
            [_challenge("Bearer", realm="r", resource_metadata="https://api.example/.well-known/x")],
        ),
        ("Bearer, Basic", [_challenge("Bearer"), _challenge("Basic")]),
        (', , Basic realm="a",, ', [_challenge("Basic", realm="a")]),
        ('Bearer error="unterminated', [_challenge("Bearer", error="unterminated")]),
        ('Basic realm="a" junk, Bearer', [_challenge("Basic", realm="a"), _challenge("Bearer")]),
        ('"quoted", Basic', [_challenge("Basic")]),
        ("Bearer=x, Basic", [_challenge("Basic")]),
        ("", []),
        ("   ", []),
        ("=,=,", []),
    ],
)
def test_parse_www_authenticate(value: str, expected: list[Challenge]) -> None:
    assert parse_www_authenticate(value) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {
                "WWW-Authenticate": 'Bearer realm="example", error="invalid_token", '
                'error_description="The access token expired"'
            },
            BearerError("invalid_token", "The access token expired", None, "example"),
        ),
        (
            {
                "WWW-Authenticate": 'Bearer realm="example", error="insufficient_scope", '
                'scope="repo read:org", error_description="needs more"'
            },
            BearerError("insufficient_scope", "needs more", "repo read:org", "example"),
        ),
        ({"WWW-Authenticate": 'Bearer realm="example"'}, BearerError(None, None, None, "example")),
        (
            [
                ("WWW-Authenticate", 'Basic realm="x"'),
                ("WWW-Authenticate", 'DPoP algs="ES256", error="use_dpop_nonce"'),
                ("WWW-Authenticate", 'Bearer realm="x"'),
            ],
            BearerError("use_dpop_nonce", None, None, None),
        ),
        ({"WWW-Authenticate": 'Basic realm="x"'}, None),
        ({}, None),
    ],
)
def test_bearer_error(headers: dict[str, str] | list[tuple[str, str]], expected: BearerError | None) -> None:
    assert bearer_error(headers) == expected


# --------------------------------------------------------------------------------------------------
# Proxy-Status


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "ExampleCDN; error=http_response_timeout",
            [ProxyStatusEntry("ExampleCDN", error="http_response_timeout")],
        ),
        (
            'SomeReverseProxy; error=http_protocol_error; details="Malformed response header: space before colon"',
            [
                ProxyStatusEntry(
                    "SomeReverseProxy",
                    error="http_protocol_error",
                    details="Malformed response header: space before colon",
                )
            ],
        ),
        (
            # RFC 9209 §2: the intermediary nearest the origin comes first.
            "FooProxy; error=dns_timeout, ExampleCDN",
            [ProxyStatusEntry("FooProxy", error="dns_timeout"), ProxyStatusEntry("ExampleCDN")],
        ),
        (
            'ExampleCDN; received-status=200; next-hop="192.0.2.1:443"; next-protocol=h2',
            [ProxyStatusEntry("ExampleCDN", received_status=200, next_hop="192.0.2.1:443", next_protocol="h2")],
        ),
        (
            'r.example.net; error=dns_error; rcode="NXDOMAIN"; info-code=0',
            [ProxyStatusEntry("r.example.net", error="dns_error", rcode="NXDOMAIN", info_code=0)],
        ),
        (
            '"proxy with spaces"; next-protocol=:aDM=:; x-cache=?1; ttl=1.5; pop=sjc; n=7',
            [
                ProxyStatusEntry(
                    "proxy with spaces",
                    next_protocol="h3",
                    extra={"x-cache": True, "ttl": 1.5, "pop": "sjc", "n": 7},
                )
            ],
        ),
        (
            'cdn; error=123; received-status="x"; details=tok',  # wrong types are ignored
            [ProxyStatusEntry("cdn", details="tok")],
        ),
        ("cdn, 42, (a b), ?1", [ProxyStatusEntry("cdn")]),  # members that name no proxy are skipped
        ("ExampleCDN; error=", []),
        ("ExampleCDN,", []),
        ('ExampleCDN; details="caf\u00e9"', []),
        ("", []),
    ],
)
def test_parse_proxy_status(value: str, expected: list[ProxyStatusEntry]) -> None:
    assert parse_proxy_status(value) == expected


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([ProxyStatusEntry("ExampleCDN", error="http_response_timeout")], "ExampleCDN;error=http_response_timeout"),
        (
            [
                ProxyStatusEntry(
                    "SomeReverseProxy",
                    error="http_protocol_error",
                    details="Malformed response header: space before colon",
                ),
                ProxyStatusEntry("upstreamkit"),
            ],
            (
                'SomeReverseProxy;error=http_protocol_error;details="Malformed response header: space before colon", '
                "upstreamkit"
            ),
        ),
        ([ProxyStatusEntry("my proxy", details='say "hi" \\o/')], '"my proxy";details="say \\"hi\\" \\\\o/"'),
        ([ProxyStatusEntry("gw", details="café ☕")], 'gw;details="caf? ?"'),
        ([ProxyStatusEntry("gw", next_protocol="not a token")], "gw;next-protocol=:bm90IGEgdG9rZW4=:"),
        (
            [ProxyStatusEntry("gw", received_status=10**20, extra={"Bad": 1, "ok": float("inf"), "fine": 2})],
            "gw;fine=2",
        ),
        ([], ""),
    ],
)
def test_format_proxy_status(entries: list[ProxyStatusEntry], expected: str) -> None:
    assert format_proxy_status(entries) == expected


def test_proxy_status_round_trip() -> None:
    entries = [
        ProxyStatusEntry(
            "gateway.example",
            error="connection_timeout",
            details="upstream did not answer in 10s",
            received_status=None,
            next_hop="api.internal:8443",
            next_protocol="h2",
            extra={"retries": 2, "budget-left": 0.25, "cached": False, "region": "eu-west-1"},
        ),
        ProxyStatusEntry("ExampleCDN", error="dns_error", rcode="SERVFAIL", info_code=23),
        ProxyStatusEntry("origin shield", received_status=503),
    ]
    assert parse_proxy_status(format_proxy_status(entries)) == entries


def test_proxy_status_entry_is_frozen() -> None:
    entry = ProxyStatusEntry("cdn")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.error = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# Request ids


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Request-Id": "req_8GHJ3k2lVbXoQj"}, ("request-id", "req_8GHJ3k2lVbXoQj")),  # Stripe
        ({"x-request-id": "req_01a2b3c4d5e6f7"}, ("x-request-id", "req_01a2b3c4d5e6f7")),  # OpenAI
        (
            # GitHub also sends an id in a generic header from its edge; its own wins.
            {"X-GitHub-Request-Id": "CDDE:2F4A:1E4C0A6:1F60B92:64A0B2C1", "X-Request-Id": "edge"},
            ("x-github-request-id", "CDDE:2F4A:1E4C0A6:1F60B92:64A0B2C1"),
        ),
        (
            {"x-amzn-RequestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "x-amz-apigw-id": "BfnqkF0IvHcFpZw="},
            ("x-amzn-requestid", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
        ),
        ({"x-amz-apigw-id": "BfnqkF0IvHcFpZw="}, ("x-amz-apigw-id", "BfnqkF0IvHcFpZw=")),
        (
            {"X-Amzn-Trace-Id": "Root=1-67891233-abcdef012345678912345678"},
            ("x-amzn-trace-id", "1-67891233-abcdef012345678912345678"),
        ),
        (
            {"X-Amzn-Trace-Id": "Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678"},
            ("x-amzn-trace-id", "1-67891233-abcdef012345678912345678"),
        ),
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            ("traceparent", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
        (
            # Malformed traceparents are skipped, so the next header in the list wins.
            {
                "traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124",
            },
            ("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
        ),
        ({"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, None),
        ({"traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}, None),
        ({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}, None),
        ({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}, None),
        (
            {"traceparent": "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"},
            ("traceparent", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
        (
            {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
            ("x-cloud-trace-context", "105445aa7843bc8bf206b12000100000"),
        ),
        ({"CF-RAY": "8c1c5a2b9f0e1234-SJC"}, ("cf-ray", "8c1c5a2b9f0e1234-SJC")),
        (
            {"X-Amz-Cf-Id": "Q3k6b0XEpRVhTRxYqL9Yf2eGUoaXzy4c6K3ylpMZcQ-pwbDGLdYTUw=="},
            ("x-amz-cf-id", "Q3k6b0XEpRVhTRxYqL9Yf2eGUoaXzy4c6K3ylpMZcQ-pwbDGLdYTUw=="),
        ),
        (
            {"apim-request-id": "0f8b5c2e-4c5b-4f3a-9d3e-2a1b0c9d8e7f"},
            ("apim-request-id", "0f8b5c2e-4c5b-4f3a-9d3e-2a1b0c9d8e7f"),
        ),
        (
            {"X-Slack-Req-Id": "c9bec20d-4691-4239-a6ae-cad184d3c7ee"},
            ("x-slack-req-id", "c9bec20d-4691-4239-a6ae-cad184d3c7ee"),
        ),
        ({"x-request-id": "   ", "request-id": "second"}, ("request-id", "second")),
        ([("x-request-id", ""), ("x-request-id", "later-line")], ("x-request-id", "later-line")),
        ({"x-request-id": "a" * 500}, ("x-request-id", "a" * 200)),
        ({"content-type": "text/html"}, None),
        ({}, None),
    ],
)
def test_find_request_id(headers: dict[str, str] | list[tuple[str, str]], expected: tuple[str, str] | None) -> None:
    assert find_request_id(headers) == expected


def test_request_id_headers_are_lower_case_and_unique() -> None:
    assert all(name == name.lower() for name in REQUEST_ID_HEADERS)
    assert len(set(REQUEST_ID_HEADERS)) == len(REQUEST_ID_HEADERS)
    assert {"x-request-id", "request-id", "cf-ray", "traceparent", "x-amzn-trace-id"} <= set(REQUEST_ID_HEADERS)
