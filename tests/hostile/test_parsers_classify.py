"""classify and classify_exception are total: any status, any headers, any body (any bytes, lone
surrogates, JSON nested 10,000 deep), any exception (broken __str__, cyclic causes) give an Outcome whose
every text is well formed, never an exception."""

from __future__ import annotations

import itertools
import math
import socket
import ssl

import pytest
from hostile_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from parser_inputs import ANY_TEXT, BODIES, HEADERS, NOW

from upstreamkit.core.classify import Outcome, classify, classify_exception
from upstreamkit.core.headers import HeadersLike
from upstreamkit.errors import ErrorKind

MB = 1 << 20


def assert_well_formed(outcome: Outcome) -> None:
    """The outcome keeps its promises, and every text in it can be written as UTF-8 anywhere."""
    assert isinstance(outcome, Outcome)
    assert outcome.ok == (outcome.kind is None)
    assert outcome.retry_after is None or (math.isfinite(outcome.retry_after) and outcome.retry_after >= 0)
    for text in (outcome.explanation, *outcome.evidence, outcome.request_id or ""):
        assert isinstance(text, str)
        text.encode("utf-8")  # raises on a lone surrogate
    outcome.to_dict()


STATUSES = st.one_of(
    st.integers(),
    st.integers(100, 999),
    st.sampled_from([200, 401, 403, 407, 429, 502, 503, 504, 600]),
)


@FUZZ
@given(STATUSES, HEADERS, BODIES, NOW)
def test_classify_returns_an_outcome_for_any_response(
    status: int, headers: HeadersLike | None, body: bytes | str | None, now: float | None
) -> None:
    assert_well_formed(classify(status, headers, body, now=now))


class _BrokenStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message today")


class _NotAStrError(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]  # noqa: PLE0307  # the point: a __str__ that breaks its contract


class _BrokenAttributesError(OSError):
    @property
    def errno(self) -> int:  # type: ignore[override]
        raise RuntimeError("errno")

    @property
    def reason(self) -> object:
        raise RuntimeError("reason")


# Classes whose names classify_exception knows (httpx, urllib3, aiohttp share them), built on the fly.
_NAMED = st.sampled_from(
    ["ConnectError", "ReadTimeout", "ConnectTimeout", "ReadError", "RemoteProtocolError", "ProxyError",
     "NameResolutionError", "ClientPayloadError", "PoolTimeout", "TimeoutException", "Whatever"]
).map(lambda name: type(name, (Exception,), {}))  # fmt: skip
_CLASSES = st.one_of(
    _NAMED,
    st.sampled_from(
        [
            Exception,
            OSError,
            ConnectionRefusedError,
            ConnectionResetError,
            TimeoutError,
            socket.gaierror,
            ssl.SSLError,
            ssl.SSLCertVerificationError,
            KeyboardInterrupt,
            _BrokenStrError,
            _NotAStrError,
            _BrokenAttributesError,
        ]
    ),
)
_MESSAGES = st.one_of(
    ANY_TEXT,
    st.sampled_from(["connection refused", "timed out", "Name or service not known", "[SSL: x]", "Errno 104"]),
    st.builds(lambda unit, count: unit * count, st.sampled_from(["timeout ", "\ud800", "a"]), st.integers(0, 5000)),
)


@st.composite
def exceptions(draw: st.DrawFn) -> BaseException:
    """A chain of up to four exceptions of odd classes and messages, linked by cause, context or reason,
    possibly in a cycle."""
    chain: list[BaseException] = []
    for _ in range(draw(st.integers(1, 4))):
        cls = draw(_CLASSES)
        args = draw(st.lists(st.one_of(_MESSAGES, st.integers(-200, 200)), max_size=2))
        try:
            chain.append(cls(*args))
        except TypeError:  # a class whose constructor wants other arguments
            chain.append(cls())
    for outer, inner in itertools.pairwise(chain):
        link = draw(st.sampled_from(["__cause__", "__context__", "reason"]))
        if link == "reason" and isinstance(outer, _BrokenAttributesError):
            link = "__cause__"  # its reason is a property that raises
        setattr(outer, link, inner)
    if len(chain) > 1 and draw(st.booleans()):
        chain[-1].__context__ = chain[0]  # a cycle
    return chain[0]


