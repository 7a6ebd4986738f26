"""Redaction: applied at every exit (logs, exception text, reprs, metric labels, reports, bundles).

A secret is replaced by its fingerprint, ``sha256:`` and the first 8 hex digits of the SHA-256 of the
secret, so two log lines that carry the same token can be correlated without either carrying the token.
JWTs keep their header and claims (they are what a paged engineer needs: ``exp``, ``aud``, ``iss``) and lose
their signature, which is what makes them usable.

What counts as secret:
- headers: Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key, and any name that speaks of
  a token, secret, key, password, signature, session or credential (rate-limit headers excepted: OpenAI's
  ``x-ratelimit-remaining-tokens`` is a count, not a token);
- URLs: userinfo, and query parameters whose names are secret by the same rule (``access_token``,
  ``X-Amz-Signature``, ``sig``, ``api_key``);
- JSON: values under secret keys, at any depth;
- free text: Bearer/Basic credentials, JWTs, private-key blocks, and well-known key formats (AWS access
  keys, GitHub, Stripe, Slack, OpenAI, Google API keys), ``name=value`` and ``"name": "value"`` pairs with
  secret names, and URLs found in the text.

Written by hand: no maintained library redacts HTTP traffic with correlatable fingerprints while keeping
JWT claims; the patterns come from the vendors' documented token formats (cited beside each).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = [
    "fingerprint",
    "is_secret_name",
    "redact_body",
    "redact_header_value",
    "redact_headers",
    "redact_json",
    "redact_text",
    "redact_url",
]

_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{8}")


def fingerprint(secret: str | bytes) -> str:
    """``sha256:`` plus 8 hex digits: enough to correlate, far too little to recover the secret."""
    data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
    return "sha256:" + hashlib.sha256(data).hexdigest()[:8]


_SECRET_NAME = re.compile(
    r"token|secret|passw(?:or)?d|passwd|pwd|api[-_]?key|apikey|(?:^|[-_.])key$|private[-_]?key|access[-_]?key"
    r"|signature|(?:^|[-_.])sig$|session|credential|cookie|authorization|^auth$|subscription[-_]key"
    r"|client[-_]?secret|(?:^|[-_.])code[-_]verifier$|(?:^|[-_.])otp$",
    re.IGNORECASE,
)
# Names that match the pattern above but carry no secret. Kept short on purpose: redacting too much costs
# a little readability, redacting too little costs a credential.
_NOT_SECRET = re.compile(
    r"^(?:idempotency[-_]key|x-idempotency-key|keep-alive|token[-_]type|expires[-_]in|key[-_]id|kid"
    r"|x-amz-security-token-expires|www-authenticate|proxy-authenticate|authentication-info"
    r"|x-session-expires)$|ratelimit|rate-limit|rate_limit",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """True when a header, query parameter or JSON key with this name carries a secret."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


# --- free text -------------------------------------------------------------------------------------------

_JWT = re.compile(r"\b(eyJ[A-Za-z0-9_-]{2,})\.(eyJ[A-Za-z0-9_-]{2,})\.([A-Za-z0-9_-]{8,})")

# Each pattern matches a whole credential; the match is replaced by its fingerprint.
_TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    # PEM private keys (RFC 7468), whole block.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
    # AWS access key ids (docs.aws.amazon.com IAM "Understanding unique ID prefixes": AKIA, ASIA, ...).
    re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b"),
    # GitHub tokens (github.blog 2021-04-05 "Behind GitHub's new authentication token formats").
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    # Stripe keys and webhook secrets (docs.stripe.com/keys): sk_live_, rk_test_, whsec_ ...
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,255}\b|\bwhsec_[A-Za-z0-9]{16,255}\b"),
    # Slack tokens (api.slack.com/concepts/token-types): xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xapp-.
    re.compile(r"\b(?:xox[abprs]|xapp)-[A-Za-z0-9-]{10,255}"),
    # OpenAI / Anthropic style secret keys: sk-..., sk-proj-..., sk-ant-...
    re.compile(r"\bsk-(?:[A-Za-z0-9]+-)?[A-Za-z0-9_-]{20,255}"),
    # Google API keys (cloud.google.com/docs/authentication/api-keys): AIza + 35 chars.
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    # Google OAuth access tokens: ya29.
    re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}"),
)

