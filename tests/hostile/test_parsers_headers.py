"""Every public header parser is total: any text (lone surrogates, any bytes, hostile repetitions) gives a
value of its documented type, never an exception; megabyte values are read up to FIELD_VALUE_LIMIT."""

from __future__ import annotations

import math

import pytest
from hostile_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from parser_inputs import ANY_TEXT, HEADER_VALUES, HEADERS, NOW

from upstreamkit.core._header_view import (
    FIELD_COUNT_LIMIT,
    FIELD_VALUE_LIMIT,
    MEMBER_LIMIT,
    HeadersLike,
    clip_list,
    field_values,
    next_comma,
)
from upstreamkit.core.headers import (
    REQUEST_ID_HEADERS,
    RETRY_AFTER_CEILING,
    BearerError,
    Challenge,
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

MB = 1 << 20


@FUZZ
@given(HEADERS)
def test_header_view_takes_any_headers(headers: HeadersLike | None) -> None:
    view = header_view(headers)
    for name, value in view.items():
        assert isinstance(name, str)
        assert isinstance(value, str)
        assert value in view.get_all(name)
        assert name.lower() in view.joined()


@FUZZ
@given(HEADER_VALUES, st.integers(0, 100))
def test_list_members_end_at_commas_outside_strings(value: str, start: int) -> None:
    pos = next_comma(value, min(start, len(value)))
    assert pos == len(value) or value[pos] == ","
    if '"' not in value[start:]:
        assert pos == (value.find(",", start) if "," in value[start:] else len(value))
    members = clip_list(value)
    assert value.startswith(members)
    assert len(members) <= FIELD_VALUE_LIMIT


@FUZZ
@given(HEADER_VALUES)
def test_parse_http_date_is_total(value: str) -> None:
    result = parse_http_date(value)
    assert result is None or math.isfinite(result)


@FUZZ
@given(st.one_of(st.none(), HEADER_VALUES), NOW)
def test_parse_retry_after_is_total_and_bounded(value: str | None, now: float | None) -> None:
    result = parse_retry_after(value, now)
    assert result is None or 0.0 <= result <= RETRY_AFTER_CEILING


@FUZZ
@given(HEADERS, NOW)
def test_rate_limit_parsers_are_total(headers: HeadersLike | None, now: float | None) -> None:
    found = parse_rate_limits(header_view(headers), now)
    for rate_limit in found:
        assert isinstance(rate_limit, RateLimit)
        assert rate_limit.limit is None or rate_limit.limit >= 0
        assert rate_limit.remaining is None or rate_limit.remaining >= 0
        assert rate_limit.reset_after is None or (math.isfinite(rate_limit.reset_after) and rate_limit.reset_after >= 0)
        assert rate_limit.window is None or math.isfinite(rate_limit.window)
    chosen = parse_rate_limit(header_view(headers), now)
    assert (chosen is None) == (not found)


@FUZZ
@given(HEADER_VALUES)
def test_parse_www_authenticate_is_total(value: str) -> None:
    for challenge in parse_www_authenticate(value):
        assert isinstance(challenge, Challenge)
        assert challenge.scheme
        assert all(name == name.lower() for name in challenge.params)


@FUZZ
@given(HEADERS)
def test_bearer_error_is_total(headers: HeadersLike | None) -> None:
    found = bearer_error(header_view(headers))
    assert found is None or isinstance(found, BearerError)


@FUZZ
@given(HEADER_VALUES)
def test_parse_proxy_status_is_total(value: str) -> None:
    assert all(isinstance(entry, ProxyStatusEntry) for entry in parse_proxy_status(value))


_EXTRA_VALUES = st.one_of(st.booleans(), st.integers(), st.floats(), ANY_TEXT)
ENTRIES = st.lists(
    st.builds(
        ProxyStatusEntry,
        proxy=ANY_TEXT,
        error=st.none() | ANY_TEXT,
        details=st.none() | ANY_TEXT,
        received_status=st.none() | st.integers(),
        next_hop=st.none() | ANY_TEXT,
        next_protocol=st.none() | ANY_TEXT,
        rcode=st.none() | ANY_TEXT,
        info_code=st.none() | st.integers(),
        extra=st.dictionaries(ANY_TEXT, _EXTRA_VALUES, max_size=3),
    ),
    max_size=4,
)


@FUZZ
@given(ENTRIES)
def test_format_proxy_status_takes_any_entries(entries: list[ProxyStatusEntry]) -> None:
    value = format_proxy_status(entries)
    assert value.isascii()
    assert len(parse_proxy_status(value)) <= len(entries)


@FUZZ
@given(HEADERS)
def test_find_request_id_is_total(headers: HeadersLike | None) -> None:
    found = find_request_id(header_view(headers))
    if found is not None:
        name, request_id = found
        assert name in REQUEST_ID_HEADERS
        assert 1 <= len(request_id) <= 200


# --------------------------------------------------------------------------------------------------
# Megabyte values of the shapes that made the parsers slow or deep (the time each takes is measured in
# bench/, not asserted here: these pin the results).

HOSTILE_UNITS = ['"', ",", "\\", " ", "=", ";", "a=", 'a="', "a=b,", "Bearer ", "x=", '"\\', "\ud800", "9"]


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_megabyte_values_give_results(unit: str) -> None:
    value = unit * (MB // len(unit))
    names = ("retry-after", "www-authenticate", "proxy-status", "ratelimit", "ratelimit-policy", "date")
    headers = dict.fromkeys(names, value)
    assert parse_retry_after(value, 0.0) == (RETRY_AFTER_CEILING if unit == "9" else None)
    assert parse_http_date(value) is None
    assert isinstance(parse_www_authenticate(value), list)
    assert isinstance(parse_proxy_status(value), list)
    assert isinstance(parse_rate_limits(headers, 0.0), list)
    assert bearer_error(headers) is None or unit in {"Bearer ", "a=b,"}


def test_a_megabyte_challenge_keeps_what_comes_before_the_limit() -> None:
    # The value is cut at its last comma before the limit: the parameter that runs past it is dropped whole.
    value = 'Bearer error="invalid_token", error_description="' + "x" * MB + '"'
    assert bearer_error({"WWW-Authenticate": value}) == BearerError("invalid_token", None, None, None)
    # Without a comma to cut at, the value is cut at the limit: an unterminated string keeps what it has.
    found = bearer_error({"WWW-Authenticate": 'Bearer error_description="' + "x" * MB + '"'})
    assert found is not None
    assert found.description == "x" * (FIELD_VALUE_LIMIT - len('Bearer error_description="'))


def test_a_long_list_is_read_up_to_the_limit_and_cut_between_members() -> None:
    member = "edge;error=connection_timeout"
    entries = parse_proxy_status(", ".join([member] * 100_000))
    assert 0 < len(entries) <= FIELD_VALUE_LIMIT // len(member)
    assert {entry.error for entry in entries} == {"connection_timeout"}


def test_a_list_is_read_up_to_its_member_limit() -> None:
    entries = parse_proxy_status(", ".join(['p;d="a,b"'] * 5000))  # 12 characters a member: within 16 KiB
    assert len(entries) == MEMBER_LIMIT
    assert {entry.extra["d"] for entry in entries} == {"a,b"}


def test_a_challenge_list_is_read_up_to_its_member_limit() -> None:
    assert len(parse_www_authenticate(", ".join(["Basic"] * 5000))) == MEMBER_LIMIT
    (challenge,) = parse_www_authenticate("Bearer " + ", ".join(f"p{index}=v" for index in range(2000)))
    assert list(challenge.params) == [f"p{index}" for index in range(MEMBER_LIMIT)]


def test_repeated_lines_share_one_limit() -> None:
    lines = [("WWW-Authenticate", 'Bearer error="invalid_token"')] + [("WWW-Authenticate", "Basic")] * 200_000
    found = bearer_error(lines)
    assert found is not None
    assert found.error == "invalid_token"
    late = [("WWW-Authenticate", "Basic " + "x" * 100)] * 200 + [("WWW-Authenticate", 'Bearer error="invalid_token"')]
    assert bearer_error(late) is None  # past FIELD_VALUE_LIMIT characters of lines: not read


def test_repeated_big_lines_are_joined_only_as_far_as_the_limit() -> None:
    view = header_view([("RateLimit", "a" * 100_000)] * 200 + [("Retry-After", "1")])
    values = field_values(view)
    assert values["ratelimit"] == "a" * FIELD_VALUE_LIMIT
    assert values["retry-after"] == "1"
    assert parse_rate_limits(view) == []


def test_a_view_keeps_the_first_fields_only() -> None:
    pairs = [(f"x-field-{index}", "v") for index in range(200_000)] + [("x-request-id", "late")]
    view = header_view(pairs)
    assert len(view) == FIELD_COUNT_LIMIT
    assert view.items()[-1] == (f"x-field-{FIELD_COUNT_LIMIT - 1}", "v")
    assert find_request_id(pairs) is None


def test_formatting_bounds_every_text() -> None:
    entry = ProxyStatusEntry(
        proxy="p" * MB, error="e" * MB, details="\ud800" * MB, next_protocol="\ud800" * MB, extra={"k" * 65: 1}
    )
    value = format_proxy_status([entry])
    assert value.isascii()
    assert len(value) < 5 * 1024
    (parsed,) = parse_proxy_status(value)
    assert parsed.proxy == "p" * 1024
    assert parsed.details == "?" * 1024
    assert parsed.extra == {}


def test_a_megabyte_request_id_is_cut() -> None:
    assert find_request_id({"x-request-id": "a" * MB}) == ("x-request-id", "a" * 200)
    assert find_request_id({"traceparent": "00-" * (MB // 3)}) is None


def test_a_megabyte_of_digits_is_the_ceiling_not_an_overflow() -> None:
    assert parse_retry_after("9" * MB) == RETRY_AFTER_CEILING
    assert parse_rate_limits({"x-ratelimit-remaining": "9" * MB, "x-ratelimit-reset": "1" * MB}, 0.0) == []
