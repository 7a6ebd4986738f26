"""Routes: prefix matching on segment boundaries, longest first, prefix stripping, and what never matches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upstreamkit.gateway.routes import Route, RouteError, RouteTable, parse_route


def _table(*specs: str) -> RouteTable:
    return RouteTable([parse_route(spec) for spec in specs])


@pytest.mark.parametrize(
    ("path", "query", "target"),
    [
        ("/pay/orders", "x=1", "/v1/orders?x=1"),
        ("/pay", "", "/v1"),
        ("/pay/", "", "/v1/"),
        ("/pay/a/b/c", "", "/v1/a/b/c"),
    ],
)
def test_prefix_stripped_and_joined_to_the_base_path(path: str, query: str, target: str) -> None:
    routed = _table("/pay=http://127.0.0.1:9000/v1").match(path, query)
    assert routed is not None
    assert routed.target == target
    assert routed.route.upstream == "pay"


def test_segment_boundaries_and_longest_prefix() -> None:
    table = _table("/pay=http://a:1/one", "/pay/refunds=http://b:2/two", "/=http://c:3")
    assert table.match("/payments") is not None
    routed = table.match("/payments")
    assert routed is not None
    assert routed.route.prefix == "/"  # "/pay" does not take "/payments"
    refund = table.match("/pay/refunds/7")
    assert refund is not None
    assert (refund.route.prefix, refund.target) == ("/pay/refunds", "/two/7")
    pay = table.match("/pay/refundsx")
    assert pay is not None
    assert (pay.route.prefix, pay.target) == ("/pay", "/one/refundsx")


@pytest.mark.parametrize(
    "path",
    ["", "*", "http://127.0.0.1:9000/v1", "pay/orders", "/pay/../admin", "/pay/./x", "/pay/%2e%2e/x", "/pay/.%2E"],
)
def test_never_routed(path: str) -> None:
    assert _table("/pay=http://127.0.0.1:9000/v1").match(path) is None


def test_unknown_prefix_has_no_route() -> None:
    assert _table("/pay=http://127.0.0.1:9000/v1").match("/other/x") is None


def test_host_header_and_origin() -> None:
    assert parse_route("/a=http://api.example:80/x").host_header == "api.example"
    assert parse_route("/a=https://api.example/x").origin == ("https", "api.example", 443)
    assert parse_route("/a=http://127.0.0.1:9000").host_header == "127.0.0.1:9000"
    assert parse_route("/a=http://[::1]:9000").host_header == "[::1]:9000"
    assert parse_route("/=http://h:1").upstream == "default"
    assert parse_route("/a/b/=http://h:1").prefix == "/a/b"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/pay", "expected /PREFIX=URL"),
        ("pay=http://h", "must start with '/'"),
        ("/pay=ftp://h", "http:// or https://"),
        ("/pay=http://", "has no host"),
        ("/pay=http://user:pw@h/", "credentials"),
        ("/pay=http://h/?q=1", "query"),
        ("/pay=http://h:99999/", "bad port"),
    ],
)
def test_bad_routes(spec: str, message: str) -> None:
    with pytest.raises(RouteError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_route(spec)


def test_duplicate_prefix() -> None:
    with pytest.raises(RouteError, match="twice"):
        _table("/pay=http://a:1", "/pay/=http://b:2")


def test_route_rejects_a_bad_prefix_directly() -> None:
    with pytest.raises(RouteError):
        Route(prefix="/a b", url="http://h:1", upstream="x")


_SEGMENT = st.text(alphabet="abcxyz0123-_", min_size=1, max_size=6)


@given(st.lists(_SEGMENT, min_size=1, max_size=4), st.lists(_SEGMENT, max_size=4))
def test_any_path_under_a_prefix_keeps_its_rest(prefix: list[str], rest: list[str]) -> None:
    prefix_path = "/" + "/".join(prefix)
    rest_path = "".join("/" + part for part in rest)
    routed = _table(f"{prefix_path}=http://h:1/base").match(prefix_path + rest_path)
    assert routed is not None
    assert routed.target == "/base" + rest_path
