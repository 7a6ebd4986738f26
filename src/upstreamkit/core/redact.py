"""Redaction: applied at every exit (logs, exception text, reprs, metric labels, reports, bundles).

A secret is replaced by its fingerprint, ``sha256:`` and the first 8 hex digits of the SHA-256 of the
secret, so two log lines that carry the same token can be correlated without either carrying the token.
JWTs keep their header and claims (they are what a paged engineer needs: ``exp``, ``aud``, ``iss``) and lose
their signature, which is what makes them usable.

What is secret is a small grammar, not a list of examples (the words live in ``_redact_grammar``):

- a *secret name* is one that speaks of a token, secret, password, key, signature, session, credential,
  cookie, assertion or authorization (rate-limit counters and ``token_type`` excepted), also ``%``-encoded
  (``api%5Fkey``); in URL queries, fragments and form bodies also OAuth's ``code``. OAuth's ``state`` stays:
  it is a single-use anti-CSRF value that grants nothing, and it is what ties a callback to its request;
- the value of a secret name is fingerprinted wherever the pair is written: JSON (any depth, everything under
  a secret key), HAR-like ``{"name": "password", "value": "..."}``, form and query strings, multipart form
  fields, cookies, headers, YAML/INI/logfmt-like text (``password: x``, ``api_key = x``, quoted or not,
  terminated or not; at the start of a line the value runs to its end), XML elements and attributes;
- after an Authorization-like name, any ``<scheme> <credential>``: a readable scheme word stays and the
  credential (token68, or Digest/AWS4/OAuth secret auth-params) is fingerprinted; in free text also
  ``Bearer``/``Basic``/``Token``/``SSWS``... followed by a credential (prose such as "the token expired" stays);
- the userinfo of any URL: ``u:p@`` keeps the user, ``KEY:@`` and ``TOKEN@`` are the credential themselves;
- private-key blocks (PEM, OpenSSH, PGP) and the well-known token formats of the vendors (cited beside each).

Limits, by design: every redactor accepts any ``str`` or ``bytes`` (invalid UTF-8 replaced; lone surrogates,
which no encoder can write, become U+FFFD) and never raises. Work is linear in the input: each rule is one
regex pass whose runs start only where a run starts and never backtrack (possessive quantifiers), plus one
Python callback per match. Names longer than 64 characters (256 in queries) are not names. Values nested
inside non-secret values are searched 3 levels deep (URLs in query values, pairs in quoted strings); deeper,
a value that still mentions a secret word is fingerprinted whole. :func:`redact_json` walks iteratively and
replaces containers nested deeper than :data:`MAX_JSON_DEPTH` by a marker; :func:`redact_body` reads JSON the
standard library can decode (about 1,000 levels) and treats anything else as free text.
bench/hostile.py measures the slowest adversarial megabyte of each redactor.

Written by hand: no maintained library redacts HTTP traffic with correlatable fingerprints while keeping
JWT claims.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from upstreamkit.core._redact_grammar import (
    AUTH_NAME,
    COOKIE_NAME,
    JWT,
    SCHEME_WORDS_RE,
    SECRET_WORDS,
    fingerprint,
    is_auth_name,
    is_cookie_name,
    is_redacted,
    is_secret_name,
    redact_field,
    redact_quoted,
    redact_token,
    unpercent,
)

__all__ = [
    "MAX_JSON_DEPTH",
    "fingerprint",
    "is_secret_name",
    "redact_body",
    "redact_header_value",
    "redact_headers",
    "redact_json",
    "redact_text",
    "redact_url",
]

MAX_JSON_DEPTH = 100
"""Containers nested deeper than this in :func:`redact_json` are replaced by :data:`_TOO_DEEP`."""
_TOO_DEEP = f"[redacted: nested deeper than {MAX_JSON_DEPTH} levels]"
_MAX_NESTING = 3
_CACHE_LIMIT = 4096
_SURROGATE = re.compile("[\ud800-\udfff]")


def _as_text(value: object) -> str:
    """Any input as a str an encoder can write: bytes decoded (invalid UTF-8 replaced), surrogates replaced."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "replace")
    else:
        try:
            text = str(value)
        except Exception:  # noqa: BLE001 - a redactor never raises; a broken __str__ shows as its type
            text = f"<{type(value).__name__}>"
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