@FUZZ
@given(exceptions())
def test_classify_exception_returns_an_outcome_for_any_exception(exc: BaseException) -> None:
    outcome = classify_exception(exc)
    assert_well_formed(outcome)
    assert outcome.kind is not None
    assert_well_formed(classify(exception=exc))


# --------------------------------------------------------------------------------------------------
# The concrete shapes that crashed or stalled classification.


@pytest.mark.parametrize("opener", [b"[", b'{"error":'])
def test_deeply_nested_json_is_an_outcome(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    outcome = classify(502, {}, opener * 10_000 + b"1" + closer * 10_000)
    assert_well_formed(outcome)
    assert outcome.kind is ErrorKind.UPSTREAM_OUTAGE


def test_a_lone_surrogate_in_a_json_body_is_replaced_in_the_outcome() -> None:
    outcome = classify(200, {}, b'{"code": 600, "error": "upstream_error", "message": "\\ud800 token expired"}')
    assert_well_formed(outcome)
    assert outcome.is_600
    assert outcome.kind is ErrorKind.AUTH_EXPIRED
    assert any("\ufffd token expired" in fact for fact in outcome.evidence)


def test_lone_surrogates_in_a_text_body_and_in_headers_are_replaced() -> None:
    outcome = classify(502, {"x-request-id": "id-\ud800", "www-authenticate": "\udfff"}, "bad \ud800 gateway")
    assert_well_formed(outcome)
    assert outcome.request_id == "id-\ufffd"


def test_invalid_utf8_in_a_body_is_an_outcome() -> None:
    outcome = classify(503, {}, b'\xff\xfe{"error": "\xed\xa0\x80 overloaded"}')
    assert_well_formed(outcome)
    assert outcome.kind is ErrorKind.UPSTREAM_OUTAGE


@pytest.mark.parametrize(
    "status", [-1, 0, 99, 1000, 2**64, -(10**5000)], ids=["-1", "0", "99", "1000", "2**64", "-10**5000"]
)
def test_a_status_outside_100_to_999_is_a_protocol_error(status: int) -> None:
    outcome = classify(status, {}, b"")
    assert_well_formed(outcome)
    assert outcome.kind is ErrorKind.HTTP_PROTOCOL_ERROR
    assert not outcome.ok


def test_a_call_with_nothing_to_classify_is_the_documented_error() -> None:
    with pytest.raises(ValueError, match="needs a status or an exception"):
        classify()


@pytest.mark.parametrize("unit", ['"', ",", "\\", "9", "a=b,", "\ud800"])
def test_megabyte_headers_and_bodies_give_clipped_evidence(unit: str) -> None:
    value = unit * (MB // len(unit))
    headers = {"retry-after": value, "www-authenticate": value, "proxy-status": value, "x-request-id": value}
    outcome = classify(401, headers, value)
    assert_well_formed(outcome)
    assert all(len(fact) < 1000 for fact in outcome.evidence)


def test_a_megabyte_retry_after_of_digits_is_clipped_in_the_evidence() -> None:
    outcome = classify(429, {"retry-after": "9" * MB}, b"")
    assert outcome.retry_after == 365 * 24 * 3600.0
    assert all(len(fact) < 300 for fact in outcome.evidence)


@pytest.mark.parametrize(
    "exc",
    [
        _BrokenStrError(),
        _NotAStrError(),
        _BrokenAttributesError(),
        OSError("\ud800 " * MB),
        type("Error" * (MB // 5), (Exception,), {"__module__": "\ud800" * MB})("x"),
    ],
    ids=["broken-str", "str-not-a-str", "broken-errno-and-reason", "megabyte-of-surrogates", "megabyte-names"],
)
def test_odd_exceptions_are_outcomes(exc: BaseException) -> None:
    outcome = classify_exception(exc)
    assert_well_formed(outcome)
    assert all(len(fact) < 1000 for fact in outcome.evidence)
