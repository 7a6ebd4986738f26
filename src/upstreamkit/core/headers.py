"""What an upstream's response headers say about a failure: when to retry, how much quota is left, why a
token was refused, which proxy failed and how, and which id to quote to the vendor's support.

Covered fields: ``Retry-After`` (RFC 9110 §10.2.3) and HTTP dates (§5.6.7); the rate-limit families
(``RateLimit``/``RateLimit-Policy`` of draft-ietf-httpapi-ratelimit-headers -08 and later, the older
drafts' ``RateLimit-Limit``/``-Remaining``/``-Reset`` triple and draft-07's dictionary, the de facto
``X-RateLimit-*``, and OpenAI's per-requests/per-tokens headers); ``WWW-Authenticate`` challenges
(RFC 9110 §11.6.1) and the Bearer error of RFC 6750 §3; ``Proxy-Status`` (RFC 9209); request ids.

Every parser is total: any text gives a value or ``None``/``[]``, never an exception, because these
parsers run on the error path, where a crash would hide the failure being reported. Nothing here reads
the clock: callers pass ``now`` (epoch seconds) where a header carries an absolute time.

Structured Fields (RFC 8941/9651) are parsed with ``http_sf``. ``WWW-Authenticate`` is parsed by hand:
it is not a Structured Field, the parsers in the standard library handle Basic only, and the
well-kept ones live in web frameworks (werkzeug) that the core must not import.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_tz
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import http_sf

__all__ = [
    "REQUEST_ID_HEADERS",
    "RETRY_AFTER_CEILING",
    "BearerError",
    "Challenge",
    "HeaderView",
    "HeadersLike",
    "ProxyStatusEntry",
    "RateLimit",
    "bearer_error",
    "find_request_id",
    "format_proxy_status",
    "header_view",
    "parse_http_date",
    "parse_proxy_status",
    "parse_rate_limit",
    "parse_rate_limits",
    "parse_retry_after",
    "parse_www_authenticate",
]

#: Response headers as callers hold them: ``httpx.Headers``, a ``dict``, or ``(name, value)`` pairs of
#: ``str`` or ``bytes`` (as in ``httpx.Headers.raw`` and ASGI).
HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]

#: The longest wait any ``Retry-After`` can ask for: one year. Larger values are clamped to it.
RETRY_AFTER_CEILING: Final = 365 * 24 * 3600.0

_OWS: Final = " \t"


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
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            continue
        name, value = pair
        if isinstance(name, str | bytes | bytearray) and isinstance(value, str | bytes | bytearray):
            yield _decode(name).strip(_OWS), _decode(value).strip(_OWS)


class HeaderView:
    """An immutable, case-insensitive multi-dict of response headers.

    Built from a mapping (``httpx.Headers``, a ``dict``) or from ``(name, value)`` pairs of ``str`` or
    ``bytes``; entries that are not such pairs are skipped. ``repr`` shows names only, never values,
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


# --------------------------------------------------------------------------------------------------
# Dates and Retry-After


def _finite(now: float | None) -> float | None:
    return now if now is not None and math.isfinite(now) else None


def parse_http_date(value: str) -> float | None:
    """An HTTP-date (RFC 9110 §5.6.7) as epoch seconds (UTC), or ``None`` if it is not one.

    Accepts IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) and the obsolete RFC 850
    (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime (``Sun Nov  6 08:49:37 1994``) forms, plus the
    numeric zones of RFC 5322 that some servers send. Two-digit years follow :mod:`email.utils`
    (00-68 are 20xx), since RFC 9110's "50 years ahead" rule would need the clock.
    """
    try:
        parts = parsedate_tz(value.strip())
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


