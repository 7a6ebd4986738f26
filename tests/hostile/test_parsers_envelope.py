"""The envelope reader is total: decode_json, find_600, envelope_text and reason_kind take any text and any
decoded JSON (lone surrogates, any depth, any size) and return their documented types, never raise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hostile_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from parser_inputs import ANY_TEXT, HOSTILE_REPEATS, JSON_TEXT, JSON_VALUES

from upstreamkit.core.envelope import (
    JSON_DEPTH_LIMIT,
    JSON_SIZE_LIMIT,
    REASON_SCAN_LIMIT,
    decode_json,
    envelope_text,
    find_600,
    reason_kind,
)
from upstreamkit.errors import ErrorKind

MB = 1 << 20


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, iteratively (the values tested here may be deep)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


@FUZZ
@given(st.one_of(JSON_TEXT, ANY_TEXT, HOSTILE_REPEATS))
def test_decode_json_is_total_and_returns_shallow_json(text: str) -> None:
    decoded = decode_json(text)
    if decoded is None:
        return
    assert isinstance(decoded, dict | list)
    assert _depth(decoded) <= JSON_DEPTH_LIMIT
    assert decoded == json.loads(text)


@FUZZ
@given(JSON_VALUES)
def test_decode_json_gives_back_what_json_dumps_wrote(value: Any) -> None:
    text = json.dumps(value)
    if isinstance(value, dict | list):
        assert decode_json(text) == value
    else:
        assert decode_json(text) is None  # a bare scalar is no envelope


@FUZZ
@given(st.one_of(JSON_VALUES, JSON_TEXT.map(decode_json)))
def test_envelope_functions_take_any_decoded_json(payload: Any) -> None:
    assert isinstance(find_600(payload), bool)
    words = envelope_text(payload)
    assert isinstance(words, str)
    words.encode("utf-8")  # well formed: a lone surrogate became U+FFFD
    assert reason_kind(words) is None or isinstance(reason_kind(words), ErrorKind)


@FUZZ
@given(st.one_of(ANY_TEXT, HOSTILE_REPEATS))
def test_reason_kind_takes_any_text(text: str) -> None:
    assert reason_kind(text) is None or isinstance(reason_kind(text), ErrorKind)


@FUZZ
@given(ANY_TEXT, ANY_TEXT)
def test_reason_kind_reads_text_case_insensitively(before: str, after: str) -> None:
    # The patterns are searched in lower-cased text; what they name must not depend on the case.
    text = f"{before} Gateway TIMEOUT {after}"
    assert reason_kind(text) == reason_kind(text.lower())


# --------------------------------------------------------------------------------------------------
# Concrete shapes


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_json_nested_ten_thousand_deep_is_none(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    assert decode_json(opener * 10_000 + "1" + closer * 10_000) is None
    assert decode_json(opener * MB) is None


def test_the_depth_limit_is_exact() -> None:
    assert decode_json("[" * JSON_DEPTH_LIMIT + "]" * JSON_DEPTH_LIMIT) is not None
    assert decode_json("[" * (JSON_DEPTH_LIMIT + 1) + "]" * (JSON_DEPTH_LIMIT + 1)) is None
    wide = {"errors": [{"error": {"code": 600}}] * 1000}
    assert decode_json(json.dumps(wide)) == wide


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    inside = {"message": "[" * 1000 + '\\"{' * 100, "code": 600}
    assert decode_json(json.dumps(inside)) == inside
    assert decode_json('["\\"[[[[", ' + "[" * 70 + "]" * 70 + "]") is None


@FUZZ
@given(st.integers(0, 200), st.sampled_from(["[", "{"]), ANY_TEXT)
def test_the_depth_measure_is_exact_for_valid_json(depth: int, opener: str, text: str) -> None:
    value: Any = text
    for _ in range(depth):
        value = [value] if opener == "[" else {"error": value}
    decoded = decode_json(json.dumps(value))
    assert (decoded is not None) == (1 <= depth <= JSON_DEPTH_LIMIT)


def test_the_size_limit_is_exact() -> None:
    fits = '{"message": "' + "x" * (JSON_SIZE_LIMIT - 15) + '"}'
    assert len(fits) == JSON_SIZE_LIMIT
    assert decode_json(fits) is not None
    assert decode_json(fits + " ") is None


def test_a_lone_surrogate_escape_decodes_and_reads_well_formed() -> None:
    decoded = decode_json('{"code": 600, "error": "upstream_error", "message": "\\ud800 gateway timeout"}')
    assert decoded is not None
    assert decoded["message"] == "\ud800 gateway timeout"
    assert find_600(decoded)
    assert envelope_text(decoded) == "upstream_error | \ufffd gateway timeout"
    assert reason_kind(envelope_text(decoded)) is ErrorKind.HTTP_RESPONSE_TIMEOUT


def test_reason_kind_reads_only_its_scan_limit() -> None:
    assert reason_kind("x" * (REASON_SCAN_LIMIT - 20) + " gateway timeout") is ErrorKind.HTTP_RESPONSE_TIMEOUT
    assert reason_kind("x" * REASON_SCAN_LIMIT + " gateway timeout") is None


@pytest.mark.parametrize("unit", ["a", "time", "token ", "x-", "connection ", "expired", "\ud800"])
def test_reason_kind_takes_a_megabyte(unit: str) -> None:
    assert reason_kind(unit * (MB // len(unit))) is None