# --- the rules over free text, in the order they run ----------------------------------------------------

_Q_DOUBLE = r'"(?:[^"\\\n]|\\.)*+"?'
_Q_SINGLE = r"'(?:[^'\\\n]|\\.)*+'?"
_Q_ESCAPED = r'\\"(?:[^"\\\n]|\\[^"\n])*+(?:\\")?'  # JSON inside a JSON string: \"...\"
_QUOTED = rf"{_Q_ESCAPED}|{_Q_DOUBLE}|{_Q_SINGLE}"
_SEP = r"""\\?["']?[ \t]{0,8}+(?:=>|[:=])[ \t]{0,8}+"""
_BARE = r"""[^\s&;,"'<>(){}\[\]]++"""
_TOKEN = r"""[^\s"'<>,;\\]++"""

# 1. Private keys (RFC 7468 PEM, OpenSSH, RFC 4880 PGP armor): the whole block.
_PRIVATE_KEY = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----)(.*?)"
    r"(-----END [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# 2. Multipart form fields (RFC 7578): the value after a secret field's part headers.
_MULTIPART = re.compile(
    r"form-data[^\r\n]{0,1024}?(?<![\w-])name=(\"?)([^\"\r\n;]{1,128}+)\1[^\r\n]{0,1024}+"
    r"(?:\r?\n[^\r\n]{1,1024}+){0,16}+\r?\n\r?\n((?:(?!\r?\n--).)*+)",
    re.DOTALL | re.IGNORECASE,
)
# 3. URLs: userinfo, secret query parameters, fragments.
_URL = re.compile(r"(?<![\w+.-])[A-Za-z][\w+.-]{0,15}+://[^\s\"'<>`]++")
_ENCODED_URL = re.compile(r"(?<![\w+.-])[A-Za-z][\w+.-]{0,15}+%3[Aa]%2[Ff]%2[Ff][^\s\"'<>`&]++")  # in a query value
# 4. Authorization-like and cookie-like fields written in text, with their value's own grammar.
_FIELD_NAME = r"(?<![\w.%-])(?P<name>[\w.%-]{0,40}?(?:NAMES)(?:[-_.]header)?)(?![\w.%-])(?P<sep>" + _SEP + ")"
_PARAM = r"""[\w-]{1,64}+[ \t]*+=[ \t]*+(?:\\?"(?:[^"\\\n]|\\[^"\n])*+(?:\\?")?|[^\s,"'\\]*+)"""
_AUTH_BARE = (
    rf"[A-Za-z][A-Za-z0-9-]{{0,30}}+[ \t]++(?:(?:{SCHEME_WORDS_RE})[ \t]++)?"
    rf"(?:{_PARAM}(?:[ \t]*+,[ \t]*+{_PARAM})*+|{_TOKEN})|{_TOKEN}"
)
_AUTH_FIELD = re.compile(
    _FIELD_NAME.replace("NAMES", AUTH_NAME) + rf"(?:(?P<quoted>{_QUOTED})|(?P<bare>{_AUTH_BARE}))", re.IGNORECASE
)
_COOKIE_FIELD = re.compile(
    _FIELD_NAME.replace("NAMES", COOKIE_NAME) + rf"(?:(?P<quoted>{_QUOTED})|(?P<bare>[^\r\n\"'\\<>]++))", re.IGNORECASE
)
# 5. A credential scheme followed by a credential, anywhere (RFC 6750 Bearer, RFC 7617 Basic, Okta SSWS ...).
_FREE_SCHEMES = ("bearer", "basic", "token", "dpop", "negotiate", "ntlm", "ssws", "sharedaccesssignature")
_SCHEME_CRED = re.compile(
    rf"(?<![\w-])(?:{'|'.join(_FREE_SCHEMES)})[ \t]++(?!(?:{SCHEME_WORDS_RE})\b)"
    r"(?P<cred>[\w~+/%-]++(?:[.:][\w~+/%-]++)*+=*+)(?![\w=])(?!(?<==)\")",  # not an auth-param: realm="x"
    re.IGNORECASE,
)
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]*")
# 7. Well-known token formats: (literal hints, pattern). The hints keep the common case to a substring test.
_KNOWN_TOKENS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (hints, re.compile(pattern))
    for hints, pattern in (
        # AWS access key ids (IAM "Understanding unique ID prefixes").
        (("A",), r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Z0-9])"),
        # GitHub (github.blog 2021-04-05 "Behind GitHub's new authentication token formats"); GitLab glpat-.
        (("gh", "github_pat_"), r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_\w{22,255})"),
        (("glpat-",), r"(?<![\w-])glpat-[\w-]{20,255}"),
        # Stripe keys and webhook secrets (docs.stripe.com/keys).
        (("_live_", "_test_", "whsec_"), r"(?<!\w)(?:(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,255}|whsec_\w{16,255})"),
        # Slack tokens (api.slack.com/concepts/token-types) and incoming-webhook URLs.
        (("xox", "xapp-"), r"(?<![\w-])(?:xox[abprse]|xapp)-[A-Za-z0-9-]{10,255}"),
        (("hooks.slack.com",), r"(?<=hooks\.slack\.com/services/)[\w/]{10,255}"),
        # OpenAI / Anthropic secret keys: sk-..., sk-proj-..., sk-ant-api03-...
        (("sk-",), r"(?<![\w-])sk-(?:[A-Za-z0-9]++-){0,3}[\w-]{20,255}"),
        # Google API keys (AIza + 35) and OAuth access tokens (ya29.).
        (("AIza",), r"(?<![\w-])AIza[\w-]{35}(?![\w-])"),
        (("ya29.",), r"(?<![\w-])ya29\.[\w-]{20,}+"),
        # npm (npm_), PyPI (pypi-AgE...), Hugging Face (hf_), SendGrid (SG.x.y), DigitalOcean (dop_v1_).
        (("npm_",), r"(?<!\w)npm_[A-Za-z0-9]{36}(?!\w)"),
        (("pypi-",), r"(?<![\w-])pypi-AgE[\w-]{50,}+"),
        (("hf_",), r"(?<!\w)hf_[A-Za-z]{34}(?!\w)"),
        (("SG.",), r"(?<![\w.-])SG\.[\w-]{22}\.[\w-]{43}(?![\w-])"),
        (("_v1_",), r"(?<!\w)do[opr]_v1_[a-f0-9]{64}(?!\w)"),
        # Telegram bot tokens (core.telegram.org/bots/api: <bot id>:<35 characters>) and Discord webhooks.
        ((":AA",), r"(?<![\w:])\d{8,10}:AA[\w-]{33}(?![\w-])"),
        (("webhooks/",), r"(?<=/api/webhooks/)\d{5,30}/[\w-]{20,255}"),
    )
)
# 8. XML elements whose (local) name is secret: <password>x</password>, <wsse:Password>, CDATA.
_XML = re.compile(
    r"<(?P<tag>(?:[A-Za-z_][\w.-]{0,40}+:)?(?P<local>[A-Za-z_][\w.-]{0,63}+))(?:[ \t\r\n][^<>]{0,1024}+)?>"
    r"(?P<value><!\[CDATA\[(?:[^\]]|\](?!\]>))*+\]\]>|[^<]++)(?=</(?P=tag)[ \t\r\n]*+>|\Z)"
)
_CDATA = re.compile(r"(<!\[CDATA\[)(.*)(\]\]>)", re.DOTALL)
# 9. A name and its value given as two fields: HAR {"name": "password", "value": "x"}, <add key="k" value="x"/>.
_NAMED_VALUE = re.compile(
    r"""(?<![\w-])(?:name|key|field|param)["']?[ \t]{0,8}+[:=][ \t]{0,8}+(\\?["'])([\w.%-]{1,64}+)\1"""
    r"""[ \t]{0,8}+[,;]?[ \t\r\n]{0,64}+\\?["']?value\\?["']?[ \t]{0,8}+[:=][ \t]{0,8}+"""
    rf"(?P<value>{_QUOTED}|[^\s,;\"'<>{{}}]++)",
    re.IGNORECASE,
)
# 10. name=value, name: value, "name": "value" with a secret name; at the start of a line, ``name: value``
# and ``name = value`` (YAML, INI, header lines) take the rest of the line.
_NAME_HINT = r"(?=[\w.%-]{0,63}?(?:" + SECRET_WORDS + r"|key|sig|otp|saml))"
_PAIR_TAIL = (
    _NAME_HINT + r"(?P<name>[A-Za-z_@$][\w.%-]{0,63}+)"
    r"(?P<sep>\\?[\"']?(?P<wide>[ \t]{0,8}+(?::|=>)[ \t]{0,8}+|[ \t]{1,8}+=[ \t]{0,8}+)|\\?[\"']?=[ \t]{0,8}+)"
)
_PAIR = re.compile(
    r"(?P<lead>^[ \t]{0,64}+(?:[-#*][ \t]{1,8}+|export[ \t]{1,8}+)?[\"']?)?(?<![\w.%-])"
    + _PAIR_TAIL
    + rf"(?P<value>{_QUOTED}|(?(lead)(?(wide)[^\r\n]++|{_BARE})|{_BARE}))",
    re.IGNORECASE | re.MULTILINE,
)
_PAIR_INNER = re.compile(r"(?<![\w.%-])" + _PAIR_TAIL + rf"(?P<value>{_QUOTED}|{_BARE})", re.IGNORECASE)
_NAME_HINTS = (
    "token", "secret", "passw", "pwd", "key", "sig", "session", "credential", "cookie", "auth", "otp",
    "assertion", "bearer", "verifier", "saml",
)  # fmt: skip
_EMPTY_VALUES = frozenset({"", "null", "none", "true", "false", "undefined", '""', "''"})