_DELTA_SECONDS_RE: Final = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value (RFC 9110 §10.2.3), or ``None``.

    delta-seconds (and the decimal seconds some servers send, ``"1.5"``) are returned as is, clamped to
    :data:`RETRY_AFTER_CEILING`. An HTTP-date needs ``now`` (epoch seconds) and gives
    ``max(0, date - now)``, also clamped; without ``now`` it gives ``None``. Negative, empty or
    unparseable values give ``None``.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    match = _DELTA_SECONDS_RE.fullmatch(text)
    if match is not None:
        # Counting digits first keeps float() finite whatever the length ("9" * 400).
        if len(match.group(1).lstrip("0")) > 12:
            return RETRY_AFTER_CEILING
        return min(float(f"{match.group(1)}.{(match.group(2) or '0')[:9]}"), RETRY_AFTER_CEILING)
    now = _finite(now)
    if now is None:
        return None
    date = parse_http_date(text)
    if date is None:
        return None
    return min(max(0.0, date - now), RETRY_AFTER_CEILING)


# --------------------------------------------------------------------------------------------------
# Rate limits


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One rate-limit policy as a response reports it. Any figure the headers omit is ``None``."""

    limit: int | None
    remaining: int | None
    reset_after: float | None
    window: float | None
    policy: str | None
    source: str

    @property
    def exhausted(self) -> bool:
        """Whether the quota is used up (``remaining == 0``)."""
        return self.remaining == 0


_INT_RE: Final = re.compile(r"[0-9]{1,18}")
_LEADING_INT_RE: Final = re.compile(r"\s*([0-9]{1,18})\s*(?:[,;]|$)")
_NUMBER_RE: Final = re.compile(r"([0-9]{1,18})(\.[0-9]{1,9})?")
_QUOTA_WINDOW_RE: Final = re.compile(r"(?:^|,)\s*([0-9]{1,18})\s*;(?:[^,]*;)?\s*w(?:indow)?\s*=\s*([0-9]{1,18})")
# Go's time.Duration.String(), as OpenAI sends it: "6m0s", "1s", "20ms", "1h2m3.5s".
_DURATION_PART_RE: Final = re.compile(r"([0-9]{1,15}(?:\.[0-9]{1,9})?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_RE: Final = re.compile(rf"(?:{_DURATION_PART_RE.pattern})+")
_DURATION_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go writes the micro sign
    "μs": 1e-6,  # and some servers the Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_EPOCH_MS: Final = 1e12
_EPOCH_S: Final = 1e9


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    match = _INT_RE.fullmatch(text.strip())
    return int(match.group()) if match else None


def _leading_int(text: str | None) -> int | None:
    """The quota at the head of a list such as ``10, 10;w=1, 50;w=60``."""
    if text is None:
        return None
    match = _LEADING_INT_RE.match(text)
    return int(match.group(1)) if match else None


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    match = _NUMBER_RE.fullmatch(text.strip())
    return float(match.group()) if match else None


def _reset_after(text: str | None, now: float | None) -> float | None:
    return _reset_from(_seconds(text), now)


def _reset_from(value: float | None, now: float | None) -> float | None:
    """A reset value that is a delta, epoch seconds or epoch milliseconds, as seconds from ``now``.

    Servers disagree (GitHub sends epoch seconds, most a delta, a few epoch milliseconds); no delta is
    ever 30 years long, so the size tells them apart.
    """
    if value is None:
        return None
    if value < _EPOCH_S:
        return value
    now = _finite(now)
    if now is None:
        return None
    epoch = value / 1000.0 if value >= _EPOCH_MS else value
    return max(0.0, epoch - now)


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip()
    plain = _seconds(text)
    if plain is not None:
        return plain
    if _DURATION_RE.fullmatch(text) is None:
        return None
    return sum(float(num) * _DURATION_UNITS[unit] for num, unit in _DURATION_PART_RE.findall(text))


def _window_for(limit: int | None, *texts: str | None) -> float | None:
    """The window of the quota policy ``limit;w=N`` whose quota is ``limit`` (drafts before -08)."""
    for text in texts:
        if text is None:
            continue
        for quota, window in _QUOTA_WINDOW_RE.findall(text):
            if limit is None or int(quota) == limit:
                return float(window)
    return None


def _sf_parse(value: str | None, tltype: str) -> Any:
    """A Structured Field, or ``None`` when the text is not one."""
    if value is None or not value.isascii():
        return None
    try:
        return http_sf.parse(value.encode("ascii"), tltype=tltype)
    # http_sf reports malformed input as StructuredFieldError, a ValueError; the others are a guard,
    # because these parsers must stay total whatever a library release changes.
    except (ValueError, OverflowError, IndexError, TypeError):
        return None


def _sf_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _sf_seconds(value: object) -> float | None:
    if isinstance(value, Decimal) and value >= 0:
        return float(value)
    number = _sf_int(value)
    return None if number is None else float(number)


def _sf_name(value: object) -> str | None:
    if isinstance(value, http_sf.Token | str):
        return str(value)
    return None


def _dict_member(parsed: dict[str, object], key: str) -> object:
    entry = parsed.get(key)
    return entry[0] if isinstance(entry, tuple) else None


def _sf_items(value: str | None) -> list[tuple[object, dict[str, object]]]:
    """The items of a Structured Field list (inner lists skipped)."""
    parsed = _sf_parse(value, "list")
    if not isinstance(parsed, list):
        return []
    return [
        (member[0], member[1]) for member in parsed if isinstance(member, tuple) and not isinstance(member[0], list)
    ]


def _structured_rate_limits(view: HeaderView) -> list[RateLimit]:
    """``RateLimit: "default";r=50;t=30`` with ``RateLimit-Policy: "default";q=100;w=60`` (-08 and on)."""
    policies: dict[str, dict[str, object]] = {}
    for bare, params in _sf_items(view.get("ratelimit-policy")):
        name = _sf_name(bare)
        if name is not None:
            policies.setdefault(name, params)
    found: list[RateLimit] = []
    seen: set[str] = set()
    for bare, params in _sf_items(view.get("ratelimit")):
        name = _sf_name(bare)
        if name is None or ("r" not in params and "t" not in params):
            continue
        policy = policies.get(name, {})
        seen.add(name)
        found.append(
            RateLimit(
                limit=_sf_int(policy.get("q")),
                remaining=_sf_int(params.get("r")),
                reset_after=_sf_seconds(params.get("t")),
                window=_sf_seconds(policy.get("w")),
                policy=name,
                source="ratelimit",
            )
        )
    for name, policy in policies.items():
        if name not in seen and ("q" in policy or "w" in policy):
            found.append(
                RateLimit(
                    limit=_sf_int(policy.get("q")),
                    remaining=None,
                    reset_after=None,
                    window=_sf_seconds(policy.get("w")),
                    policy=name,
                    source="ratelimit",
                )
            )
    return found


def _draft_rate_limits(view: HeaderView, now: float | None) -> list[RateLimit]:
    """Draft-07's ``RateLimit: limit=10, remaining=1, reset=7``, or the earlier drafts' triple."""
    policy_text = view.get("ratelimit-policy")
    parsed = _sf_parse(view.get("ratelimit"), "dictionary")
    if isinstance(parsed, dict) and {"limit", "remaining", "reset"} & parsed.keys():
        limit = _sf_int(_dict_member(parsed, "limit"))
        remaining = _sf_int(_dict_member(parsed, "remaining"))
        reset = _reset_from(_sf_seconds(_dict_member(parsed, "reset")), now)
    else:
        limit_text = view.get("ratelimit-limit")
        limit = _leading_int(limit_text)
        remaining = _int(view.get("ratelimit-remaining"))
        reset = _reset_after(view.get("ratelimit-reset"), now)
        policy_text = policy_text or _policy_part(limit_text)
    if limit is None and remaining is None and reset is None:
        return []
    return [
        RateLimit(
            limit=limit,
            remaining=remaining,
            reset_after=reset,
            window=_window_for(limit, policy_text),
            policy=policy_text,
            source="ratelimit-draft",
        )
    ]


def _policy_part(limit_text: str | None) -> str | None:
    """The quota policies after the current limit, as in ``RateLimit-Limit: 10, 10;w=1, 50;w=60``."""
    if limit_text is None or "," not in limit_text:
        return None
    policies = limit_text.split(",", 1)[1].strip()
    return policies or None


def _x_rate_limits(view: HeaderView, now: float | None) -> list[RateLimit]:
    """``X-RateLimit-*`` (GitHub, Discord, many others) or ``X-Rate-Limit-*`` (Twitter/X)."""
    for prefix in ("x-ratelimit-", "x-rate-limit-"):
        limit_text = view.get(prefix + "limit")
        limit = _leading_int(limit_text)
        remaining = _int(view.get(prefix + "remaining"))
        used = _int(view.get(prefix + "used"))  # GitHub
        if remaining is None and limit is not None and used is not None:
            remaining = max(0, limit - used)
        reset = _seconds(view.get(prefix + "reset-after"))  # Discord: float seconds, unambiguous
        if reset is None:
            reset = _reset_after(view.get(prefix + "reset"), now)
        if limit is None and remaining is None and reset is None:
            continue
        policy = view.get(prefix + "resource") or view.get(prefix + "bucket")  # GitHub, Discord
        return [
            RateLimit(
                limit=limit,
                remaining=remaining,
                reset_after=reset,
                window=_window_for(limit, _policy_part(limit_text)),
                policy=policy,
                source="x-ratelimit",
            )
        ]
    return []


def _openai_rate_limits(view: HeaderView) -> list[RateLimit]:
    """OpenAI's ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``: one entry per family."""
    found: list[RateLimit] = []
    for family in ("requests", "tokens"):
        limit = _int(view.get(f"x-ratelimit-limit-{family}"))
        remaining = _int(view.get(f"x-ratelimit-remaining-{family}"))
        reset = _duration(view.get(f"x-ratelimit-reset-{family}"))
        if limit is None and remaining is None and reset is None:
            continue
        found.append(
            RateLimit(
                limit=limit,
                remaining=remaining,
                reset_after=reset,
                window=None,
                policy=family,
                source="openai",
            )
        )
    return found


