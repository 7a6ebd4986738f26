"""Hypothesis strategies for hostile input: text with lone surrogates, header-ish text, hostile repetitions,
bodies of any bytes, and JSON nested to any depth.

Shared by the ``test_parsers_*`` property tests; sizes stay small enough for the quick profile, while the
megabyte shapes live in the plain regression tests beside the properties.
"""

from __future__ import annotations

import json
import string

from hypothesis import strategies as st

from upstreamkit.core.headers import REQUEST_ID_HEADERS

SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00"])
"""Lone surrogates: valid in a Python ``str`` and in JSON (``"\\ud800"``), not encodable as UTF-8."""

ANY_CHAR = st.one_of(st.characters(codec=None, exclude_categories=()), SURROGATES)
"""Any code point, surrogates included (hypothesis leaves them out of ``st.text()`` by default)."""

ANY_TEXT = st.text(ANY_CHAR, max_size=80)

HEADERISH = st.text(alphabet='0123456789.,;=-:"\\ \t?()@*%/abcdehmnqrstwxyzABRT\ud800', max_size=80)
"""Text that looks like header values often enough to reach the parsers' deep branches."""

# Characters and fragments that make parsers scan, backtrack or recurse, repeated up to a few thousand times.
_HOSTILE_UNITS = st.sampled_from(
    ['"', ",", "\\", " ", "\t", "=", ";", "a=", 'a="', "a=b,", "Bearer ", "x=", '"\\', "1", "9", ".", "1;w=",
     "[", "{", "(", "a, ", "ms", "1m", "Root=", "-", "00-", "\ud800", "é", "\x00", "\n"]
)  # fmt: skip
HOSTILE_REPEATS = st.builds(lambda unit, count: unit * count, _HOSTILE_UNITS, st.integers(0, 5000))

HEADER_VALUES = st.one_of(ANY_TEXT, HEADERISH, HOSTILE_REPEATS, st.text(alphabet=string.printable, max_size=80))

HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            *REQUEST_ID_HEADERS,
            "retry-after",
            "Retry-After",
            "date",
            "www-authenticate",
            "WWW-Authenticate",
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
            "x-ratelimit-resource",
            "x-rate-limit-reset",
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
            "x-amzn-errortype",
            "server",
            "cf-ray",
            "content-type",
        ]
    ),
    ANY_TEXT,
)

HEADER_MAPPINGS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=10)
"""Any mapping of text to text, surrogates included."""

HEADER_PAIRS = st.lists(
    st.tuples(
        st.one_of(HEADER_NAMES, st.binary(max_size=20)),
        st.one_of(HEADER_VALUES, st.binary(max_size=60)),
    ),
    max_size=10,
)
"""``(name, value)`` pairs of ``str`` or ``bytes`` (any bytes), names repeated at will."""

HEADERS = st.one_of(st.none(), HEADER_MAPPINGS, HEADER_PAIRS)

_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    ANY_TEXT,
    st.sampled_from([600, "600", " 600 ", "upstream_error", "gateway_timeout", "token expired", "rate limit"]),
)
_KEYS = st.one_of(
    st.sampled_from(["code", "status", "error", "errors", "message", "fault", "detail", "errorCode", "type"]),
    ANY_TEXT,
)
JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)
"""Decoded JSON of the shapes error envelopes take, strings with lone surrogates included."""


def _nest(depth: int, opener: str, core: str) -> str:
    closer = {"[": "]", "{": "}"}
    if opener == "{":
        return '{"error":' * depth + core + "}" * depth
    return opener * depth + core + closer[opener] * depth


DEEP_JSON_TEXT = st.builds(
    _nest,
    st.integers(0, 12_000),
    st.sampled_from(["[", "{"]),
    st.sampled_from(["1", '"\\ud800"', '{"code": 600}', "[]", "", '"x"']),
)
"""JSON text (or nearly: an empty core leaves it invalid) nested up to 12,000 levels."""

JSON_TEXT = st.one_of(
    JSON_VALUES.map(json.dumps),  # ensure_ascii: lone surrogates become "\\ud800" escapes
    JSON_VALUES.map(lambda value: json.dumps(value, ensure_ascii=False)),
    DEEP_JSON_TEXT,
)

BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    ANY_TEXT,
    JSON_TEXT,
    JSON_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),  # bytes that are not valid UTF-8
    HOSTILE_REPEATS,
)
"""Response bodies: any bytes, any text, JSON of any depth, as ``bytes`` or ``str``."""

NOW = st.one_of(st.none(), st.floats(min_value=0, max_value=4e9), st.floats())