def _private_key(match: re.Match[str]) -> str:
    if is_redacted(match.group(2).strip()):
        return match.group(0)
    return f"{match.group(1)} {fingerprint(match.group(2))} {match.group(3)}"


def _multipart(match: re.Match[str]) -> str:
    value = match.group(3)
    start = match.start(3) - match.start()
    return match.group(0)[:start] + redact_field(match.group(2), value)


def _field(match: re.Match[str]) -> str:
    name, quoted = match.group("name"), match.group("quoted")
    head = match.group("name") + match.group("sep")
    if quoted is None:
        return head + redact_field(name, match.group("bare"))
    return head + _inside_quotes(quoted, lambda inner: redact_field(name, inner))


def _inside_quotes(value: str, redact: Any) -> str:
    for quote_mark in ('\\"', '"', "'"):
        if value.startswith(quote_mark):
            inner = value[len(quote_mark) :]
            closed = len(inner) >= len(quote_mark) and inner.endswith(quote_mark)
            inner = inner[: -len(quote_mark)] if closed else inner
            return f"{quote_mark}{redact(inner)}{quote_mark if closed else ''}"
    return str(redact(value))


def _scheme_credential(match: re.Match[str]) -> str:
    cred = match.group("cred")
    if len(cred) < 6 or _PLAIN_WORD.fullmatch(cred):  # "Bearer tokens expire", "Basic auth": prose
        return match.group(0)
    return match.group(0)[: match.start("cred") - match.start()] + redact_token(cred)


