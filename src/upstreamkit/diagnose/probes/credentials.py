"""Phase "credentials": what the request presents, whether a JWT is still valid, and what the server said.

The request side needs no response: the Authorization header (Bearer, Basic, any other scheme), else the
first header :func:`upstreamkit.core.redact.is_secret_name` flags (X-Api-Key, Ocp-Apim-Subscription-Key ...),
else a secret query parameter. A JWT (in any of those places) is decoded with PyJWT *without* verifying it:
a paged engineer needs its ``exp``, ``nbf``, ``aud``, ``iss`` and ``scope``, not its signature. Times are
judged against the server's Date header when a response has one (then ``clock.skew_s`` says how far the local
clock is off), else against the local clock. The response side reads ``WWW-Authenticate`` (RFC 6750 errors).

The credential itself never appears in a fact, the detail or a line: only its fingerprint.

Facts:

- ``cred.present`` (bool): the request carries a credential.
- ``cred.scheme`` (str | None): ``"Bearer"``, ``"Basic"``, another Authorization scheme,
  ``"header:X-Api-Key"``, ``"query:api_key"``.
- ``cred.fingerprint`` (str | None): ``sha256:xxxxxxxx`` of the credential.
- ``jwt.present`` (bool): the credential is a JWT that decodes.
- ``jwt.error`` (str | None): it looks like a JWT but does not decode (why).
- ``jwt.alg`` (str | None): the header's ``alg``.
- ``jwt.exp`` / ``jwt.nbf`` / ``jwt.iat`` (float | None): the claims, epoch seconds.
- ``jwt.exp_iso`` / ``jwt.nbf_iso`` / ``jwt.iat_iso`` (str | None): the same as ``2026-11-24T10:00:00Z``.
- ``jwt.expired`` (bool): ``exp`` is at or before the reference time.
- ``jwt.expires_in_s`` (float | None): ``exp`` minus the reference time (negative when expired).
- ``jwt.expiring_soon`` (bool): it expires within 300 s.
- ``jwt.not_yet_valid`` (bool): ``nbf`` is after the reference time.
- ``jwt.aud`` (str | list[str] | None), ``jwt.iss`` (str | None), ``jwt.sub`` (str | None),
  ``jwt.scope`` (str | None: ``scope``, or ``scp`` joined by spaces).
- ``clock.reference`` (str): ``"server Date"`` or ``"local clock"``: what the times were judged against.
- ``clock.reference_time`` (float): that time, epoch seconds.
- ``clock.skew_s`` (float | None): local time minus the server's Date (None without a Date).
- ``clock.skewed`` (bool): ``|clock.skew_s| > 60``.
- ``www_auth.scheme`` (str | None): the first challenge's scheme.
- ``www_auth.error`` (str | None): the Bearer error (``invalid_token``).
- ``www_auth.description`` (str | None): its ``error_description`` (redacted).
- ``www_auth.realm`` (str | None).
- ``www_auth.scope`` (str | None): the scope the server asks for (``insufficient_scope``).

Status: failed when the JWT is expired or not yet valid, the server's challenge carries an error, or the
status is 401/403 (a 403 the http phase classified as rate limiting excepted); warning when the JWT expires
within 300 s or the clock is skewed; ok otherwise (detail "no credentials sent" when there are none).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from upstreamkit.core.headers import bearer_error, parse_http_date, parse_www_authenticate
from upstreamkit.core.redact import fingerprint, is_secret_name, redact_header_value, redact_text
from upstreamkit.diagnose.model import Exchange, PhaseResult, PhaseStatus, ProbeContext, ProbeRequest

__all__ = ["find_credential", "inspect", "probe"]

EXPIRING_SOON_S = 300.0
SKEW_LIMIT_S = 60.0
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_AUTH_STATUSES = frozenset({401, 403})
# Every jwt.* fact, as it reads when there is no JWT: the rules see the same names whatever was sent.
_NO_JWT: dict[str, Any] = {
    "jwt.present": False,
    "jwt.error": None,
    "jwt.alg": None,
    **{f"jwt.{name}": None for name in ("exp", "exp_iso", "nbf", "nbf_iso", "iat", "iat_iso", "expires_in_s")},
    "jwt.expired": False,
    "jwt.expiring_soon": False,
    "jwt.not_yet_valid": False,
    **{f"jwt.{name}": None for name in ("aud", "iss", "sub", "scope")},
}
_NOT_CREDENTIALS = frozenset({"authorization", "proxy-authorization"})  # the proxy's, not the upstream's


def find_credential(request: ProbeRequest) -> tuple[str, str] | None:
    """The credential the request presents, as ``(scheme, secret)``; None when there is none."""
    authorization = request.header("authorization")
    if authorization is not None and authorization.strip():
        scheme, space, rest = authorization.strip().partition(" ")
        if not space or not rest.strip():
            return "Authorization", authorization.strip()
        canonical = {"bearer": "Bearer", "basic": "Basic"}.get(scheme.lower(), scheme)
        return canonical, rest.strip()
    for name, value in request.headers:
        if name.lower() not in _NOT_CREDENTIALS and is_secret_name(name) and value.strip():
            return f"header:{name}", value.strip()
    try:
        query = urlsplit(request.url).query
    except ValueError:
        query = ""
    for name, value in parse_qsl(query, keep_blank_values=False):
        if is_secret_name(name):
            return f"query:{name}", value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # exp = 1e300: not a date anyone can act on
        return None


def _human(seconds: float) -> str:
    """``45 s``, ``5 min``, ``3 h``, ``2 d``: how long, to a paged engineer's precision."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _text(value: Any) -> str | None:
    return redact_text(value) if isinstance(value, str) else None


