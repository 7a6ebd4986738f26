"""The stale-if-error cache: what it keeps, under which key, for how long, and within what bounds."""

from __future__ import annotations

from typing import Any

import pytest

from upstreamkit.gateway.degrade import Fallback, StaleCache, cache_directives, fallback_from, stale_headers

Headers = list[tuple[bytes, bytes]]
_OK: Headers = [(b"content-type", b"application/json")]


def _store(cache: StaleCache, **options: Any) -> bool:
    arguments: dict[str, Any] = {
        "method": "GET", "upstream": "pay", "target": "/v1/orders?x=1", "request_headers": [], "status": 200,
        "headers": _OK, "body": b'{"ok":true}', "now": 0.0,
    }  # fmt: skip
    arguments.update(options)
    return cache.store(**arguments)


def _lookup(cache: StaleCache, **options: Any) -> Any:
    arguments: dict[str, Any] = {
        "method": "GET", "upstream": "pay", "target": "/v1/orders?x=1", "request_headers": [], "now": 10.0,
        "window": 60.0,
    }  # fmt: skip
    arguments.update(options)
    return cache.lookup(**arguments)


def _cache(**bounds: int) -> StaleCache:
    return StaleCache(max_entries=bounds.get("max_entries", 100), max_bytes=bounds.get("max_bytes", 1 << 20))


def test_a_good_get_is_served_within_the_window_and_not_after() -> None:
    cache = _cache()
    assert _store(cache)
    entry = _lookup(cache, now=60.0)
    assert (entry.status, entry.body) == (200, b'{"ok":true}')
    assert _lookup(cache, now=60.5) is None


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"method": "POST"}, "not a GET or HEAD"),
        ({"status": 503}, "not a good answer"),
        ({"status": 404}, "not a good answer"),
        ({"headers": [*_OK, (b"Set-Cookie", b"session=1")]}, "a cookie for one caller"),
        ({"headers": [(b"cache-control", b"no-store")]}, "no-store"),
        ({"headers": [(b"cache-control", b"max-age=5, private")]}, "private"),
        ({"headers": [(b"cache-control", b"must-revalidate")]}, "RFC 9111: never served stale"),
        ({"headers": [(b"vary", b"*")]}, "Vary: *"),
        ({"request_headers": [(b"authorization", b"Bearer t0ken")]}, "a credential, not configured"),
        ({"request_headers": [(b"cookie", b"session=abc")]}, "a session is a credential too"),
        ({"request_headers": [(b"cache-control", b"no-store")]}, "the request said no-store"),
        ({"body": b"x" * 2048}, "larger than the whole cache"),
    ],
)
def test_never_kept(options: dict[str, Any], why: str) -> None:
    cache = _cache(max_bytes=1024)
    assert not _store(cache, **options), why
    assert len(cache) == 0
    assert _lookup(cache, method=options.get("method", "GET")) is None


def test_key_is_method_upstream_and_target() -> None:
    cache = _cache()
    _store(cache)
    assert _lookup(cache) is not None
    assert _lookup(cache, method="HEAD") is None
    assert _lookup(cache, upstream="other") is None
    assert _lookup(cache, target="/v1/orders?x=2") is None


def test_vary_headers_join_the_key() -> None:
    cache = _cache()
    headers = [*_OK, (b"Vary", b"Accept-Language")]
    _store(cache, headers=headers, request_headers=[(b"accept-language", b"fr")], body=b"fr")
    _store(cache, headers=headers, request_headers=[(b"accept-language", b"de")], body=b"de")
    assert _lookup(cache, request_headers=[(b"Accept-Language", b"fr")]).body == b"fr"
    assert _lookup(cache, request_headers=[(b"accept-language", b"de")]).body == b"de"
    assert _lookup(cache, request_headers=[(b"accept-language", b"en")]) is None
    assert _lookup(cache) is None  # no Accept-Language: another variant
    assert len(cache) == 2


def test_authorized_requests_are_kept_per_credential_when_configured() -> None:
    cache = _cache()
    alice = [(b"authorization", b"Bearer alice-token")]
    bob = [(b"authorization", b"Bearer bob-token")]
    assert _store(cache, request_headers=alice, body=b"alice's", authorized=True)
    assert _lookup(cache, request_headers=alice, authorized=True).body == b"alice's"
    assert _lookup(cache, request_headers=bob, authorized=True) is None  # never another caller's response
    assert _lookup(cache, authorized=True) is None
    assert _lookup(cache, request_headers=alice) is None  # not configured on this lookup's route
    assert _lookup(cache, request_headers=[*alice, (b"cookie", b"s=1")], authorized=True) is None


