"""Header access and HTTP dates: the ground every header parser stands on.

:class:`HeaderView` is an immutable, case-insensitive multi-dict built from whatever a caller holds
(``httpx.Headers``, a ``dict``, ``(name, value)`` pairs of ``str`` or ``bytes``); :func:`parse_http_date`
reads an HTTP-date (RFC 9110 §5.6.7). Nothing here reads the clock.

Size limits, so that every parser's time is bounded whatever a server sends: a header parser reads a
field's value up to :data:`FIELD_VALUE_LIMIT` characters (16 KiB, the whole response head that httpx's
h11 accepts by default), and no more than that many characters of a repeated field's lines altogether
(:func:`field_value`, :func:`field_lines`); a longer value is cut at its last comma before the limit, so
that list members past it are dropped whole; and list-based fields are read up to their
:data:`MEMBER_LIMIT`-th member (:func:`clip_list`). A :class:`HeaderView` keeps the first
:data:`FIELD_COUNT_LIMIT` field lines (1,000; heads that large are refused long before by HTTP stacks:
h11 takes 16 KiB, nginx buffers 4-8 KiB), values as given. An HTTP-date longer than 128 characters is
not one. So building a view costs at most a thousand fields' work, and each parser a bounded read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz
from typing import Final, TypeAlias

__all__ = [
    "FIELD_COUNT_LIMIT",
    "FIELD_VALUE_LIMIT",
    "MEMBER_LIMIT",
    "HeaderView",
    "HeadersLike",
    "clip_field",
    "clip_list",
    "field_lines",
    "field_value",
    "field_values",
    "finite",
    "header_view",
    "next_comma",
    "parse_http_date",
]

#: Response headers as callers hold them: ``httpx.Headers``, a ``dict``, or ``(name, value)`` pairs of
#: ``str`` or ``bytes`` (as in ``httpx.Headers.raw`` and ASGI).
HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]

#: The most characters of a field value (and of a repeated field's lines together) a parser reads.
FIELD_VALUE_LIMIT: Final = 16_384
#: The most field lines a :class:`HeaderView` keeps: the first ones, in order.
FIELD_COUNT_LIMIT: Final = 1_000
#: The most comma-separated members of a list-based field a parser reads (RFC 9651 §3.1's minimum).
MEMBER_LIMIT: Final = 1_024

_OWS: Final = " \t"  # optional whitespace, RFC 9110 §5.6.3
_DATE_LIMIT: Final = 128  # IMF-fixdate is 29 characters; the obsolete forms and a zone name fit easily


# --------------------------------------------------------------------------------------------------
# Header access


def _decode(raw: str | bytes | bytearray) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        # HTTP field values were historically ISO-8859-1; latin-1 decodes any byte string.
        return bytes(raw).decode("latin-1")


def _pairs(headers: object) -> Iterator[tuple[str, str]]:
    if headers is None or isinstance(headers, str | bytes | bytearray):
        return
    # httpx.Headers.items() merges repeated fields; multi_items() keeps one pair per field line, and
    # raw keeps the names' case as well.
    multi_items = getattr(headers, "multi_items", None)
    raw = getattr(headers, "raw", None) if callable(multi_items) else None
    if isinstance(raw, list):
        pairs: Iterable[object] = raw
    elif callable(multi_items):
        pairs = multi_items()
    elif isinstance(headers, Mapping):
        pairs = headers.items()
    elif isinstance(headers, Iterable):
        pairs = headers
    else:
        return
    kept = 0
    for pair in pairs:
        if kept >= FIELD_COUNT_LIMIT:
            return
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            continue
        name, value = pair
        if isinstance(name, str | bytes | bytearray) and isinstance(value, str | bytes | bytearray):
            kept += 1
            yield _decode(name).strip(_OWS), _decode(value).strip(_OWS)


class HeaderView:
    """An immutable, case-insensitive multi-dict of response headers.

    Built from a mapping (``httpx.Headers``, a ``dict``) or from ``(name, value)`` pairs of ``str`` or
    ``bytes``; entries that are not such pairs are skipped, and fields past the first
    :data:`FIELD_COUNT_LIMIT` are not kept. ``repr`` shows names only, never values,
    because values may carry credentials.
    """

    __slots__ = ("_fields", "_index")

    _fields: tuple[tuple[str, str], ...]
    _index: dict[str, tuple[str, ...]]

    def __init__(self, headers: HeadersLike | HeaderView | None = None) -> None:
        """Copy the fields of ``headers``, keeping their order and the case of their names."""
        fields = headers._fields if isinstance(headers, HeaderView) else tuple(_pairs(headers))
        index: dict[str, list[str]] = {}
        for name, value in fields:
            index.setdefault(name.lower(), []).append(value)
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_index", {name: tuple(values) for name, values in index.items()})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"HeaderView is immutable; cannot set {name!r}")

    def get(self, name: str, default: str | None = None) -> str | None:
        """The field's value, repeated lines joined with ``", "``; ``default`` when absent."""
        values = self._index.get(name.lower())
        return ", ".join(values) if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of the field, one per field line, in order."""
        return list(self._index.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def items(self) -> list[tuple[str, str]]:
        """All ``(name, value)`` pairs, names in their original case, in order."""
        return list(self._fields)

    def joined(self) -> dict[str, str]:
        """Lower-case name to value, repeated field lines joined with ``", "``."""
        return {name: ", ".join(values) for name, values in self._index.items()}

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"HeaderView(names={[name for name, _ in self._fields]!r})"


def header_view(headers: HeadersLike | HeaderView | None) -> HeaderView:
    """``headers`` as a :class:`HeaderView`: the same object when it already is one."""
    return headers if isinstance(headers, HeaderView) else HeaderView(headers)


# A list member (RFC 9110 §5.6.1) up to the comma that ends it: commas inside a quoted string, where a
# backslash escapes any character, do not count. Possessive quantifiers: linear, no backtracking.
_TO_COMMA_RE: Final = re.compile(r'(?:[^",]++|"(?:[^"\\]++|\\.)*+"?)*+', re.DOTALL)


def next_comma(text: str, pos: int = 0) -> int:
    """The position of the next comma outside a quoted string at or after ``pos``, or ``len(text)``."""
    match = _TO_COMMA_RE.match(text, pos)
    return match.end() if match else pos  # it always matches (the empty string at least)


def clip_field(value: str, limit: int = FIELD_VALUE_LIMIT) -> str:
    """``value`` cut to ``limit`` characters, at its last comma before the limit if it has one."""
    if len(value) <= limit:
        return value
    comma = value.rfind(",", 0, limit)
    return value[: comma if comma > 0 else limit]


def _within_limit(lines: Iterable[str]) -> list[str]:
    """The lines a parser reads: in order, each clipped, until FIELD_VALUE_LIMIT characters are spent."""
    kept: list[str] = []
    budget = FIELD_VALUE_LIMIT
    for line in lines:
        if budget <= 0:
            break
        kept.append(clip_field(line, budget))
        budget -= len(line)
    return kept


def clip_list(value: str) -> str:
    """A list-based field's value as a parser reads it: clipped, then cut after its MEMBER_LIMIT-th member.

    Parsers spend their time per member, so this is what bounds it (commas in quoted strings do not count).
    """
    text = clip_field(value)
    pos = 0
    for _ in range(MEMBER_LIMIT):
        pos = next_comma(text, pos)
        if pos >= len(text):
            return text
        pos += 1
    return text[: pos - 1]


def field_lines(view: HeaderView, name: str) -> list[str]:
    """The field's lines as a parser reads them: in order, each clipped, until the limit is spent."""
    return _within_limit(view.get_all(name))