def _jwt_facts(token: str, reference: float) -> dict[str, Any]:
    """The claims of a JWT, decoded without verifying, judged against ``reference`` (epoch seconds)."""
    import jwt  # noqa: PLC0415 - PyJWT loads cryptography (~60 ms): only when a token is there to decode

    facts: dict[str, Any] = {"jwt.present": False, "jwt.error": None}
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            options={
                "verify_signature": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.PyJWTError as exc:
        facts["jwt.error"] = redact_text(f"{type(exc).__name__}: {exc}")
        return facts
    exp, nbf, iat = (_number(claims.get(name)) for name in ("exp", "nbf", "iat"))
    aud = claims.get("aud")
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, list):
        scope = " ".join(str(item) for item in scope)
    expires_in = None if exp is None else exp - reference
    facts.update(
        {
            "jwt.present": True,
            "jwt.alg": _text(header.get("alg")),
            "jwt.exp": exp,
            "jwt.exp_iso": _iso(exp),
            "jwt.nbf": nbf,
            "jwt.nbf_iso": _iso(nbf),
            "jwt.iat": iat,
            "jwt.iat_iso": _iso(iat),
            "jwt.expired": expires_in is not None and expires_in <= 0,
            "jwt.expires_in_s": None if expires_in is None else round(expires_in, 3),
            "jwt.expiring_soon": expires_in is not None and 0 < expires_in <= EXPIRING_SOON_S,
            "jwt.not_yet_valid": nbf is not None and nbf > reference,
            "jwt.aud": [str(item) for item in aud] if isinstance(aud, list) else _text(aud),
            "jwt.iss": _text(claims.get("iss")),
            "jwt.sub": _text(claims.get("sub")),
            "jwt.scope": _text(scope),
        }
    )
    return facts


def _auth_exchange(exchanges: list[Exchange]) -> Exchange | None:
    """The last response that speaks of authentication (401/403/407 or a challenge), else the last response."""
    answered = [exchange for exchange in exchanges if exchange.status is not None]
    for exchange in reversed(answered):
        if exchange.status in (401, 403, 407) or exchange.response_header("www-authenticate"):
            return exchange
    return answered[-1] if answered else None


def _www_auth_facts(exchange: Exchange | None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "www_auth.scheme": None,
        "www_auth.error": None,
        "www_auth.description": None,
        "www_auth.realm": None,
        "www_auth.scope": None,
    }
    if exchange is None:
        return facts
    values = [value for name, value in exchange.response_headers if name.lower() == "www-authenticate"]
    challenges = [challenge for value in values for challenge in parse_www_authenticate(value)]
    if not challenges:
        return facts
    facts["www_auth.scheme"] = challenges[0].scheme
    facts["www_auth.realm"] = _text(challenges[0].params.get("realm"))
    bearer = bearer_error(exchange.response_headers)
    if bearer is not None:
        facts["www_auth.error"] = _text(bearer.error)
        facts["www_auth.description"] = _text(bearer.description)
        facts["www_auth.realm"] = _text(bearer.realm) or facts["www_auth.realm"]
        facts["www_auth.scope"] = _text(bearer.scope)
    return facts


def _describe_credential(scheme: str, print_: str, *, is_jwt: bool) -> str:
    """``Bearer JWT (sha256:1a2b3c4d)``, ``key in header X-Api-Key (sha256:...)``: never the secret."""
    if scheme == "Bearer":
        return f"Bearer {'JWT' if is_jwt else 'token'} ({print_})"
    if scheme == "Basic":
        return f"Basic credentials ({print_})"
    if scheme.startswith("header:"):
        return f"{'JWT' if is_jwt else 'key'} in header {scheme[7:]} ({print_})"
    if scheme.startswith("query:"):
        return f"{'JWT' if is_jwt else 'key'} in query parameter {scheme[6:]} ({print_})"
    return f"{scheme} credentials ({print_})"