def _jwt(match: re.Match[str]) -> str:
    return f"{match.group(1)}.{match.group(2)}.{fingerprint(match.group(0))}"


def _xml(match: re.Match[str]) -> str:
    name, value = match.group("local"), match.group("value")
    head = match.group(0)[: match.start("value") - match.start()]
    cdata = _CDATA.fullmatch(value)
    if cdata is not None:
        return f"{head}{cdata.group(1)}{redact_field(name, cdata.group(2))}{cdata.group(3)}"
    return head + redact_field(name, value)


def _named_value(match: re.Match[str]) -> str:
    name = match.group(2)
    head = match.group(0)[: match.start("value") - match.start()]
    return head + _inside_quotes(match.group("value"), lambda inner: redact_field(name, inner))


def _pairs(text: str, depth: int, pattern: re.Pattern[str] = _PAIR) -> str:
    def pair(match: re.Match[str]) -> str:
        name, value = match.group("name"), match.group("value")
        head = match.group(0)[: match.start("value") - match.start()]
        if is_secret_name(name) and not is_auth_name(name) and not is_cookie_name(name):
            if value.strip("\\").lower() in _EMPTY_VALUES:
                return match.group(0)
            return head + redact_quoted(value)
        # Not a secret itself (token_type, or a credential field rule 4 handled): a secret may sit inside.
        if depth >= _MAX_NESTING:
            return head + (redact_quoted(value) if _has_name_hint(value.lower()) else value)
        return head + _pairs(value, depth + 1, _PAIR_INNER)

    return pattern.sub(pair, text)


