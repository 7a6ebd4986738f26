"""Why a credential was refused: ``WWW-Authenticate`` challenges (RFC 9110 §11.6.1) and the Bearer error
of RFC 6750 §3 (and of DPoP, RFC 9449).

Parsed by hand: ``WWW-Authenticate`` is not a Structured Field, the parsers in the standard library
handle Basic only, and the well-kept ones live in web frameworks (werkzeug) that the core must not import.

Total and linear: any text gives a list of challenges (possibly empty), never an exception. A value is
read up to ``FIELD_VALUE_LIMIT`` characters (16 KiB) and ``MEMBER_LIMIT`` members (1,024; see
:mod:`upstreamkit.core._header_view`), and the scanning is done by possessive regular expressions, which
cannot backtrack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from upstreamkit.core._header_view import HeadersLike, HeaderView, clip_list, field_lines, header_view, next_comma

__all__ = ["BearerError", "Challenge", "bearer_error", "parse_www_authenticate"]


@dataclass(frozen=True, slots=True)
class Challenge:
    """One authentication challenge: ``Bearer realm="api", error="invalid_token"``."""

    scheme: str
    params: Mapping[str, str]
    token68: str | None


@dataclass(frozen=True, slots=True)
class BearerError:
    """The error an OAuth resource server reports in its Bearer (or DPoP) challenge (RFC 6750 §3)."""

    error: str | None
    description: str | None
    scope: str | None
    realm: str | None


_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68_RE: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_UNQUOTED_RE: Final = re.compile(r"[^,\s]*")
# The scanners below are regular expressions rather than loops over characters: the C engine walks a
# 16 KiB value in microseconds. Possessive quantifiers (*+, ++) never backtrack, so each is linear.
_OWS_RE: Final = re.compile(r"[ \t]*+")
_SEPARATORS_RE: Final = re.compile(r"[ \t,]*+")
_ELEMENT_END_RE: Final = re.compile(r"[ \t]*+(?:,|\Z)")
# A quoted-string: its raw content (a lone backslash at the very end kept) and the closing quote, if any.
_QUOTED_RE: Final = re.compile(r'"((?:[^"\\]++|\\.)*+\\?)"?', re.DOTALL)
_ESCAPE_RE: Final = re.compile(r"\\(.)", re.DOTALL)


def _scan(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern``, matched at ``pos``, ends (``pos`` when it does not match)."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


def _skip_ows(text: str, pos: int) -> int:
    return _scan(_OWS_RE, text, pos)


def _quoted_string(text: str, pos: int) -> tuple[str, int]:
    """The unescaped content of the quoted-string opening at ``pos``, and the position after it.

    An unterminated string keeps what was there.
    """
    match = _QUOTED_RE.match(text, pos)
    if match is None:  # not at a quote: callers check, this keeps the function total
        return "", pos
    content = match.group(1)
    return (_ESCAPE_RE.sub(r"\1", content) if "\\" in content else content), match.end()


def _at_element_end(text: str, pos: int) -> bool:
    return _ELEMENT_END_RE.match(text, pos) is not None


def _auth_params(text: str, pos: int, params: dict[str, str]) -> int:
    """Read ``name=value`` pairs into ``params``; return where the next challenge's scheme starts."""
    first = True
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        equals = _skip_ows(text, match.end()) if match else pos
        if match is None or equals >= len(text) or text[equals] != "=":
            # Not a parameter: after a comma, the next challenge; right after the scheme, garbage.
            return next_comma(text, pos) if first else pos
        first = False
        start = _skip_ows(text, equals + 1)
        if start < len(text) and text[start] == '"':
            value, pos = _quoted_string(text, start)
        else:
            unquoted = _UNQUOTED_RE.match(text, start)
            value, pos = (unquoted.group(), unquoted.end()) if unquoted else ("", start)
        params.setdefault(match.group().lower(), value)
        pos = _skip_ows(text, pos)
        if pos < len(text) and text[pos] != ",":
            pos = next_comma(text, pos)  # junk after the value
        pos = _scan(_SEPARATORS_RE, text, pos)
    return pos


def parse_www_authenticate(value: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` (or ``Proxy-Authenticate``) value (RFC 9110 §11.6.1).

    Handles several comma-separated challenges, token68 credentials, and quoted strings with escapes
    and commas inside. Parameter names are lower-cased; the first of a repeated parameter wins. Parts
    that do not parse are skipped. The value is read up to ``FIELD_VALUE_LIMIT`` characters and
    ``MEMBER_LIMIT`` comma-separated members (challenges and parameters).
    """
    text = clip_list(value)
    challenges: list[Challenge] = []
    pos = 0
    while True:
        pos = _scan(_SEPARATORS_RE, text, pos)
        if pos >= len(text):
            return challenges
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            pos = next_comma(text, pos)
            continue
        scheme, pos = match.group(), match.end()
        start = _skip_ows(text, pos)
        if start == pos and not _at_element_end(text, pos):
            pos = next_comma(text, pos)  # the scheme runs into something that is not a token
            continue
        params: dict[str, str] = {}
        token68 = None
        if not _at_element_end(text, start):
            token = _TOKEN68_RE.match(text, start)
            if token is not None and _at_element_end(text, token.end()):
                token68, pos = token.group(), token.end()
            else:
                pos = _auth_params(text, start, params)
        challenges.append(Challenge(scheme=scheme, params=MappingProxyType(params), token68=token68))


def bearer_error(headers: HeadersLike | HeaderView) -> BearerError | None:
    """The RFC 6750 error in the response's Bearer (or DPoP, RFC 9449) challenge, or ``None``.

    A challenge that carries an ``error`` wins over one that does not; Bearer wins over DPoP.
    """
    challenges = [
        challenge
        for raw in field_lines(header_view(headers), "www-authenticate")
        for challenge in parse_www_authenticate(raw)
        if challenge.scheme.lower() in {"bearer", "dpop"}
    ]
    if not challenges:
        return None
    best = min(
        challenges,
        key=lambda c: ("error" not in c.params, c.scheme.lower() != "bearer"),
    )
    return BearerError(
        error=best.params.get("error"),
        description=best.params.get("error_description"),
        scope=best.params.get("scope"),
        realm=best.params.get("realm"),
    )