def parse_rate_limits(headers: HeadersLike | HeaderView, now: float | None = None) -> list[RateLimit]:
    """Every rate limit the headers report, in family order: ``ratelimit``, ``ratelimit-draft``,
    ``x-ratelimit``, ``openai``.

    ``now`` (epoch seconds) turns absolute reset times into ``reset_after``; without it those stay
    ``None``. Values that do not parse are ``None``; a family with nothing parseable is left out.
    """
    view = header_view(headers)
    return [
        *_structured_rate_limits(view),
        *_draft_rate_limits(view, now),
        *_x_rate_limits(view, now),
        *_openai_rate_limits(view),
    ]


def _constraint(rate_limit: RateLimit) -> tuple[int, float]:
    if rate_limit.exhausted:
        # Of two exhausted quotas, the one that stays exhausted longer constrains more.
        return (0, -(rate_limit.reset_after or 0.0))
    if rate_limit.remaining is not None and rate_limit.limit:
        return (1, rate_limit.remaining / rate_limit.limit)
    if rate_limit.remaining is not None:
        return (2, float(rate_limit.remaining))
    return (3, 0.0)


def parse_rate_limit(headers: HeadersLike | HeaderView, now: float | None = None) -> RateLimit | None:
    """The most constraining rate limit of :func:`parse_rate_limits`: an exhausted one first (the
    longest to reset), then the lowest ``remaining / limit``; ``None`` when there is none."""
    found = parse_rate_limits(headers, now)
    return min(found, key=_constraint) if found else None