# "Bearer <credentials>" / "Basic <credentials>" anywhere in text (RFC 6750 b64token, RFC 7617).
_AUTH_SCHEME = re.compile(
    r"\b(Bearer|Basic|Token|DPoP|Negotiate|SharedAccessSignature)(\s+)"
    # RFC 9110 token68; an auth-param (error="...") or a fingerprint (sha256:...) is not a credential.
    r"([A-Za-z0-9._~+/-]{6,}=*)(?![\w\"=:])",
    re.IGNORECASE,
)

# name=value and "name": "value" pairs whose name is secret: query strings, logfmt, JSON-ish text.
_PAIR = re.compile(
    r"""(?P<name>["']?[A-Za-z0-9_.-]{2,64}["']?)(?P<sep>\s*[=:]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s&;,"'}\]]+)"""
)

_SCHEME_WORDS = frozenset(
    {"bearer", "basic", "token", "digest", "dpop", "negotiate", "sharedaccesssignature", "aws4-hmac-sha256"}
)

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://[^\s\"'<>]+")


def _fingerprint_match(match: re.Match[str]) -> str:
    return fingerprint(match.group(0))


def _redact_jwt(match: re.Match[str]) -> str:
    return f"{match.group(1)}.{match.group(2)}.{fingerprint(match.group(0))}"


_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]*")


def _redact_scheme(match: re.Match[str]) -> str:
    credentials = match.group(3)
    if _FINGERPRINT.fullmatch(credentials) or credentials.startswith("eyJ"):
        return match.group(0)  # already a fingerprint, or a JWT handled on its own
    if match.group(1).lower() == "token" and _PLAIN_WORD.fullmatch(credentials):
        # "The access token expired": prose, not the `Token <credentials>` scheme. A real token of letters only,
        # in lower case, is rare enough; Bearer and Basic are always redacted.
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{fingerprint(credentials)}"


def _redact_pair(match: re.Match[str]) -> str:
    name = match.group("name").strip("\"'")
    value = match.group("value")
    if not is_secret_name(name):
        # "reason: token=abc" - a harmless label may hold a secret pair in its value: look inside.
        inner = _PAIR.sub(_redact_pair, value)
        return match.group(0) if inner == value else f"{match.group('name')}{match.group('sep')}{inner}"
    if _FINGERPRINT.fullmatch(value.strip("\"'")):
        return match.group(0)
    if value.lower() in _SCHEME_WORDS:
        return match.group(0)  # "Authorization: Bearer <fingerprint>": the scheme rule already redacted it
    if value.startswith(("'", '"')):
        quote_char = value[0]
        inner = value[1:-1] if len(value) >= 2 and value.endswith(quote_char) else value[1:]
        if not inner or _FINGERPRINT.fullmatch(inner):
            return match.group(0)
        return f"{match.group('name')}{match.group('sep')}{quote_char}{fingerprint(inner)}{quote_char}"
    return f"{match.group('name')}{match.group('sep')}{fingerprint(value)}"


