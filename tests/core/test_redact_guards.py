"""The guarded substring search the redactor's fast paths use, and the XML CDATA values it reads."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from upstreamkit.core._redact_grammar import guarded, holds_any
from upstreamkit.core._redact_text import _MULTIPART, HINTS
from upstreamkit.core.redact import redact_text

_WORDS = (*HINTS, "AKIA", "secret", "x", "zz")
_TABLE = guarded(_WORDS)
# Text from the words' own characters and their aliases under ``char & 63`` (what CPython's search filter
# confuses), so that near-misses are common.
_ALPHABET = "".join(sorted({*"".join(_WORDS), *(chr(ord(c) ^ 0x40) for c in "etaoins")}))


def test_guards_are_the_two_rarest_characters_of_each_word() -> None:
    table = {word: (first, second) for word, first, second in guarded(("secret", "zz", "%3a%2f%2f"))}
    assert table["secret"] == ("c", "r")  # rarer than s, e and t in text
    assert table["zz"] == ("z", "z")  # one distinct character: guarded by it twice
    assert "3" in table["%3a%2f%2f"]


@given(st.text(alphabet=_ALPHABET, max_size=300), st.sampled_from(_WORDS), st.booleans())
def test_holds_any_agrees_with_a_plain_substring_search(text: str, word: str, plant: bool) -> None:
    if plant:
        text = text[: len(text) // 2] + word + text[len(text) // 2 :]
    assert holds_any(text, _TABLE) == any(w in text for w in _WORDS)


def test_a_long_text_without_a_trigger_is_returned_as_it_is() -> None:
    # A megabyte of characters that alias the hints' own under CPython's 64-bit search filter.
    text = "%" * (1 << 20)
    assert redact_text(text) == text


def test_a_secret_after_a_megabyte_of_lookalikes_is_still_found() -> None:
    secret = "AKIAIOSFODNN7EXAMPLE"
    out = redact_text("%" * (1 << 20) + f" key={secret} ")
    assert secret not in out
    assert out.startswith("%" * 1000)


_CDATA_CASES = [
    ("<password><![CDATA[hunter2-secret]]></password>", "]]></password>"),
    ("<password><![CDATA[hunter2-secret", ""),  # cut off: runs to the end
    ("<password><![CDATA[hunter2-secret]]", ""),  # "]]" without ">" is part of the value
    ("<token><![CDATA[a]b]]c-secret]]>x</token>", "]]>x</token>"),  # single "]" inside
]


def test_cdata_values_of_secret_elements_are_redacted_keeping_the_markup() -> None:
    for xml, tail in _CDATA_CASES:
        out = redact_text(xml)
        assert "secret" not in out.split("CDATA[", 1)[1], xml
        assert out.startswith(xml[: xml.index("<![CDATA[") + 9]), xml
        assert out.endswith(tail), (xml, out)


def test_empty_cdata_stays_empty() -> None:
    assert re.search(r"<!\[CDATA\[\]\]>", redact_text("<password><![CDATA[]]></password>"))


# The multipart rule without its look-ahead: the look-ahead only makes failing searches cheap.
_PLAIN_MULTIPART = re.compile(
    r"form-data[^\r\n]{0,1024}?(?<![\w-])name=(\"?)([^\"\r\n;]{1,128}+)\1[^\r\n]{0,1024}+"
    r"(?:\r?\n[^\r\n]{1,1024}+){0,4}+\r?\n\r?\n"
)
_PARTS = ["form-data; ", "name=", '"pw"', "x", "\r\n", "\n", "content-type: a", "\r\n\r\n", ";", "-", " ", "a" * 900]


@given(st.lists(st.sampled_from(_PARTS), max_size=16).map("".join))
def test_the_multipart_look_ahead_changes_no_match(text: str) -> None:
    plain = [(m.span(), m.groups()) for m in _PLAIN_MULTIPART.finditer(text)]
    assert [(m.span(), m.groups()) for m in _MULTIPART.finditer(text)] == plain
