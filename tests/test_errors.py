"""The error taxonomy: one class per kind, picklable, readable and redacted."""

from __future__ import annotations

import pickle

import pytest

import upstreamkit.errors as errors_module
from upstreamkit import ErrorKind, Hop, UpstreamError, make_error, redact_text
from upstreamkit.errors import (
    AuthError,
    CircuitOpenError,
    DNSError,
    PolicyError,
    RateLimitedError,
    ResponseError,
    TransportError,
    error_class,
)

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_has_exactly_one_leaf_class_named_in_the_docstring(kind: ErrorKind) -> None:
    cls = error_class(kind)
    assert kind in cls.kinds
    assert issubclass(cls, UpstreamError)
    assert cls is not UpstreamError
    owners = [c for c in _all_classes() if kind in c.kinds]
    assert owners == [cls]
    doc = errors_module.__doc__ or ""
    assert kind.value in doc or "_size" in kind.value or "_coding" in kind.value, f"{kind} not drawn in the tree"


def _all_classes() -> list[type[UpstreamError]]:
    out: list[type[UpstreamError]] = []
    pending = [UpstreamError]
    while pending:
        cls = pending.pop()
        out.append(cls)
        pending.extend(cls.__subclasses__())
    return out


def test_the_tree_sorts_kinds_by_where_they_happen() -> None:
    assert isinstance(make_error("dns_error"), DNSError)
    assert isinstance(make_error("dns_error"), TransportError)
    assert isinstance(make_error("auth_expired"), AuthError)
    assert isinstance(make_error("rate_limited"), RateLimitedError)
    assert isinstance(make_error("rate_limited"), ResponseError)
    assert isinstance(make_error("circuit_open"), CircuitOpenError)
    assert isinstance(make_error("budget_exhausted"), PolicyError)


def test_rfc9209_kinds_are_marked() -> None:
    assert ErrorKind.DNS_ERROR.is_rfc9209
    assert ErrorKind.PROXY_LOOP_DETECTED.is_rfc9209
    assert not ErrorKind.AUTH_EXPIRED.is_rfc9209
    assert not ErrorKind.UPSTREAM_600.is_rfc9209


def test_fields_are_carried() -> None:
    error = make_error(
        "rate_limited",
        "slow down",
        request_sent=True,
        attempts=3,
        retry_after=12.5,
        request_id="req-1",
        upstream="https://api.example.com/v1/charges",
        hop="gateway",
        status=429,
    )
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.attempts == 3
    assert error.retry_after == 12.5
    assert error.request_id == "req-1"
    assert error.hop is Hop.GATEWAY
    assert error.status == 429
    text = str(error)
    assert text.startswith("rate_limited: slow down")
    for part in ("status=429", "attempts=3", "retry_after=12.5s", "request_id=req-1", "hop=gateway"):
        assert part in text
    assert error.to_dict()["error"] == "RateLimitedError"


def test_pickle_round_trip_keeps_class_and_fields() -> None:
    error = make_error("connection_refused", "refused", request_sent=False, attempts=2, upstream="http://h:1")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.kind == error.kind
    assert copy.request_sent is False
    assert copy.attempts == 2
    assert str(copy) == str(error)
    assert repr(copy) == repr(error)


def test_secrets_never_reach_str_repr_or_pickle() -> None:
    error = make_error(
        "auth_invalid",
        f"rejected Authorization: Bearer {SECRET} for https://user:{SECRET}@api.example.com/?api_key={SECRET}",
        upstream=f"https://user:{SECRET}@api.example.com/v1?token={SECRET}",
        request_id=SECRET,
    )
    for text in (str(error), repr(error), error.message, str(error.to_dict()), pickle.dumps(error).decode("latin-1")):
        assert SECRET not in text
    assert "sha256:" in str(error)


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not_a_kind"):
        make_error("not_a_kind")


KEY = "rk_Zq9xK2mP7vL4wR8tQ1"


@pytest.mark.parametrize(
    "upstream",
    [
        f"https://{KEY}:@api.stripe.com/v1/charges",  # the key as the username, empty password
        f"https://{KEY}@api.example.com/",  # the token as the whole userinfo
        f"https://user:{KEY}@api.example.com/",
        f"{KEY}:@api.example.com/v1",  # no scheme: still userinfo
        f"https://api.example.com/v1?api_key={KEY}",
    ],
)
def test_an_unredacted_upstream_is_redacted_by_the_error_type(upstream: str) -> None:
    # Adapters are expected to pass redacted URLs; the error type does not rely on it.
    error = make_error("connection_refused", f"could not reach {upstream}", upstream=upstream, request_id="req-42")
    for text in (str(error), repr(error), str(error.args), pickle.dumps(error).decode("latin-1"), str(error.to_dict())):
        assert KEY not in text
    assert "sha256:" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)


def test_fields_set_after_construction_are_redacted_too() -> None:
    error = make_error("auth_invalid", "rejected")
    error.message = f"Authorization: SSWS {KEY}"
    error.upstream = f"https://{KEY}:@h/"
    error.request_id = f"token={KEY}"
    error.args = (f"password={KEY}",)
    for text in (str(error), repr(error), str(error.args), pickle.dumps(error).decode("latin-1")):
        assert KEY not in text
    assert error.message.startswith("Authorization: SSWS sha256:")  # the scheme word stays readable
    assert error.args == (redact_text(f"password={KEY}"),)


@pytest.mark.parametrize("message", ["\ud800 lone surrogate", "bytes \udcff", "x" * 100_000, "", "\x00"])
def test_any_message_builds_an_error(message: str) -> None:
    error = make_error("upstream_600", message)
    assert isinstance(str(error), str)
    str(error).encode("utf-8")  # no lone surrogate survives redaction
    assert pickle.loads(pickle.dumps(error)).message == error.message
