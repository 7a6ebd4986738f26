"""When to come back and how much quota is left: ``Retry-After`` and the rate-limit header families.

Covered fields: ``Retry-After`` (RFC 9110 §10.2.3); ``RateLimit``/``RateLimit-Policy`` of
draft-ietf-httpapi-ratelimit-headers -08 and later, the older drafts' ``RateLimit-Limit``/``-Remaining``/
``-Reset`` triple and draft-07's dictionary, the de facto ``X-RateLimit-*``, and OpenAI's per-requests/
per-tokens headers. Callers pass ``now`` (epoch seconds) where a header carries an absolute time.

Every parser here is total and linear: values are read up to ``FIELD_VALUE_LIMIT`` (16 KiB, see
:mod:`upstreamkit.core._header_view`), numbers are matched by bounded patterns (``float`` never overflows),
and Structured Fields go through ``http_sf`` with its errors caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from upstreamkit.core._header_view import (
    HeadersLike,
    HeaderView,
    clip_field,
    field_value,
    finite,
    header_view,
    parse_http_date,
)
from upstreamkit.core._structured_fields import dict_member, sf_int, sf_items, sf_name, sf_parse, sf_seconds

__all__ = ["RETRY_AFTER_CEILING", "RateLimit", "parse_rate_limit", "parse_rate_limits", "parse_retry_after"]

#: The longest wait any ``Retry-After`` can ask for: one year. Larger values are clamped to it.
RETRY_AFTER_CEILING: Final = 365 * 24 * 3600.0


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
    text = clip_field(value).strip()
    if not text:
        return None
    match = _DELTA_SECONDS_RE.fullmatch(text)
    if match is not None:
        # Counting digits first keeps float() finite whatever the length ("9" * 400).
        if len(match.group(1).lstrip("0")) > 12:
            return RETRY_AFTER_CEILING
        return min(float(f"{match.group(1)}.{(match.group(2) or '0')[:9]}"), RETRY_AFTER_CEILING)
    now = finite(now)
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
    now = finite(now)
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


def _structured_rate_limits(view: HeaderView) -> list[RateLimit]:
    """``RateLimit: "default";r=50;t=30`` with ``RateLimit-Policy: "default";q=100;w=60`` (-08 and on)."""
    policies: dict[str, dict[str, object]] = {}
    for bare, params in sf_items(field_value(view, "ratelimit-policy")):
        name = sf_name(bare)
        if name is not None:
            policies.setdefault(name, params)
    found: list[RateLimit] = []
    seen: set[str] = set()
    for bare, params in sf_items(field_value(view, "ratelimit")):
        name = sf_name(bare)
        if name is None or ("r" not in params and "t" not in params):
            continue
        policy = policies.get(name, {})
        seen.add(name)
        found.append(
            RateLimit(
                limit=sf_int(policy.get("q")),
                remaining=sf_int(params.get("r")),
                reset_after=sf_seconds(params.get("t")),
                window=sf_seconds(policy.get("w")),
                policy=name,
                source="ratelimit",
            )
        )
    for name, policy in policies.items():
        if name not in seen and ("q" in policy or "w" in policy):
            found.append(
                RateLimit(
                    limit=sf_int(policy.get("q")),
                    remaining=None,
                    reset_after=None,
                    window=sf_seconds(policy.get("w")),
                    policy=name,
                    source="ratelimit",
                )
            )
    return found


def _draft_rate_limits(view: HeaderView, now: float | None) -> list[RateLimit]:
    """Draft-07's ``RateLimit: limit=10, remaining=1, reset=7``, or the earlier drafts' triple."""
    policy_text = field_value(view, "ratelimit-policy")
    parsed = sf_parse(field_value(view, "ratelimit"), "dictionary")
    if isinstance(parsed, dict) and {"limit", "remaining", "reset"} & parsed.keys():
        limit = sf_int(dict_member(parsed, "limit"))
        remaining = sf_int(dict_member(parsed, "remaining"))
        reset = _reset_from(sf_seconds(dict_member(parsed, "reset")), now)
    else:
        limit_text = field_value(view, "ratelimit-limit")
        limit = _leading_int(limit_text)
        remaining = _int(field_value(view, "ratelimit-remaining"))
        reset = _reset_after(field_value(view, "ratelimit-reset"), now)
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
        limit_text = field_value(view, prefix + "limit")
        limit = _leading_int(limit_text)
        remaining = _int(field_value(view, prefix + "remaining"))
        used = _int(field_value(view, prefix + "used"))  # GitHub
        if remaining is None and limit is not None and used is not None:
            remaining = max(0, limit - used)
        reset = _seconds(field_value(view, prefix + "reset-after"))  # Discord: float seconds, unambiguous
        if reset is None:
            reset = _reset_after(field_value(view, prefix + "reset"), now)
        if limit is None and remaining is None and reset is None:
            continue
        policy = field_value(view, prefix + "resource") or field_value(view, prefix + "bucket")  # GitHub, Discord
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
        limit = _int(field_value(view, f"x-ratelimit-limit-{family}"))
        remaining = _int(field_value(view, f"x-ratelimit-remaining-{family}"))
        reset = _duration(field_value(view, f"x-ratelimit-reset-{family}"))
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
