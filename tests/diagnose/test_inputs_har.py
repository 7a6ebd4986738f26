"""--har: the request of a browser's HAR export, the failing one by default."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from upstreamkit.diagnose.inputs import InputError, parse_har

FIXTURES = Path(__file__).parent / "fixtures"
CHROME = FIXTURES / "chrome_export.har"
JWT_SIGNATURE = "Pl4nt3dSigK7vQ9xLm2Rt7Yp0aBcDeFgHiJkLmNoPqRsTuVwXyZ_AbCdEfG-hIjK"
ORDER_BODY = b'{"customer":"c_9187","items":[{"sku":"CAFE-250","qty":2}],"card":{"token":"tok_Pl4nt3dC4rdT0k3n77"}}'


def test_default_is_the_last_failing_entry_the_401() -> None:
    parsed = parse_har(CHROME)
    request = parsed.request
    assert request.method == "POST"
    assert request.url == "https://api.example.com/v1/orders?expand=items"
    assert request.body == ORDER_BODY
    names = [name for name, _ in request.headers]
    assert not any(name.startswith(":") for name in names)  # HTTP/2 pseudo-headers dropped
    assert "content-length" not in names
    assert names == [
        "accept",
        "accept-encoding",
        "accept-language",
        "authorization",
        "cookie",
        "content-type",
        "origin",
        "priority",
        "referer",
        "sec-fetch-mode",
        "user-agent",
    ]
    assert (request.header("authorization") or "").endswith(JWT_SIGNATURE)
    assert request.header("cookie") == "session=sess_Pl4nt3dCook1e9f8e7d; _ga=GA1.1.1234567890.1717990000"
    assert request.header("content-type") == "application/json"
    assert parsed.source == (
        "HAR entry 1 of 3 (the last failing one): POST https://api.example.com/v1/orders?expand=items → 401"
    )
    assert JWT_SIGNATURE not in parsed.source


def test_pick_by_index_and_by_url() -> None:
    first = parse_har(CHROME, entry=0)
    assert (first.request.method, first.request.url, first.request.body) == (
        "GET",
        "https://api.example.com/v1/me",
        None,
    )
    assert parse_har(CHROME, entry=-1).request.url == "https://api.example.com/v1/config?locale=en-GB"
    by_url = parse_har(CHROME, url_contains="/v1/config")
    assert by_url.request.url == "https://api.example.com/v1/config?locale=en-GB"
    assert "the first URL containing '/v1/config'" in by_url.source
    assert parse_har(CHROME, url_contains="api.example.com").request.url == "https://api.example.com/v1/me"


def har(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}}


def entry(url: str, status: int, body: str = "", **request: Any) -> dict[str, Any]:
    return {
        "startedDateTime": "2024-06-10T08:00:00.000Z",
        "request": {"method": "GET", "url": url, "headers": [], "queryString": [], "cookies": [], **request},
        "response": {
            "status": status,
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"size": len(body), "mimeType": "application/json", "text": body},
        },
    }


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "capture.har"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_without_failures_the_last_entry(tmp_path: Path) -> None:
    path = write(tmp_path, har([entry("https://a.test/1", 200), entry("https://a.test/2", 204)]))
    parsed = parse_har(path)
    assert parsed.request.url == "https://a.test/2"
    assert "no entry failed; the last one" in parsed.source


@pytest.mark.parametrize(
    ("failing", "why"),
    [
        (entry("https://a.test/blocked", 0), "no response"),
        (entry("https://a.test/raw600", 600), "raw 600"),
        (entry("https://a.test/env600", 200, '{"code": 600, "error": "upstream_error"}'), "600 envelope in a 200"),
        (
            entry(
                "https://a.test/b64",
                200,
                base64.b64encode(b'{"code": 600, "error": "gateway_timeout"}').decode(),
            ),
            "base64 content",
        ),
        (entry("https://a.test/503", 503, "oops"), "5xx"),
    ],
)
def test_what_counts_as_failing(tmp_path: Path, failing: dict[str, Any], why: str) -> None:
    if why == "base64 content":
        failing["response"]["content"]["encoding"] = "base64"
    path = write(tmp_path, har([entry("https://a.test/1", 200), failing, entry("https://a.test/3", 200)]))
    assert parse_har(path).request.url == failing["request"]["url"], why


def test_non_web_entries_are_skipped_unless_asked(tmp_path: Path) -> None:
    path = write(tmp_path, har([entry("https://a.test/1", 200), entry("data:image/png;base64,AAAA", 200)]))
    assert parse_har(path).request.url == "https://a.test/1"
    with pytest.raises(InputError, match="entry 1 is not an http"):
        parse_har(path, entry=1)


def test_query_cookies_params_host_and_hop_by_hop(tmp_path: Path) -> None:
    request = {
        "method": "post",
        "headers": [
            {"name": "Host", "value": "a.test:443"},
            {"name": "Connection", "value": "keep-alive"},
            {"name": "Transfer-Encoding", "value": "chunked"},
            {"name": "X-Keep", "value": "1"},
        ],
        "queryString": [{"name": "q", "value": "a b"}],
        "cookies": [{"name": "sid", "value": "s1"}, {"name": "t", "value": "2"}],
        "postData": {"mimeType": "application/x-www-form-urlencoded", "params": [{"name": "x", "value": "1&2"}]},
    }
    vhost = {**request, "headers": [{"name": "Host", "value": "internal.a.test"}], "postData": None}
    path = write(
        tmp_path, har([entry("https://a.test/f#frag", 401, **request), entry("https://a.test/v", 200, **vhost)])
    )
    parsed = parse_har(path)
    assert parsed.request.method == "POST"
    assert parsed.request.url == "https://a.test/f?q=a%20b"
    assert parsed.request.headers == (
        ("X-Keep", "1"),
        ("Cookie", "sid=s1; t=2"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    )
    assert parsed.request.body == b"x=1%262"
    other = parse_har(path, entry=1)
    assert other.request.headers[0] == ("Host", "internal.a.test")  # a different Host is a vhost test: kept
    assert other.request.url == "https://a.test/v?q=a%20b"


def test_malformed_fixtures() -> None:
    with pytest.raises(InputError, match=r"is not valid JSON \(line 1 column 1: Expecting value\)"):
        parse_har(FIXTURES / "malformed_not_json.har")
    with pytest.raises(InputError, match=r"is not a HAR file: it has no log\.entries list"):
        parse_har(FIXTURES / "malformed_no_entries.har")


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (har([]), {}, "has no entries"),
        ([1, 2], {}, "is not a HAR file"),
        (har([{"request": {"method": "GET"}}]), {}, "entry 0 has no request with a url"),
        (har([entry("https://a.test/", 200)]), {"entry": 3}, "HAR entry 3 is out of range: the file has 1 (0..0)"),
        (har([entry("https://a.test/", 200)]), {"entry": -2}, "HAR entry -2 is out of range"),
        (
            har([entry("https://a.test/", 200)]),
            {"url_contains": "/nope"},
            "no http(s) entry has a URL containing '/nope'",
        ),
        (har([entry("https://a.test/", 200)]), {"entry": 0, "url_contains": "a"}, "not both"),
        (har([entry("chrome-extension://x/y", 200)]), {}, "has no http or https entry"),
    ],
)
def test_errors_name_the_problem(tmp_path: Path, data: object, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_har(write(tmp_path, data), **kwargs)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read HAR file .*missing\.har.*No such file"):
        parse_har(tmp_path / "missing.har")
    (tmp_path / "latin1.har").write_bytes(b"\xff\xfe{")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        parse_har(tmp_path / "latin1.har")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.har"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(har([entry("https://a.test/x", 500)])).encode())
    assert parse_har(path).request.url == "https://a.test/x"