def field_value(view: HeaderView, name: str) -> str | None:
    """The field's value as a parser reads it: the lines it reads joined with ``", "``, then clipped."""
    lines = field_lines(view, name)
    return clip_field(", ".join(lines)) if lines else None


def field_values(view: HeaderView) -> dict[str, str]:
    """Lower-case name to :func:`field_value`, for every field: :meth:`HeaderView.joined`, bounded."""
    values: dict[str, str] = {}
    for name, lines in view._index.items():  # this module owns the class
        if len(lines) == 1 and len(lines[0]) <= FIELD_VALUE_LIMIT:
            values[name] = lines[0]  # the common case, without copies
        else:
            values[name] = clip_field(", ".join(_within_limit(lines)))
    return values


# --------------------------------------------------------------------------------------------------
# HTTP dates


def finite(now: float | None) -> float | None:
    return now if now is not None and math.isfinite(now) else None


def parse_http_date(value: str) -> float | None:
    """An HTTP-date (RFC 9110 §5.6.7) as epoch seconds (UTC), or ``None`` if it is not one.

    Accepts IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) and the obsolete RFC 850
    (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime (``Sun Nov  6 08:49:37 1994``) forms, plus the
    numeric zones of RFC 5322 that some servers send. Two-digit years follow :mod:`email.utils`
    (00-68 are 20xx), since RFC 9110's "50 years ahead" rule would need the clock.
    """
    text = value.strip()
    if len(text) > _DATE_LIMIT:
        return None
    try:
        parts = parsedate_tz(text)
    except (ValueError, IndexError, TypeError, OverflowError):  # lenient parser, odd inputs
        return None
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    try:
        # datetime validates the ranges that parsedate_tz does not (31 Feb, 25:61); a leap second
        # becomes the last second of its minute.
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        return (moment - timedelta(seconds=offset)).timestamp()
    except (ValueError, OverflowError):
        return None