def _describe_jwt(facts: dict[str, Any]) -> str | None:
    if facts.get("jwt.error"):
        return f"does not decode as a JWT ({facts['jwt.error']})"
    if not facts.get("jwt.present"):
        return None
    if facts["jwt.not_yet_valid"]:
        wait = facts["jwt.nbf"] - facts["clock.reference_time"]
        return f"not valid before {facts['jwt.nbf_iso']}, in {_human(wait)}"
    expires_in = facts["jwt.expires_in_s"]
    if expires_in is None:
        return "has no exp claim"
    if facts["jwt.expired"]:
        return f"expired {facts['jwt.exp_iso']}, {_human(expires_in)} ago"
    if facts["jwt.expiring_soon"]:
        return f"expires {facts['jwt.exp_iso']}, in {_human(expires_in)}"
    return f"valid until {facts['jwt.exp_iso']} (in {_human(expires_in)})"


def inspect(request: ProbeRequest, exchanges: list[Exchange], now: float) -> tuple[dict[str, Any], list[str]]:
    """The credentials facts and report lines for ``request`` and its ``exchanges``; ``now``: local epoch time.

    Pure (no I/O, no clock): :func:`probe` passes the time.
    """
    exchange = _auth_exchange(exchanges)
    date = exchange.response_header("date") if exchange is not None else None
    server_time = parse_http_date(date) if date else None
    facts: dict[str, Any] = {"clock.skew_s": None, "clock.skewed": False, "clock.reference": "local clock"}
    lines: list[str] = []
    reference = now
    if exchange is not None and server_time is not None:
        # The server stamped its Date while answering: about halfway to the first byte, locally.
        local = (exchange.started or now) + (exchange.ttfb_ms or exchange.total_ms or 0.0) / 2000
        skew = round(local - server_time, 1)
        reference = server_time
        facts.update({"clock.skew_s": skew, "clock.skewed": abs(skew) > SKEW_LIMIT_S, "clock.reference": "server Date"})
        lines.append(f"server Date: {date} (local clock {skew:+.1f} s from it)")
    found = find_credential(request)
    facts.update({"cred.present": found is not None, "cred.scheme": None, "cred.fingerprint": None})
    facts.update(_NO_JWT)
    if found is not None:
        scheme, secret = found
        facts.update({"cred.scheme": scheme, "cred.fingerprint": fingerprint(secret)})
        if _JWT_SHAPE.fullmatch(secret):
            facts.update(_jwt_facts(secret, reference))
        described = _describe_credential(scheme, facts["cred.fingerprint"], is_jwt=bool(facts["jwt.present"]))
        lines.append(f"credential: {described}")
        if facts["jwt.present"]:
            claims = ("alg", "exp_iso", "nbf_iso", "iat_iso", "iss", "aud", "sub", "scope")
            shown = [f"{name}={facts[f'jwt.{name}']}" for name in claims if facts.get(f"jwt.{name}") is not None]
            lines.append("jwt claims (not verified): " + ", ".join(shown))
    else:
        lines.append("credential: none sent")
    facts.update(_www_auth_facts(exchange))
    if exchange is not None:
        lines.extend(
            f"{name}: {redact_header_value(name, value)}"
            for name, value in exchange.response_headers
            if name.lower() == "www-authenticate"
        )
    facts["clock.reference_time"] = reference
    return facts, lines


def _verdict(facts: dict[str, Any], status: int | None, http_kind: Any) -> tuple[PhaseStatus, str]:
    found = facts["cred.present"]
    parts: list[str] = []
    if found:
        described = _describe_credential(
            facts["cred.scheme"], facts["cred.fingerprint"], is_jwt=bool(facts["jwt.present"])
        )
        jwt_text = _describe_jwt(facts)
        parts.append(f"{described} {jwt_text}" if jwt_text else described)
    else:
        parts.append("no credentials sent")
    if facts["www_auth.error"]:
        said = f"server says {facts['www_auth.error']}"
        # Not "invalid_token: The ...": a secret-named label before a colon reads as a credential to redaction.
        parts.append(f'{said} ("{facts["www_auth.description"]}")' if facts["www_auth.description"] else said)
    elif status in _AUTH_STATUSES:
        parts.append(f"server answered {status}")
    if facts["clock.skewed"]:
        parts.append(f"local clock is {facts['clock.skew_s']:+.0f} s off the server's Date")
    refused = status in _AUTH_STATUSES and not (status == 403 and http_kind == "rate_limited")
    invalid = facts["jwt.expired"] or facts["jwt.not_yet_valid"] or bool(facts["www_auth.error"]) or refused
    if invalid:
        verdict: PhaseStatus = "failed"
    elif facts["jwt.expiring_soon"] or facts["clock.skewed"]:
        verdict = "warning"
    else:
        verdict = "ok"
    return verdict, "; ".join(parts)


def probe(ctx: ProbeContext) -> PhaseResult:
    """Inspect the request's credentials (and a JWT's claims) and the server's authentication challenge."""
    began = time.perf_counter()
    facts, lines = inspect(ctx.request, ctx.exchanges, time.time())
    exchange = _auth_exchange(ctx.exchanges)
    status = exchange.status if exchange is not None else None
    verdict, detail = _verdict(facts, status, ctx.facts.get("http.kind"))
    ctx.log.append(f"credentials: {detail}")
    return PhaseResult("credentials", verdict, (time.perf_counter() - began) * 1000, detail, facts, lines)