def _has_name_hint(low: str) -> bool:
    return any(hint in low for hint in _NAME_HINTS)


def _redact(text: str, depth: int) -> str:
    low = text.lower()
    if "private key" in low:
        text = _PRIVATE_KEY.sub(_private_key, text)
    if "form-data" in low:
        text = _MULTIPART.sub(_multipart, text)
    if "://" in text and depth < _MAX_NESTING:
        text = _URL.sub(lambda m: _redact_url(m.group(0), depth + 1), text)
    if "%3a%2f%2f" in low and depth < _MAX_NESTING:
        text = _ENCODED_URL.sub(lambda m: _redact_encoded(m.group(0), depth + 1), text)
    if "auth" in low:
        text = _AUTH_FIELD.sub(_field, text)
    if "cookie" in low:
        text = _COOKIE_FIELD.sub(_field, text)
    if any(scheme in low for scheme in _FREE_SCHEMES):
        text = _SCHEME_CRED.sub(_scheme_credential, text)
    if "eyj" in low:
        text = JWT.sub(_jwt, text)
    text = _known_tokens(text)
    if "</" in text:
        text = _XML.sub(_xml, text)
    if "value" in low:
        text = _NAMED_VALUE.sub(_named_value, text)
    if _has_name_hint(low):
        text = _pairs(text, depth)
    return text


def _known_tokens(text: str) -> str:
    for hints, pattern in _KNOWN_TOKENS:
        if any(hint in text for hint in hints):
            text = pattern.sub(lambda m: redact_token(m.group(0)), text)
    return text


# Every rule needs one of these (lower case) to match; text without any is returned as it is, cheaply.
_HINTS = (
    *_NAME_HINTS, "://", "%3a%2f%2f", "eyj", "private key", "akia", "asia", "gh", "_live_", "_test_", "whsec_", "xox", "xapp-",
    "sk-", "aiza", "ya29.", "glpat-", "npm_", "pypi-", "hf_", "sg.", "_v1_", ":aa", "webhooks/", "hooks.slack",
    "basic", "digest", "dpop", "negotiate", "ntlm", "ssws", "form-data", "abia", "acca", "aida", "aroa", "aipa",
    "anpa", "anva", "apka",
)  # fmt: skip


def redact_text(text: str | bytes) -> str:
    """Redact every credential found in free text (log lines, exception messages, HTML, XML, form bodies)."""
    text = _as_text(text)
    if not text:
        return text
    if len(text) <= _CACHE_LIMIT:
        return _redact_short(text)
    low = text.lower()
    return _redact(text, 0) if any(hint in low for hint in _HINTS) else text


@lru_cache(maxsize=4096)
def _redact_short(text: str) -> str:
    # Cached: the same exception messages and log lines come back again and again during an incident.
    low = text.lower()
    return _redact(text, 0) if any(hint in low for hint in _HINTS) else text


# --- URLs, query strings and form bodies -----------------------------------------------------------------

# Secret in a query, fragment or form body only: OAuth's authorization code (RFC 6749 §4.1.2) and SAML
# bindings. In JSON "code" is an error code (the 600 envelope's), not a secret.
_URL_SECRET_PARAMS = frozenset({"code", "samlresponse", "samlrequest", "samlart"})
_SCHEME = re.compile(r"[A-Za-z][\w+.-]{0,15}")
_QUERY_SAFE = ":/@!$'()*,;= "