# Every rule below needs one of these to match; text without any is returned as it is, cheaply.
_MAYBE_SECRET = re.compile(
    r"://|eyJ|PRIVATE KEY|\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)|gh[pousr]_|github_pat_"
    r"|_(?:live|test)_|whsec_|xox[abprs]-|xapp-|sk-|AIza|ya29\.|bearer|basic|token|digest|dpop|negotiate"
    r"|sharedaccess|secret|passw|pwd|key|sig|session|credential|cookie|auth|otp|verifier",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """Redact every credential found in free text (log lines, exception messages, HTML bodies)."""
    if not text or not _MAYBE_SECRET.search(text):
        return text
    return _redact_text(text)


@lru_cache(maxsize=2048)
def _redact_text(text: str) -> str:
    # Cached: the same exception messages and log lines come back again and again during an incident.
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _JWT.sub(_redact_jwt, text)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(_fingerprint_match, text)
    text = _AUTH_SCHEME.sub(_redact_scheme, text)
    return _PAIR.sub(_redact_pair, text)


# --- URLs ------------------------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """Redact userinfo and secret query parameters; the host, path and other parameters stay readable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _redact_url_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, password = userinfo.partition(":")
        if _FINGERPRINT.fullmatch(password) or _FINGERPRINT.fullmatch(userinfo):
            pass  # already redacted
        elif has_password:
            netloc = f"{user}:{fingerprint(password)}@{hostport}"
        else:
            netloc = f"{fingerprint(user)}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(name) for name, _ in pairs):
            query = "&".join(f"{quote(name, safe='')}={_secret_value(name, value)}" for name, value in pairs)
    fragment = _redact_url_text(parts.fragment) if parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _secret_value(name: str, value: str) -> str:
    if not is_secret_name(name) or _FINGERPRINT.fullmatch(value):
        return quote(value, safe=":")
    return fingerprint(value)


def _redact_url_text(text: str) -> str:
    # For text that is not a parseable URL (or a fragment holding "access_token=..." as OAuth implicit does).
    return _PAIR.sub(_redact_pair, text)


# --- headers ---------------------------------------------------------------------------------------------

_COOKIE_PAIR = re.compile(r"(?P<name>[^=;,\s]+)=(?P<value>[^;,]*)")


def redact_header_value(name: str, value: str) -> str:
    """Redact one header's value according to its name, then scan it as free text."""
    lname = name.lower()
    if lname in ("authorization", "proxy-authorization"):
        scheme, space, credentials = value.strip().partition(" ")
        if not space:
            return fingerprint(value)
        if _JWT.fullmatch(credentials.strip()):
            return f"{scheme} {_JWT.sub(_redact_jwt, credentials.strip())}"
        return f"{scheme} {fingerprint(credentials.strip())}"
    if lname == "cookie":
        return "; ".join(f"{m.group('name')}={fingerprint(m.group('value'))}" for m in _COOKIE_PAIR.finditer(value))
    if lname == "set-cookie":
        first, sep, attributes = value.partition(";")
        cookie_name, eq, cookie_value = first.partition("=")
        redacted = f"{cookie_name}={fingerprint(cookie_value.strip())}" if eq else fingerprint(first)
        return f"{redacted}{sep}{attributes}"
    if is_secret_name(lname):
        return fingerprint(value)
    return redact_text(value)


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    """Redact a header list (or mapping); names and order are kept, values of secret headers fingerprinted."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), redact_header_value(str(name), str(value))) for name, value in items]


# --- bodies ----------------------------------------------------------------------------------------------


def redact_json(value: Any) -> Any:
    """Return a copy of a decoded JSON value with secret keys' values fingerprinted, at any depth."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            skey = str(key)
            if is_secret_name(skey) and item is not None and not isinstance(item, bool):
                out[skey] = _fingerprint_leaves(item)
            else:
                out[skey] = redact_json(item)
        return out
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _fingerprint_leaves(value: Any) -> Any:
    # Everything under a secret key is secret, whatever the inner keys are called.
    if isinstance(value, Mapping):
        return {str(k): _fingerprint_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fingerprint_leaves(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    return fingerprint(value if isinstance(value, str) else json.dumps(value))


def redact_body(body: bytes | str | None, content_type: str | None = None) -> str:
    """Redact a request or response body: JSON by key, form data by field, anything else as free text."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    ctype = (content_type or "").lower()
    stripped = text.lstrip()
    if "json" in ctype or stripped.startswith(("{", "[")):
        try:
            decoded = json.loads(text)
        except ValueError:
            return redact_text(text)
        return json.dumps(redact_json(decoded), ensure_ascii=False)
    if "x-www-form-urlencoded" in ctype:
        pairs = parse_qsl(text, keep_blank_values=True)
        return "&".join(
            f"{quote(k, safe='')}={fingerprint(v) if is_secret_name(k) else quote(redact_text(v), safe='')}"
            for k, v in pairs
        )
    return redact_text(text)