# --------------------------------------------------------------------------------------------------
# WWW-Authenticate


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


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _next_comma(text: str, pos: int) -> int:
    """The position of the next comma outside a quoted string (or the end): skips a bad element."""
    quoted = False
    while pos < len(text):
        char = text[pos]
        if quoted:
            if char == "\\":
                pos += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ",":
            return pos
        pos += 1
    return len(text)


def _quoted_string(text: str, pos: int) -> tuple[str, int]:
    """The unescaped content of the quoted-string opening at ``pos``, and the position after it."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    return "".join(out), pos  # unterminated: keep what was there


def _at_element_end(text: str, pos: int) -> bool:
    pos = _skip(text, pos, _OWS)
    return pos >= len(text) or text[pos] == ","


def _auth_params(text: str, pos: int, params: dict[str, str]) -> int:
    """Read ``name=value`` pairs into ``params``; return where the next challenge's scheme starts."""
    first = True
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        equals = _skip(text, match.end(), _OWS) if match else pos
        if match is None or equals >= len(text) or text[equals] != "=":
            # Not a parameter: after a comma, the next challenge; right after the scheme, garbage.
            return _next_comma(text, pos) if first else pos
        first = False
        start = _skip(text, equals + 1, _OWS)
        if start < len(text) and text[start] == '"':
            value, pos = _quoted_string(text, start)
        else:
            unquoted = _UNQUOTED_RE.match(text, start)
            value, pos = (unquoted.group(), unquoted.end()) if unquoted else ("", start)
        params.setdefault(match.group().lower(), value)
        pos = _skip(text, pos, _OWS)
        if pos < len(text) and text[pos] != ",":
            pos = _next_comma(text, pos)  # junk after the value
        pos = _skip(text, pos, _OWS + ",")
    return pos