def redact_url(url: str | bytes) -> str:
    """Redact userinfo and secret query parameters; the host, path and other parameters stay readable."""
    return _redact_url(_as_text(url), 1)


def _redact_url(url: str, depth: int) -> str:
    base, hash_mark, fragment = url.partition("#")
    base, question, query = base.partition("?")
    scheme_end = base.find("://")
    if scheme_end > 0 and _SCHEME.fullmatch(base[:scheme_end]):
        start = scheme_end + 3
    elif base.startswith("//"):
        start = 2
    else:
        start = -1
    if start >= 0:
        slash = base.find("/", start)
        end = len(base) if slash < 0 else slash
        base = base[:start] + _redact_userinfo(base[start:end]) + _redact_part(base[end:], depth)
    else:
        base = _redact_part(base, depth)
    if question:
        query = _redact_query(query, depth)
    if hash_mark:
        path, question_in_fragment, fragment_query = fragment.rpartition("?")
        if question_in_fragment:  # "#/route?token=..." (single-page apps)
            fragment = f"{_redact_part(path, depth)}?{_redact_query(fragment_query, depth)}"
        else:  # "#access_token=...&state=..." (OAuth implicit and hybrid flows)
            fragment = _redact_query(fragment, depth) if "=" in fragment else _redact_part(fragment, depth)
    return f"{base}{question}{query}{hash_mark}{fragment}"


def _redact_encoded(text: str, depth: int) -> str:
    decoded = unpercent(text)
    redacted = _redact_url(decoded, depth)
    return text if redacted == decoded else quote(redacted, safe=_QUERY_SAFE.replace(":", ""))


def _redact_part(text: str, depth: int) -> str:
    # A path or fragment: ";jsessionid=...", "/bot<token>/", a key format in a path segment.
    if not text:
        return text
    low = text.lower()
    return _redact(text, depth) if any(hint in low for hint in _HINTS) else text


def _redact_userinfo(authority: str) -> str:
    userinfo, at, host = authority.rpartition("@")
    if not at or not userinfo or is_redacted(userinfo):
        return authority
    user, colon, password = userinfo.partition(":")
    if user and password:  # user:password - the user is an identity, the password the secret
        return f"{_known_tokens(user)}:{redact_token(password)}@{host}"
    # "KEY:@host", "TOKEN@host", ":password@host": what is there is the credential itself.
    return f"{colon if not user else ''}{redact_token(user or password)}@{host}"


def _redact_query(query: str, depth: int) -> str:
    """``a=b&c=d``: secret names' values fingerprinted (decoded first); other values searched when encoded."""
    low = query.lower()
    if "%" not in query and "code" not in low and not any(hint in low for hint in _HINTS):
        return query
    return "&".join(_redact_query_pair(part, depth) for part in query.split("&"))


def _redact_query_pair(part: str, depth: int) -> str:
    name, eq, value = part.partition("=")
    if not eq:
        return part
    plain = unpercent(name.replace("+", " ")) if len(name) <= 256 else name
    if plain.strip().lower() in _URL_SECRET_PARAMS or is_secret_name(plain):
        decoded = unpercent(value.replace("+", " "))
        redacted = redact_field(plain, decoded) if is_secret_name(plain) else redact_token(decoded)
        return part if redacted == decoded else f"{name}={quote(redacted, safe=_QUERY_SAFE)}"
    if depth >= _MAX_NESTING or "%" not in value:
        redacted = _redact_part(value, depth + 1)
        return part if redacted == value else f"{name}={redacted}"
    decoded = unpercent(value.replace("+", " "))
    redacted = _redact_part(decoded, depth + 1)
    return part if redacted == decoded else f"{name}={quote(redacted, safe=_QUERY_SAFE)}"


# --- headers ---------------------------------------------------------------------------------------------


