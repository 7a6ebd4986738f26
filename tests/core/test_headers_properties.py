"""Properties of the header parsers: total on any text, bounded outputs, Proxy-Status round trips."""

from __future__ import annotations

import math
import string
from email.utils import formatdate

from hypothesis import given, settings
from hypothesis import strategies as st

from upstreamkit.core.headers import (
    REQUEST_ID_HEADERS,
    RETRY_AFTER_CEILING,
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

EXAMPLES = settings(deadline=None, max_examples=150)

# Text that looks like header values often enough to reach deep branches, plus anything at all.
HEADERISH = st.one_of(
    st.text(),
    st.text(alphabet=string.printable),
    st.text(alphabet='0123456789.,;=-:"\\ ?()@*%abcdehmnqrstwxyzABR'),
    st.from_regex(r"[0-9]{1,30}(\.[0-9]{0,12})?", fullmatch=True),
)
NAMES = st.one_of(
    st.sampled_from(
        [
            *REQUEST_ID_HEADERS,
            "retry-after",
            "www-authenticate",
            "proxy-status",
            "ratelimit",
            "ratelimit-policy",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-reset-after",
            "x-ratelimit-used",
            "X-Rate-Limit-Reset",
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ]
    ),
    st.text(max_size=20),
)
STR_OR_BYTES = st.one_of(HEADERISH, st.binary(max_size=40))
HEADER_LISTS = st.lists(
    st.tuples(st.one_of(NAMES, NAMES.map(str.encode)), STR_OR_BYTES),
    max_size=8,
)
NOW = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=4e9),
    st.floats(allow_nan=True, allow_infinity=True),
)


@EXAMPLES
@given(HEADERISH)
def test_parse_http_date_is_total(value: str) -> None:
    result = parse_http_date(value)
    assert result is None or math.isfinite(result)


@EXAMPLES
@given(st.one_of(st.none(), HEADERISH), NOW)
def test_parse_retry_after_is_bounded(value: str | None, now: float | None) -> None:
    result = parse_retry_after(value, now)
    assert result is None or (math.isfinite(result) and 0.0 <= result <= RETRY_AFTER_CEILING)


@EXAMPLES
@given(st.integers(min_value=0, max_value=10**40))
def test_parse_retry_after_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == min(float(seconds), RETRY_AFTER_CEILING)


@EXAMPLES
@given(st.integers(min_value=-(2**31), max_value=2**33), st.integers(min_value=0, max_value=2**32))
def test_parse_retry_after_date_is_never_early(date: int, now: int) -> None:
    wait = parse_retry_after(formatdate(date, usegmt=True), now=float(now))
    assert wait == min(max(0.0, float(date - now)), RETRY_AFTER_CEILING)


@EXAMPLES
@given(HEADER_LISTS, NOW)
def test_header_functions_are_total_on_header_lists(
    headers: list[tuple[str | bytes, str | bytes]], now: float | None
) -> None:
    view = header_view(headers)
    assert len(view) == len(headers)
    assert all(name in view for name, _ in view.items())
    found = parse_rate_limits(view, now)
    assert all(isinstance(rate_limit, RateLimit) for rate_limit in found)
    for rate_limit in found:
        assert rate_limit.reset_after is None or (math.isfinite(rate_limit.reset_after) and rate_limit.reset_after >= 0)
        assert rate_limit.limit is None or rate_limit.limit >= 0
        assert rate_limit.remaining is None or rate_limit.remaining >= 0
    chosen = parse_rate_limit(view, now)
    assert (chosen is None) == (not found)
    assert chosen is None or chosen in found
    bearer_error(view)
    request_id = find_request_id(view)
    if request_id is not None:
        name, value = request_id
        assert name in REQUEST_ID_HEADERS
        assert 0 < len(value) <= 200


@EXAMPLES
@given(st.dictionaries(NAMES, HEADERISH, max_size=6), NOW)
def test_header_functions_are_total_on_mappings(headers: dict[str, str], now: float | None) -> None:
    parse_rate_limits(headers, now)
    bearer_error(headers)
    find_request_id(headers)
    assert HeaderView(headers).items() == [(name.strip(" \t"), value.strip(" \t")) for name, value in headers.items()]