def parse_www_authenticate(value: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` (or ``Proxy-Authenticate``) value (RFC 9110 §11.6.1).

    Handles several comma-separated challenges, token68 credentials, and quoted strings with escapes
    and commas inside. Parameter names are lower-cased; the first of a repeated parameter wins. Parts
    that do not parse are skipped.
    """
    text = value
    challenges: list[Challenge] = []
    pos = 0
    while True:
        pos = _skip(text, pos, _OWS + ",")
        if pos >= len(text):
            return challenges
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            pos = _next_comma(text, pos)
            continue
        scheme, pos = match.group(), match.end()
        start = _skip(text, pos, _OWS)
        if start == pos and not _at_element_end(text, pos):
            pos = _next_comma(text, pos)  # the scheme runs into something that is not a token
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
        for raw in header_view(headers).get_all("www-authenticate")
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


# --------------------------------------------------------------------------------------------------
# Proxy-Status


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
_SF_INT_MAX: Final = 999_999_999_999_999
_SF_DECIMAL_MAX: Final = 1e12
_KNOWN_PARAMS: Final = frozenset(
    {"error", "details", "received-status", "next-hop", "next-protocol", "rcode", "info-code"}
)


def _sf_protocol(value: object) -> str | None:
    if isinstance(value, bytes):
        # surrogateescape keeps bytes that are not UTF-8, so that formatting gives them back.
        return value.decode("utf-8", "surrogateescape")
    return _sf_name(value)


def _sf_scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, http_sf.DisplayString):
        return str(value)
    return _sf_name(value)


def _sf_signed_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_proxy_status(value: str) -> list[ProxyStatusEntry]:
    """The entries of a ``Proxy-Status`` value (RFC 9209), in field order; ``[]`` if it is malformed.

    Members that are not an item naming a proxy are skipped; parameters of an unexpected type are
    ignored; parameters RFC 9209 does not name land in ``extra`` (tokens as ``str``, decimals as
    ``float``).
    """
    entries: list[ProxyStatusEntry] = []
    for bare, params in _sf_items(value):
        proxy = _sf_name(bare)
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
                error=_sf_name(params.get("error")),
                details=_sf_name(params.get("details")),
                received_status=_sf_signed_int(params.get("received-status")),
                next_hop=_sf_name(params.get("next-hop")),
                next_protocol=_sf_protocol(params.get("next-protocol")),
                rcode=_sf_name(params.get("rcode")),
                info_code=_sf_signed_int(params.get("info-code")),
                extra=extra,
            )
        )
    return entries


def _token_or_string(text: str) -> http_sf.Token | str:
    if _SF_TOKEN_RE.fullmatch(text):
        return http_sf.Token(text)
    # An sf-string holds printable ASCII only; anything else becomes "?" rather than an exception.
    return _SF_STRING_BAD_RE.sub("?", text)


def _sf_value(value: object) -> bool | int | float | str | http_sf.DisplayString | None:
    """An ``extra`` value as a bare item, or ``None`` when it has no Structured Field form."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_SF_INT_MAX <= value <= _SF_INT_MAX else None
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) < _SF_DECIMAL_MAX else None
    if isinstance(value, str):
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
        protocol = entry.next_protocol
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
        params["rcode"] = _SF_STRING_BAD_RE.sub("?", entry.rcode)
    if entry.details is not None:
        params["details"] = _SF_STRING_BAD_RE.sub("?", entry.details)
    for key, extra in entry.extra.items():
        bare = _sf_value(extra)
        if bare is not None and key not in _KNOWN_PARAMS and _SF_KEY_RE.fullmatch(key):
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


# --------------------------------------------------------------------------------------------------
# Request ids

#: Response headers that carry an id a vendor's support can look up, most specific first: a
#: vendor's own header names its request unambiguously, a generic ``x-request-id`` may come from
#: any proxy in between, and trace ids identify a whole trace rather than one request.
REQUEST_ID_HEADERS: Final[tuple[str, ...]] = (
    "x-github-request-id",  # GitHub
    "x-amzn-requestid",  # AWS API Gateway, Lambda and most JSON AWS APIs
    "x-amz-request-id",  # Amazon S3
    "x-ms-request-id",  # Azure services
    "apim-request-id",  # Azure API Management, Azure AI services
    "x-ms-correlation-request-id",  # Azure Resource Manager
    "x-goog-request-id",  # Google APIs (Gemini, Google Ads)
    "x-sfdc-request-id",  # Salesforce
    "x-slack-req-id",  # Slack
    "x-request-id",  # OpenAI, Heroku, Shopify, nginx $request_id, Envoy
    "request-id",  # Stripe, Anthropic, Microsoft Graph
    "client-request-id",  # Microsoft Graph (echoes the client's id)
    "x-kong-request-id",  # Kong
    "x-correlation-id",  # common convention (MuleSoft, Spring)
    "x-amz-apigw-id",  # AWS API Gateway extended request id
    "x-amz-cf-id",  # Amazon CloudFront
    "cf-ray",  # Cloudflare
    "x-amzn-trace-id",  # AWS ALB and X-Ray: "Root=1-67891233-abcdef012345678912345678"
    "x-cloud-trace-context",  # Google Cloud load balancers: "TRACE_ID/SPAN_ID;o=1"
    "traceparent",  # W3C Trace Context: the trace-id part
    "x-b3-traceid",  # Zipkin B3
    "x-trace-id",  # common convention
)

_REQUEST_ID_MAX: Final = 200
_TRACEPARENT_RE: Final = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_AMZN_ROOT_RE: Final = re.compile(r"(?:^|;)\s*Root=([^;\s]+)")


def _request_id(name: str, value: str) -> str | None:
    value = value.strip()
    if name == "traceparent":
        match = _TRACEPARENT_RE.fullmatch(value)
        if match is None:
            return None
        version, trace_id, parent_id, _flags, rest = match.groups()
        if version == "ff" or (version == "00" and rest) or not trace_id.strip("0") or not parent_id.strip("0"):
            return None
        return trace_id
    if name == "x-amzn-trace-id":
        root = _AMZN_ROOT_RE.search(value)
        value = root.group(1) if root else value
    elif name == "x-cloud-trace-context":
        value = value.split("/", 1)[0].strip()
    return value[:_REQUEST_ID_MAX] or None


def find_request_id(headers: HeadersLike | HeaderView) -> tuple[str, str] | None:
    """The first request id found, as ``(name in REQUEST_ID_HEADERS, id)``; ``None`` when there is none.

    Values are stripped and cut to 200 characters; empty or malformed ones are skipped.
    """
    view = header_view(headers)
    for name in REQUEST_ID_HEADERS:
        for value in view.get_all(name):
            found = _request_id(name, value)
            if found is not None:
                return name, found
    return None