def redact_header_value(name: str | bytes, value: str | bytes) -> str:
    """Redact one header's value according to its name, then scan it as free text."""
    name, value = _as_text(name).strip(), _as_text(value)
    if is_auth_name(name) or is_cookie_name(name) or is_secret_name(name):
        return _known_tokens(redact_field(name, value))
    return redact_text(value)


def redact_headers(
    headers: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
) -> list[tuple[str, str]]:
    """Redact a header list (or mapping); names and order are kept, values of secret headers fingerprinted."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, str]] = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue  # not a (name, value) pair: nothing to show
        out.append((_as_text(name), redact_header_value(name, value)))
    return out


# --- bodies ----------------------------------------------------------------------------------------------


def redact_json(value: Any) -> Any:
    """Return a copy of a decoded JSON value with secret keys' values fingerprinted, at any depth.

    Everything under a secret key is secret. ``{"name": "Authorization", "value": "..."}`` (HAR, many APIs)
    reads as the field it names. Strings elsewhere go through :func:`redact_text`. The walk is iterative,
    shared and cyclic containers are visited once, and containers deeper than :data:`MAX_JSON_DEPTH` are
    replaced by a marker.
    """
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, int, bool]] = [(value, root, 0, False)]  # (source, parent, key, secret)
    seen: dict[tuple[int, bool], Any] = {}
    depth_of: dict[int, int] = {id(root): -1}
    while pending:
        source, parent, slot, secret = pending.pop()
        depth = depth_of[id(parent)] + 1
        parent[slot] = _json_node(source, secret, depth, pending, seen, depth_of)
    return root[0]


def _json_node(
    value: Any,
    secret: bool,
    depth: int,
    pending: list[tuple[Any, Any, Any, bool]],
    seen: dict[tuple[int, bool], Any],
    depth_of: dict[int, int],
) -> Any:
    if not isinstance(value, Mapping | list | tuple):
        return _json_leaf(value, secret=secret)
    key = (id(value), secret)
    if key in seen:
        return seen[key]
    if depth >= MAX_JSON_DEPTH:
        return _TOO_DEEP
    out: Any
    if isinstance(value, Mapping):
        out = {}
        names = {str(k).lower(): v for k, v in value.items() if str(k).lower() in ("name", "key")}
        label = next((v for v in names.values() if isinstance(v, str)), "")
        for item_key, item in value.items():
            skey = redact_text(_as_text(item_key))
            field = label if label and skey.lower() == "value" else skey
            if not secret and isinstance(item, str | bytes):
                out[skey] = _json_field(field, _as_text(item))
                continue
            out[skey] = None
            inner_secret = secret or (is_secret_name(field) and item is not None and not isinstance(item, bool))
            pending.append((item, out, skey, inner_secret))
    else:
        out = [None] * len(value)
        pending.extend((item, out, index, secret) for index, item in enumerate(value))
    seen[key] = out
    depth_of[id(out)] = depth
    return out


def _json_field(name: str, value: str) -> str:
    if is_secret_name(name) or is_auth_name(name) or is_cookie_name(name):
        return _known_tokens(redact_field(name, value))
    return redact_text(value)


def _json_leaf(value: Any, *, secret: bool) -> Any:
    if isinstance(value, str | bytes):
        return redact_token(_as_text(value)) if secret else redact_text(value)
    if not secret or value is None or isinstance(value, bool):
        return value
    try:
        return fingerprint(json.dumps(value))
    except (TypeError, ValueError):
        return fingerprint(_as_text(value))


def redact_body(body: bytes | str | None, content_type: str | None = None) -> str:
    """Redact a request or response body: JSON by key, form data by field, anything else as free text."""
    if body is None:
        return ""
    text = _as_text(body)
    ctype = _as_text(content_type or "").lower()
    stripped = text.lstrip()
    if "json" in ctype or stripped.startswith(("{", "[")):
        try:
            return json.dumps(redact_json(json.loads(text)), ensure_ascii=False)
        except (ValueError, RecursionError, TypeError):
            return redact_text(text)  # not JSON the standard library reads (or too deep): free text
    if "x-www-form-urlencoded" in ctype:
        return _redact_query(text, 1)
    return redact_text(text)
