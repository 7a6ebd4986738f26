"""Classification: one pure function from a response (status, headers, body) or an exception to an outcome.

:func:`classify` answers what a retry policy, the gateway and a paged engineer all need to know: which
kind of failure this is, whether the same request sent again may succeed, whether the upstream could
have acted on it, when to come back, and one line saying why. It never does I/O and never reads the
clock (pass ``now``; without it the response's own Date header is the reference for HTTP-dates).

The order of evidence, strongest first:

1. an exception from the HTTP stack, mapped to the most specific kind (see :func:`classify_exception`);
2. "error 600": a raw 600 status, or a 2xx whose JSON body carries a 600 envelope; the envelope's own
   words (``gateway_timeout``, ``token expired`` ...) then name the cause behind it;
3. a ``Proxy-Status`` header (RFC 9209) that names the error type;
4. a vendor signature from the knowledge base (Cloudflare 522, AWS API Gateway's ``x-amzn-ErrorType``,
   Slack's ``{"ok": false, "error": "token_expired"}`` ...);
5. the status code, read together with WWW-Authenticate, Retry-After and the rate-limit headers
   (:mod:`upstreamkit.core._status_meaning`).

Never lean on ``httpx.Response.is_error``: it is False for status 600.

:func:`classify` is total: any ``int`` status (one outside 100-999 is an ``http_protocol_error``), any
headers, any body (any bytes, any text with lone surrogates, JSON nested to any depth) give an
:class:`Outcome`; only a call with neither a status nor an exception raises (``ValueError``). It reads at
most 64 KiB of the body, and of the headers what :mod:`upstreamkit.core._header_view` lets a parser read
(1,000 fields, 16 KiB a field, 1,024 list members), so its time is bounded whatever the size of its
input. Every text it returns (explanation, evidence, request id) is redacted, well-formed Unicode (lone
surrogates become U+FFFD) and, for evidence taken from the input, clipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from upstreamkit.core._header_view import field_values
from upstreamkit.core._status_meaning import by_status
from upstreamkit.core._text import clip, well_formed
from upstreamkit.core.envelope import decode_json, envelope_text, find_600, reason_kind
from upstreamkit.core.exceptions import classify_exception
from upstreamkit.core.headers import (
    HeadersLike,
    HeaderView,
    RateLimit,
    find_request_id,
    header_view,
    parse_http_date,
    parse_proxy_status,
    parse_rate_limit,
    parse_retry_after,
)
from upstreamkit.core.outcome import Outcome, make_outcome
from upstreamkit.core.redact import redact_text
from upstreamkit.errors import ErrorKind, Hop
from upstreamkit.knowledge import (
    BODY_SCAN_LIMIT,
    Signature,
    body_signatures,
    kind_info,
    match_signature,
    success_hints,
    success_screen,
)

__all__ = ["Outcome", "classify", "classify_exception", "is_plain_success"]

_BODY_LIMIT = 65_536
# HTTP status codes are three digits (RFC 9110 §15); 600-999 are the non-standard ones gateways use.
_MIN_STATUS, _MAX_STATUS = 100, 999
_CODE_600 = 600
# A success body is decoded as JSON only when it may hold a 600 envelope.
_MAY_CARRY_600 = ("600", "upstream_error", "gateway_timeout")
"""Words one of which a 600 envelope in a success body holds (searched in the lower-cased body)."""


def _may_carry_600(low: str) -> bool:
    return any(word in low for word in _MAY_CARRY_600)


# --- responses -------------------------------------------------------------------------------------------


def _text(body: bytes | str | None) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body[:_BODY_LIMIT].decode("utf-8", "replace")
    return well_formed(body[:_BODY_LIMIT])


def _said(fact: str) -> str:
    """A fact as an Outcome may carry it: well formed, then redacted."""
    return redact_text(well_formed(fact))


def teaches(name: str) -> bool:
    """True for a lower-case header name a client learns from on a success: Retry-After, RateLimit-*,
    X-RateLimit-*."""
    return name == "retry-after" or "ratelimit" in name or "rate-limit" in name


def is_plain_success(status: int, names: Iterable[str], body: bytes | str) -> bool:
    """True when :func:`classify` would call this response a success with nothing to learn from it.

    A cheap test for the client's hot path: a 2xx without Retry-After or rate-limit headers (lower-case
    ``names``), whose body neither may hold a 600 envelope nor matches a success-status signature.
    """
    if not 200 <= status < 300:
        return False
    if names and any(teaches(name) for name in names):  # the transport's quick path passes () and checks bytes
        return False
    # _text(body), without the call for the bytes the client always passes
    text = body[:_BODY_LIMIT].decode("utf-8", "replace") if isinstance(body, bytes) else _text(body)
    low = text.lower()
    # The words tested one by one, not by any(<generator>): the client calls this on every response.
    if "600" in low or "upstream_error" in low or "gateway_timeout" in low:  # _may_carry_600, unrolled
        return False
    hints = success_hints()
    if hints is not None:
        for hint in hints:  # see above
            if hint in low:
                break
        else:
            return True  # no success-status signature can match without one of its leading literals
    return not success_screen().search(text[:BODY_SCAN_LIMIT])


def classify(  # noqa: PLR0915 - the checks in their order of precedence, top to bottom
    status: int | None = None,
    headers: HeadersLike | HeaderView | None = None,
    body: bytes | str | None = None,
    *,
    exception: BaseException | None = None,
    now: float | None = None,
) -> Outcome:
    """Classify a response (``status``, ``headers``, ``body``) or an ``exception`` into an :class:`Outcome`.

    ``now`` (epoch seconds) turns HTTP-date Retry-After values and epoch rate-limit resets into delays;
    when omitted, the response's Date header is used, and without one those delays stay unknown.
    """
    if exception is not None:
        return classify_exception(exception)
    if status is None:
        raise ValueError("classify() needs a status or an exception")
    if not _MIN_STATUS <= status <= _MAX_STATUS:
        return _invalid_status(status)
    view = header_view(headers)
    lower = field_values(view)
    text = _text(body)
    # The common case is a plain success: skip the parsers whose inputs are absent (the transport's hot path).
    limited = any("ratelimit" in name or "rate-limit" in name for name in lower)
    reference = now
    if reference is None and (limited or "retry-after" in lower):
        reference = parse_http_date(lower.get("date", ""))
    retry_after = parse_retry_after(lower.get("retry-after"), reference)
    limit = parse_rate_limit(view, reference) if limited else None
    found_id = find_request_id(view)
    request_id = _said(found_id[1]) if found_id else None
    payload = decode_json(text) if status >= 300 or _may_carry_600(text.lower()) else None

    evidence: list[str] = [f"HTTP status {status}"]
    if retry_after is not None:
        evidence.append(f"Retry-After: {clip(lower.get('retry-after', ''))} ({retry_after:g} s)")
    if limit is not None:
        evidence.append(_describe_limit(limit))
    if found_id:
        evidence.append(f"request id {request_id} ({found_id[0]})")

    common: dict[str, Any] = {"status": status, "request_id": request_id, "rate_limit": limit}

    def finish(outcome: Outcome, *facts: str) -> Outcome:
        after = outcome.retry_after
        if after is None and outcome.kind is ErrorKind.RATE_LIMITED:
            after = retry_after if retry_after is not None else _limit_wait(limit)
        elif after is None and outcome.kind is not None:
            after = retry_after
        return replace(outcome, retry_after=after, evidence=tuple(_said(e) for e in (*evidence, *facts)))

    # 2. error 600: a raw status line, or an envelope in a success body.
    body_600 = 200 <= status < 300 and find_600(payload)
    if status == _CODE_600 or body_600:
        reason_text = envelope_text(payload)
        cause = reason_kind(reason_text) if reason_text else None
        where = "a raw HTTP 600 status" if status == _CODE_600 else f"HTTP {status} with error 600 in its JSON body"
        facts = [f"error 600 reported as {where}"]
        if reason_text:
            facts.append(f"envelope says: {clip(reason_text)}")
        if cause is None or cause is ErrorKind.UPSTREAM_600:
            explanation = f"The gateway reported {where}: the upstream call failed and the gateway did not say why" + (
                f" ({clip(reason_text)})." if reason_text else "."
            )
            return finish(
                make_outcome(ErrorKind.UPSTREAM_600, explanation, hop=Hop.GATEWAY, is_600=True, **common), *facts
            )
        explanation = (
            f"The gateway reported {where}; its message ({clip(reason_text)}) means: {kind_info(cause).title.lower()}."
        )
        return finish(make_outcome(cause, explanation, hop=Hop.GATEWAY, is_600=True, **common), *facts)

    # 3. Proxy-Status (RFC 9209): an intermediary says what went wrong.
    proxy_status = _proxy_status_kind(lower.get("proxy-status"))
    if status >= 400 and proxy_status is not None:
        kind, proxy, details = proxy_status
        explanation = f"{proxy} reported {kind} in Proxy-Status" + (f": {details}" if details else ".")
        return finish(
            make_outcome(kind, explanation, hop=Hop.GATEWAY, producer=proxy, **common),
            f"Proxy-Status: {clip(lower.get('proxy-status', ''), 500)}",
        )

    # 4. a vendor signature from the knowledge base. On a success status only body signatures apply:
    # a Cloudflare header alone says nothing about a 200.
    signature = _signature_for(status, lower, text)
    if signature is not None:
        return finish(
            make_outcome(
                signature.kind,
                signature.explanation,
                hop=signature.hop,
                retryable=signature.retryable,
                request_sent=signature.request_sent,
                producer=signature.producer,
                signature=signature.id,
                source=signature.source,
                fix=signature.fix,
                **common,
            ),
            f"matches {signature.producer} signature {signature.id}",
        )

    short = _cut_short(status, lower, body, text)
    if short is not None:
        return finish(make_outcome(ErrorKind.HTTP_RESPONSE_INCOMPLETE, short[0], hop=Hop.UNKNOWN, **common), short[1])

    if status < 400:
        return Outcome(
            ok=True,
            kind=None,
            retryable=False,
            request_sent=True,
            explanation=f"HTTP {status}: not a failure.",
            hop=Hop.UPSTREAM,
            **common,
            evidence=tuple(_said(e) for e in evidence),
        )

    # 5. the status code, with the headers that qualify it.
    outcome, facts = by_status(
        status, view=view, payload=payload, text=text, retry_after=retry_after, limit=limit, common=common
    )
    return finish(outcome, *facts)


def _cut_short(status: int, lower: dict[str, str], body: bytes | str | None, text: str) -> tuple[str, str] | None:
    """(explanation, evidence) when a success's non-empty body is shorter than its Content-Length.

    An empty body is left alone: it is also what a HEAD request gets, and classify does not know the method.
    HTTP clients check the length themselves (httpx raises), so this matters for responses read from files.
    """
    if not 200 <= status < 300 or status == 204 or not body or "transfer-encoding" in lower:
        return None
    declared = lower.get("content-length", "").strip()
    if not declared.isascii() or not declared.isdigit() or len(declared) > 18:
        return None
    size = len(body) if isinstance(body, bytes | bytearray) else len(text.encode("utf-8", "replace"))
    promised = int(declared)
    if size >= promised:
        return None
    explanation = (
        f"HTTP {status} with {size} of the {promised} body bytes its Content-Length promised: the response was "
        "cut off mid-body (a proxy relays the upstream's failure this way once it has sent the status line)."
    )
    return explanation, f"body {size} bytes, Content-Length {promised}"


def _signature_for(status: int, lower: dict[str, str], text: str) -> Signature | None:
    if status >= 400:
        return match_signature(status, lower, text)
    if success_screen().search(text[:BODY_SCAN_LIMIT]):  # one pass over the body before forty
        return match_signature(status, lower, text, body_signatures())
    return None


def _proxy_status_kind(value: str | None) -> tuple[ErrorKind, str, str | None] | None:
    if not value:
        return None
    for entry in parse_proxy_status(value):
        if entry.error:
            try:
                return ErrorKind(entry.error), entry.proxy, entry.details
            except ValueError:
                continue
    return None


def _limit_wait(limit: RateLimit | None) -> float | None:
    if limit is not None and limit.exhausted:
        return limit.reset_after
    return None


def _describe_limit(limit: RateLimit) -> str:
    parts = [f"rate limit ({limit.source})"]
    if limit.limit is not None:
        parts.append(f"limit {limit.limit}")
    if limit.remaining is not None:
        parts.append(f"remaining {limit.remaining}")
    if limit.reset_after is not None:
        parts.append(f"resets in {limit.reset_after:g} s")
    return ", ".join(parts)


def _invalid_status(status: int) -> Outcome:
    """A status no HTTP response can have: the response was not valid HTTP."""
    # str() of an int over 4,300 digits raises ValueError (CVE-2020-10735's limit): say how long it is instead.
    shown = str(status) if abs(status) < 10**12 else f"of {status.bit_length()} bits"
    explanation = f"HTTP status {shown} is not a three-digit status code: the response was not valid HTTP."
    return replace(
        make_outcome(ErrorKind.HTTP_PROTOCOL_ERROR, explanation, hop=Hop.UNKNOWN),
        evidence=(f"HTTP status {shown}",),
    )