@EXAMPLES
@given(HEADERISH)
def test_parse_www_authenticate_is_total(value: str) -> None:
    challenges = parse_www_authenticate(value)
    assert all(isinstance(challenge, Challenge) and challenge.scheme for challenge in challenges)
    bearer_error({"WWW-Authenticate": value})


TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
AUTH_TOKENS = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
QUOTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@EXAMPLES
@given(st.lists(st.tuples(AUTH_TOKENS, st.dictionaries(AUTH_TOKENS, QUOTABLE, max_size=4)), max_size=4))
def test_parse_www_authenticate_reads_what_was_written(challenges: list[tuple[str, dict[str, str]]]) -> None:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    value = ", ".join(
        f"{scheme} {', '.join(f'{name}={quote(v)}' for name, v in params.items())}".rstrip()
        for scheme, params in challenges
    )
    expected = []
    for scheme, params in challenges:
        lowered: dict[str, str] = {}
        for name, v in params.items():
            lowered.setdefault(name.lower(), v)
        expected.append(Challenge(scheme=scheme, params=lowered, token68=None))
    assert parse_www_authenticate(value) == expected


@EXAMPLES
@given(HEADERISH)
def test_parse_proxy_status_is_total(value: str) -> None:
    entries = parse_proxy_status(value)
    assert all(isinstance(entry, ProxyStatusEntry) for entry in entries)
    # Whatever parsed serializes back to the same entries.
    assert parse_proxy_status(format_proxy_status(entries)) == entries


SF_TOKENS = st.from_regex(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]{0,15}", fullmatch=True)
SF_STRINGS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
SF_KEYS = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,8}", fullmatch=True).filter(
    lambda key: key not in {"error", "details", "received-status", "next-hop", "next-protocol", "rcode", "info-code"}
)
SF_INTS = st.integers(min_value=-999_999_999_999_999, max_value=999_999_999_999_999)
EXTRA_VALUES = st.one_of(
    st.booleans(),
    SF_INTS,
    SF_STRINGS,
    st.decimals(min_value=-(10**9), max_value=10**9, places=3).map(float),
)
ENTRIES = st.builds(
    ProxyStatusEntry,
    proxy=st.one_of(SF_TOKENS, SF_STRINGS),
    error=st.none() | SF_TOKENS,
    details=st.none() | SF_STRINGS,
    received_status=st.none() | st.integers(min_value=100, max_value=999),
    next_hop=st.none() | SF_TOKENS | SF_STRINGS,
    next_protocol=st.none() | SF_TOKENS | st.text(max_size=10),
    rcode=st.none() | SF_STRINGS,
    info_code=st.none() | SF_INTS,
    extra=st.dictionaries(SF_KEYS, EXTRA_VALUES, max_size=3),
)


@EXAMPLES
@given(st.lists(ENTRIES, max_size=4))
def test_proxy_status_round_trip(entries: list[ProxyStatusEntry]) -> None:
    text = format_proxy_status(entries)
    assert text.isascii()
    assert parse_proxy_status(text) == entries


@EXAMPLES
@given(
    st.lists(
        st.builds(
            ProxyStatusEntry,
            proxy=st.text(max_size=10),
            error=st.none() | st.text(max_size=10),
            details=st.none() | st.text(max_size=10),
            received_status=st.none() | st.integers(),
            next_hop=st.none() | st.text(max_size=10),
            next_protocol=st.none() | st.text(max_size=10),
            rcode=st.none() | st.text(max_size=10),
            info_code=st.none() | st.integers(),
            extra=st.dictionaries(
                st.text(max_size=5),
                st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                max_size=3,
            ),
        ),
        max_size=3,
    )
)
def test_format_proxy_status_is_total(entries: list[ProxyStatusEntry]) -> None:
    text = format_proxy_status(entries)
    assert text.isascii()
    assert len(parse_proxy_status(text)) == len(entries)
