"""The transport's hot-path header helpers agree with httpx's public Headers API, on httpx's internals and
without them (the fallback), so a change in httpx fails here and not in a user's request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import httpx
import pytest

from upstreamkit.adapters.httpx import _commands
from upstreamkit.adapters.httpx._commands import BODY_READ_LIMIT, should_read_body, upstream_key
from upstreamkit.adapters.httpx._fastheaders import add_header, ensure_header, header, lower_names, teaches_nothing
from upstreamkit.core.classify import is_plain_success

RAW = [("Content-Type", "application/json"), ("X-Request-Id", "abc"), ("x-request-id", "second"), ("Date", "x")]


class _Opaque:
    """Headers without httpx's internal list (a future httpx): the helpers must use the public API."""

    def __init__(self, headers: httpx.Headers) -> None:
        self._headers = headers

    def get(self, name: str) -> str | None:
        return self._headers.get_list(name)[0] if name in self._headers else None

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._headers.multi_items())

    def __setitem__(self, name: str, value: str) -> None:
        self._headers[name] = value


@pytest.mark.parametrize("opaque", [False, True])
def test_reads_agree_with_the_public_api(opaque: bool) -> None:
    headers = httpx.Headers(RAW)
    probe = cast("httpx.Headers", _Opaque(headers)) if opaque else headers
    assert header(probe, b"x-request-id") == headers.get_list("x-request-id")[0]
    assert header(probe, b"content-type") == headers["content-type"]
    assert header(probe, b"missing") is None
    assert lower_names(probe) == [name.lower() for name, _ in headers.multi_items()]


def test_the_fallback_adds_through_the_public_api() -> None:
    headers = httpx.Headers({"accept": "*/*"})
    add_header(cast("httpx.Headers", _Opaque(headers)), "X-Request-Id", "0123abcd")
    assert headers["x-request-id"] == "0123abcd"


def test_an_added_header_is_seen_by_httpx() -> None:
    headers = httpx.Headers({"accept": "*/*"})
    add_header(headers, "X-Request-Id", "0123abcd")
    assert headers["x-request-id"] == "0123abcd"
    assert headers.raw[-1] == (b"X-Request-Id", b"0123abcd")
    request = httpx.Request("GET", "https://example.test/", headers=headers)
    assert request.headers["X-Request-Id"] == "0123abcd"


@pytest.mark.parametrize("opaque", [False, True])
@pytest.mark.parametrize(
    ("raw", "quiet"),
    [
        ([("Content-Type", "application/json")], True),
        ([("Retry-After", "3")], False),
        ([("X-RateLimit-Remaining", "0")], False),
        ([("RateLimit-Policy", "10;w=60")], False),
        ([("X-Rate-Limit-Reset", "5")], False),
    ],
)
def test_teaches_nothing_agrees_with_the_classifiers_names(
    raw: list[tuple[str, str]], quiet: bool, opaque: bool
) -> None:
    headers = httpx.Headers(raw)
    probe = cast("httpx.Headers", _Opaque(headers)) if opaque else headers
    assert teaches_nothing(probe) is quiet
    assert is_plain_success(200, [name.lower() for name, _ in raw], b"{}") is quiet


class _PublicURL:
    """A URL without httpx's parsed reference (a future httpx): upstream_key must use the public API."""

    def __init__(self, url: httpx.URL) -> None:
        self.raw_scheme, self.netloc = url.raw_scheme, url.netloc
        self.scheme, self.host, self.port = url.scheme, url.host, url.port


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/x", "https://API.Example.com/v1?q=1", "http://example.com/", "https://[::1]:8443/a",
        "http://user:pw@example.com:8080/", "https://xn--bcher-kva.example/", "https://bücher.example/",
    ],
)  # fmt: skip
def test_upstream_keys_agree_with_the_public_api(url: str) -> None:
    parsed = httpx.URL(url)
    scheme = parsed.scheme
    expected = f"{scheme}://{parsed.host}:{parsed.port or (443 if scheme == 'https' else 80)}"
    assert upstream_key(parsed) == expected
    assert upstream_key(cast("httpx.URL", _PublicURL(parsed))) == expected
    # A second URL to the same upstream finds the same cached key; another port does not.
    assert upstream_key(httpx.URL(url)) == expected
    assert upstream_key(parsed.copy_with(port=1234)).endswith(":1234")


@pytest.mark.parametrize("opaque", [False, True])
@pytest.mark.parametrize(
    ("raw", "expected", "made"),
    [
        ([("X-Request-Id", "abc")], "abc", False),  # the caller's id is kept
        ([("x-request-id", "first"), ("X-Request-Id", "second")], "first", False),
        ([("Accept", "*/*")], "made-1", True),  # none: one is made and added
        ([("X-Request-Id", "")], "made-1", True),  # empty: as if absent
    ],
)
def test_ensure_header_keeps_or_adds_once(opaque: bool, raw: list[tuple[str, str]], expected: str, made: bool) -> None:
    headers = httpx.Headers(raw)
    probe = cast("httpx.Headers", _Opaque(headers)) if opaque else headers
    calls: list[str] = []

    def make() -> str:
        calls.append(f"made-{len(calls) + 1}")
        return calls[-1]

    assert ensure_header(probe, b"x-request-id", "X-Request-Id", make) == expected
    assert len(calls) == int(made)
    if made:
        assert expected in headers.get_list("x-request-id")


def test_the_upstream_key_is_read_from_httpx_parsed_reference_today() -> None:
    """The quick read is in use on the installed httpx (else every key takes the public, slower way)."""
    assert _commands._REFERENCE is not None
    first, second = httpx.URL("http://a.example:81/same"), httpx.URL("http://b.example:81/same")
    assert (upstream_key(first), upstream_key(second)) == ("http://a.example:81", "http://b.example:81")


class _Response:
    """A response whose headers are given as they are (httpx's own would validate some away)."""

    def __init__(self, status: int, headers: httpx.Headers | _Opaque) -> None:
        self.status_code, self.headers = status, headers


@pytest.mark.parametrize("opaque", [False, True])
@pytest.mark.parametrize(
    "length",
    [None, b"0", b"12", b"0012", b"262144", b"262145", b"", b" 12", b"12 ", b"1e3", b"-1", b"+5", b"1_000",
     "\u0663".encode(), b"\xb2", b"9" * 40],
)  # fmt: skip
def test_should_read_body_agrees_with_reading_the_length_as_text(opaque: bool, length: bytes | None) -> None:
    raw = [(b"Content-Type", b"application/json")] + ([(b"Content-Length", length)] if length is not None else [])
    headers = httpx.Headers(raw)
    text = header(headers, b"content-length")
    # The definition: a declared length of ASCII digits (h11 refuses any other from a server; a transport that
    # makes its own responses may give "²", which str.isdigit() takes and int() refuses) within the limit.
    expected = text is not None and text.isascii() and text.isdigit() and int(text) <= BODY_READ_LIMIT
    probe = _Opaque(headers) if opaque else headers
    assert should_read_body(cast("httpx.Response", _Response(200, probe))) is expected
    assert should_read_body(cast("httpx.Response", _Response(503, probe))) is True  # failures: always