def test_upstream_stale_if_error_and_freshness_set_the_window() -> None:
    cache = _cache()
    _store(cache, headers=[(b"cache-control", b"max-age=10, stale-if-error=5")])
    assert _lookup(cache, now=15.0, window=0.0) is not None  # 10 s fresh + the upstream's 5 s
    assert _lookup(cache, now=15.5, window=600.0) is None  # the upstream's own word wins over the route's


def test_age_counts_the_upstreams_age_and_the_time_kept() -> None:
    cache = _cache()
    _store(cache, headers=[*_OK, (b"Age", b"7"), (b"cache-control", b"max-age=30")], now=100.0)
    entry = _lookup(cache, now=150.0)
    headers = dict(
        stale_headers(
            entry, 150.0, gateway="edge-1", fwd_status=503, proxy_status=b"edge-1; error=upstream_outage",
            request_id="r-2",
        )
    )  # fmt: skip
    assert headers[b"age"] == b"57"
    assert headers[b"cache-status"] == b"edge-1; fwd=stale; fwd-status=503; ttl=-27; detail=stale-if-error"
    assert headers[b"proxy-status"] == b"edge-1; error=upstream_outage"
    assert headers[b"x-request-id"] == b"r-2"
    assert b"warning" not in headers
    assert [name for name, _ in stale_headers(entry, 150.0, gateway="a b", fwd_status=None, proxy_status=b"",
                                              request_id="r")].count(b"age") == 1  # fmt: skip
    quoted = dict(stale_headers(entry, 150.0, gateway="a b", fwd_status=None, proxy_status=b"", request_id="r"))
    assert quoted[b"cache-status"].startswith(b'"a b"; fwd=stale; ttl=')


def test_least_recently_used_goes_first_by_entries() -> None:
    cache = _cache(max_entries=2)
    _store(cache, target="/a")
    _store(cache, target="/b")
    assert _lookup(cache, target="/a") is not None  # /a used: /b is now the oldest
    _store(cache, target="/c")
    assert [_lookup(cache, target=t) is not None for t in ("/a", "/b", "/c")] == [True, False, True]
    assert len(cache) == 2


def test_bytes_bound_evicts_until_it_fits() -> None:
    cache = _cache(max_bytes=2000)
    for n in range(5):
        _store(cache, target=f"/{n}", body=b"x" * 500)
    assert cache.bytes <= 2000
    assert _lookup(cache, target="/4") is not None
    assert _lookup(cache, target="/0") is None
    _store(cache, target="/4", body=b"y")  # replacing an entry gives its bytes back
    assert cache.bytes < 2000
    assert _lookup(cache, target="/4").body == b"y"


def test_a_changed_vary_drops_the_older_variants() -> None:
    cache = _cache()
    _store(cache, headers=[(b"vary", b"accept")], request_headers=[(b"accept", b"a")])
    _store(cache, headers=[(b"vary", b"accept-language")], request_headers=[(b"accept-language", b"fr")])
    assert len(cache) == 1
    assert _lookup(cache, request_headers=[(b"accept-language", b"fr")]) is not None


def test_cache_control_parsing() -> None:
    headers = [(b"Cache-Control", b'max-age=10, Stale-If-Error="30"'), (b"cache-control", b"public")]
    assert cache_directives(headers) == {"max-age": "10", "stale-if-error": "30", "public": ""}


def test_fallback_from_text_or_file(tmp_path: Any) -> None:
    path = tmp_path / "down.json"
    path.write_bytes(b'{"degraded":true}')
    assert fallback_from(file=path, status=503).body == b'{"degraded":true}'
    assert fallback_from("maintenance", content_type="text/plain") == Fallback(200, "text/plain", b"maintenance")
    with pytest.raises(ValueError, match="exactly one"):
        fallback_from("a", file=path)
    with pytest.raises(ValueError, match="200-599"):
        Fallback(status=600)
    with pytest.raises(ValueError, match="control characters"):
        Fallback(content_type="text/plain\r\nx-evil: 1")


def test_bounds_must_hold_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        StaleCache(max_entries=0, max_bytes=10)
