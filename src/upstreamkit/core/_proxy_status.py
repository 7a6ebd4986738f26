"""Which intermediary failed and how: ``Proxy-Status`` (RFC 9209), parsed and formatted.

Parsing and serialising go through ``http_sf`` (RFC 8941/9651 Structured Fields). Parsing is total:
any text gives a list (``[]`` when it is not a valid list), reading at most ``FIELD_VALUE_LIMIT``
characters (16 KiB, see :mod:`upstreamkit.core._header_view`) and 1,024 members; formatting accepts any
entries and drops what has no Structured Field form. Formatting cuts every text to 1,024 characters (the
longest string RFC 9651 §3.3.3 requires a parser to take) and drops extra parameters whose name is longer
than 64 (its minimum for keys), so one entry's value stays far below what HTTP stacks accept in a head.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import http_sf

from upstreamkit.core._structured_fields import sf_items, sf_name

__all__ = ["ProxyStatusEntry", "format_proxy_status", "parse_proxy_status"]


@dataclass(frozen=True, slots=True)
class ProxyStatusEntry:
    """One intermediary's report in ``Proxy-Status`` (RFC 9209), nearest to the origin first."""

    proxy: str
    error: str | None = None
    details: str | None = None
    received_status: int | None = None
    next_hop: str | None = None
    next_protocol: str | None = None
    rcode: str | None = None
    info_code: int | None = None
    extra: Mapping[str, str | int | float | bool] = field(default_factory=dict)


_SF_TOKEN_RE: Final = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_SF_KEY_RE: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_STRING_BAD_RE: Final = re.compile(r"[^\x20-\x7e]")
_SF_TEXT_LIMIT: Final = 1024
_SF_KEY_LIMIT: Final = 64
_SF_INT_MAX: Final = 999_999_999_999_999
_SF_DECIMAL_MAX: Final = 1e12
_KNOWN_PARAMS: Final = frozenset(
    {"error", "details", "received-status", "next-hop", "next-protocol", "rcode", "info-code"}
)


def _sf_protocol(value: object) -> str | None:
    if isinstance(value, bytes):
        # surrogateescape keeps bytes that are not UTF-8, so that formatting gives them back.
        return value.decode("utf-8", "surrogateescape")
    return sf_name(value)


def _sf_scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, http_sf.DisplayString):
        return str(value)
    return sf_name(value)


def _sf_signed_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_proxy_status(value: str) -> list[ProxyStatusEntry]:
    """The entries of a ``Proxy-Status`` value (RFC 9209), in field order; ``[]`` if it is malformed.

    Members that are not an item naming a proxy are skipped; parameters of an unexpected type are
    ignored; parameters RFC 9209 does not name land in ``extra`` (tokens as ``str``, decimals as
    ``float``).
    """
    entries: list[ProxyStatusEntry] = []
    for bare, params in sf_items(value):
        proxy = sf_name(bare)
        if proxy is None:
            continue
        extra: dict[str, str | int | float | bool] = {}
        for key, param in params.items():
            scalar = _sf_scalar(param)
            if key not in _KNOWN_PARAMS and scalar is not None:
                extra[key] = scalar
        entries.append(
            ProxyStatusEntry(
                proxy=proxy,
                error=sf_name(params.get("error")),
                details=sf_name(params.get("details")),
                received_status=_sf_signed_int(params.get("received-status")),
                next_hop=sf_name(params.get("next-hop")),
                next_protocol=_sf_protocol(params.get("next-protocol")),
                rcode=sf_name(params.get("rcode")),
                info_code=_sf_signed_int(params.get("info-code")),
                extra=extra,
            )
        )
    return entries


def _token_or_string(text: str) -> http_sf.Token | str:
    text = text[:_SF_TEXT_LIMIT]
    if _SF_TOKEN_RE.fullmatch(text):
        return http_sf.Token(text)
    return _sf_string(text)


def _sf_string(text: str) -> str:
    # An sf-string holds printable ASCII only; anything else becomes "?" rather than an exception.
    return _SF_STRING_BAD_RE.sub("?", text[:_SF_TEXT_LIMIT])


def _sf_value(value: object) -> bool | int | float | str | http_sf.DisplayString | None:
    """An ``extra`` value as a bare item, or ``None`` when it has no Structured Field form."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_SF_INT_MAX <= value <= _SF_INT_MAX else None
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) < _SF_DECIMAL_MAX else None
    if isinstance(value, str):
        value = value[:_SF_TEXT_LIMIT]
        if _SF_STRING_BAD_RE.search(value) is None:
            return value
        # RFC 9651's Display String carries any Unicode text; lone surrogates become "?".
        return http_sf.DisplayString(_utf8(value).decode("utf-8", "replace"))
    return None


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that surrogateescape did not make
        return text.encode("utf-8", "replace")


def _member(entry: ProxyStatusEntry) -> tuple[http_sf.Token | str, dict[str, Any]]:
    params: dict[str, Any] = {}
    if entry.error is not None:
        params["error"] = _token_or_string(entry.error)
    if entry.next_hop is not None:
        params["next-hop"] = _token_or_string(entry.next_hop)
    if entry.next_protocol is not None:
        protocol = entry.next_protocol[:_SF_TEXT_LIMIT]
        params["next-protocol"] = (
            http_sf.Token(protocol)
            if _SF_TOKEN_RE.fullmatch(protocol)
            else _utf8(protocol)  # RFC 9209: an ALPN id as a Byte Sequence
        )
    params.update(
        (key, number)
        for key, number in (("received-status", entry.received_status), ("info-code", entry.info_code))
        if number is not None and -_SF_INT_MAX <= number <= _SF_INT_MAX
    )
    if entry.rcode is not None:
        params["rcode"] = _sf_string(entry.rcode)
    if entry.details is not None:
        params["details"] = _sf_string(entry.details)
    for key, extra in entry.extra.items():
        bare = _sf_value(extra)
        if bare is not None and len(key) <= _SF_KEY_LIMIT and key not in _KNOWN_PARAMS and _SF_KEY_RE.fullmatch(key):
            params[key] = bare
    return _token_or_string(entry.proxy), params


def format_proxy_status(entries: Sequence[ProxyStatusEntry]) -> str:
    """Serialize entries as a ``Proxy-Status`` value (RFC 9209, RFC 8941 list); ``""`` for none.

    ``proxy``, ``error`` and ``next_hop`` are tokens when they are valid tokens and strings otherwise;
    ``details`` and ``rcode`` are strings, with characters a string cannot hold replaced by ``?``.
    Extra parameters whose name or value has no Structured Field form are dropped.
    """
    members: list[str] = []
    for entry in entries:
        try:
            members.append(http_sf.ser([_member(entry)]))
        except (ValueError, TypeError):  # defensive: _member only builds valid items
            continue
    return ", ".join(members)
