"""Structured Fields (RFC 8941/9651) as the header parsers read them: through ``http_sf``, never raising.

A value that is not a valid Structured Field of the wanted type reads as ``None`` (or ``[]``), and
members of an unexpected type are skipped, so a parser built on these helpers stays total. Values are
read up to ``FIELD_VALUE_LIMIT`` characters and ``MEMBER_LIMIT`` members (1,024, the least RFC 9651 §3.1
lets a parser support; see :func:`~upstreamkit.core._header_view.clip_list`): ``http_sf`` is written in
Python and takes about 5 µs a member, so these limits are what bound its time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import http_sf

from upstreamkit.core._header_view import clip_list

__all__ = ["dict_member", "sf_int", "sf_items", "sf_name", "sf_parse", "sf_seconds"]


def sf_parse(value: str | None, tltype: str) -> Any:
    """A Structured Field, or ``None`` when the text is not one."""
    if value is None or not value.isascii():
        return None
    try:
        return http_sf.parse(clip_list(value).encode("ascii"), tltype=tltype)
    # http_sf reports malformed input as StructuredFieldError, a ValueError; the others are a guard,
    # because these parsers must stay total whatever a library release changes.
    except (ValueError, OverflowError, IndexError, TypeError):
        return None


def sf_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def sf_seconds(value: object) -> float | None:
    if isinstance(value, Decimal) and value >= 0:
        return float(value)
    number = sf_int(value)
    return None if number is None else float(number)


def sf_name(value: object) -> str | None:
    if isinstance(value, http_sf.Token | str):
        return str(value)
    return None


def dict_member(parsed: dict[str, object], key: str) -> object:
    entry = parsed.get(key)
    return entry[0] if isinstance(entry, tuple) else None


def sf_items(value: str | None) -> list[tuple[object, dict[str, object]]]:
    """The items of a Structured Field list (inner lists skipped)."""
    parsed = sf_parse(value, "list")
    if not isinstance(parsed, list):
        return []
    return [
        (member[0], member[1]) for member in parsed if isinstance(member, tuple) and not isinstance(member[0], list)
    ]
