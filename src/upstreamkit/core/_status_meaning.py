"""Step 5 of classification: what an HTTP status code means, read with the headers that qualify it.

:func:`by_status` is :func:`upstreamkit.core.classify.classify`'s last resort, once no 600 envelope,
``Proxy-Status`` or vendor signature has spoken: 401/407 with the Bearer error of ``WWW-Authenticate``,
403 and 429 with the rate-limit headers and ``Retry-After``, 503 shedding load, the timeouts, the 5xx
outages, and the non-standard 598/599 and 600-999 that gateways use. Every text taken from the input is
clipped here; classify makes it well formed and redacts it.
"""

from __future__ import annotations

import re
from typing import Any

from upstreamkit.core._text import clip
from upstreamkit.core.envelope import envelope_text, reason_kind
from upstreamkit.core.headers import HeaderView, RateLimit, bearer_error
from upstreamkit.core.outcome import Outcome, make_outcome
from upstreamkit.errors import ErrorKind, Hop

__all__ = ["by_status"]


def by_status(
    status: int,
    *,
    view: HeaderView,
    payload: Any,
    text: str,
    retry_after: float | None,
    limit: RateLimit | None,
    common: dict[str, Any],
) -> tuple[Outcome, list[str]]:
    """The outcome for a failing ``status`` (400 and up) and the facts read on the way.

    ``payload`` is the decoded body (or None), ``text`` the body as text; ``common`` holds the
    :class:`Outcome` fields classify has already settled (status, request id, rate limit).
    """
    words = envelope_text(payload) or text[:500]
    reason = reason_kind(words) if words else None
    facts: list[str] = [f"body says: {clip(words)}"] if words.strip() else []
    throttled = (limit is not None and limit.exhausted) or reason is ErrorKind.RATE_LIMITED

    if status in (401, 407):
        challenge = bearer_error(view)
        hop = Hop.GATEWAY if status == 407 else Hop.UPSTREAM
        who = "The forward proxy" if status == 407 else "The upstream"
        if challenge is not None and (challenge.error or challenge.description):
            facts.append(
                f"WWW-Authenticate: error={clip(challenge.error or '-', 80)}"
                + (f', error_description="{clip(challenge.description, 300)}"' if challenge.description else "")
            )
        described = " ".join(filter(None, [challenge.description if challenge else None, words]))
        if reason_kind(described) is ErrorKind.AUTH_EXPIRED or re.search(r"\bexpir", described, re.I):
            return make_outcome(
                ErrorKind.AUTH_EXPIRED,
                f"{who} rejected the credentials because they expired; refresh the token and retry.",
                hop=hop,
                **common,
            ), facts
        detail = f" ({clip(challenge.error, 80)})" if challenge and challenge.error else ""
        return make_outcome(
            ErrorKind.AUTH_INVALID,
            f"{who} rejected the credentials as invalid or missing{detail}; sending them again will not help.",
            hop=hop,
            **common,
        ), facts
    if status == 403:
        if throttled or retry_after is not None:
            return make_outcome(
                ErrorKind.RATE_LIMITED,
                "HTTP 403 with an exhausted rate limit: the upstream throttles with 403 (as GitHub does).",
                hop=Hop.UPSTREAM,
                **common,
            ), facts
        if reason is ErrorKind.AUTH_EXPIRED:
            return make_outcome(
                ErrorKind.AUTH_EXPIRED, "HTTP 403 saying the credentials expired.", hop=Hop.UPSTREAM, **common
            ), facts
        return make_outcome(
            ErrorKind.AUTH_FORBIDDEN,
            "HTTP 403: the caller is known but not allowed to do this (scope, role, IP allow-list or policy).",
            hop=Hop.UPSTREAM,
            **common,
        ), facts
    if status == 429:
        if re.search(r"insufficient[_\s]quota|billing|exceeded your current quota", words, re.IGNORECASE):
            return make_outcome(
                ErrorKind.RATE_LIMITED,
                "HTTP 429 for an exhausted quota or billing limit: waiting will not restore it.",
                hop=Hop.UPSTREAM,
                retryable=False,
                **common,
            ), facts
        return make_outcome(
            ErrorKind.RATE_LIMITED,
            "HTTP 429 Too Many Requests: the call was throttled"
            + (f"; come back in {retry_after:g} s." if retry_after is not None else "."),
            hop=Hop.UPSTREAM,
            **common,
        ), facts
    if status == 503 and (retry_after is not None or throttled):
        return make_outcome(
            ErrorKind.RATE_LIMITED,
            "HTTP 503 with Retry-After: the upstream sheds load and says when to come back"
            + (f" ({retry_after:g} s)." if retry_after is not None else "."),
            hop=Hop.UPSTREAM,
            **common,
        ), facts
    if status == 408:
        return make_outcome(
            ErrorKind.REQUEST_TIMEOUT,
            "HTTP 408: the server gave up waiting for the request.",
            hop=Hop.UPSTREAM,
            **common,
        ), facts
    if status in (400, 413, 415, 422):
        what = {413: "too large", 415: "of an unsupported media type", 422: "failing validation"}.get(
            status, "malformed or invalid"
        )
        return make_outcome(
            ErrorKind.PAYLOAD_REJECTED,
            f"HTTP {status}: the request's content was {what}.",
            hop=Hop.UPSTREAM,
            **common,
        ), facts
    if status == 502:
        return make_outcome(
            ErrorKind.UPSTREAM_OUTAGE,
            "HTTP 502 Bad Gateway: a gateway got no valid response from the upstream (down, crashing, or refusing).",
            hop=Hop.GATEWAY,
            **common,
        ), facts
    if status == 504:
        return make_outcome(
            ErrorKind.HTTP_RESPONSE_TIMEOUT,
            "HTTP 504 Gateway Timeout: a gateway waited for the upstream and gave up.",
            hop=Hop.GATEWAY,
            **common,
        ), facts
    if status in (598, 599):
        return make_outcome(
            ErrorKind.HTTP_RESPONSE_TIMEOUT,
            f"HTTP {status}: a proxy's network read timeout (a non-standard code).",
            hop=Hop.GATEWAY,
            **common,
        ), facts
    if status == 505:
        return make_outcome(
            ErrorKind.HTTP_PROTOCOL_ERROR,
            "HTTP 505: the HTTP version is not supported.",
            hop=Hop.UPSTREAM,
            **common,
        ), facts
    if status >= 500:
        what = {500: "an internal error", 503: "unavailable", 529: "overloaded"}.get(status, "failing")
        hop = Hop.UPSTREAM if status in (500, 503, 529) else Hop.UNKNOWN
        if 600 <= status <= 999:
            return make_outcome(
                ErrorKind.UPSTREAM_600,
                f"HTTP {status}: a non-standard gateway status for a failed upstream call.",
                hop=Hop.GATEWAY,
                **common,
            ), facts
        return make_outcome(
            ErrorKind.UPSTREAM_OUTAGE, f"HTTP {status}: the upstream is {what}.", hop=hop, **common
        ), facts
    return make_outcome(
        ErrorKind.HTTP_REQUEST_ERROR,
        f"HTTP {status}: the request was refused (check URL, path and method); a retry will not change that.",
        hop=Hop.UPSTREAM,
        **common,
    ), facts
