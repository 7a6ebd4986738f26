"""The words of redaction's grammar: which names are secret, what a credential looks like, how it is replaced.

:mod:`upstreamkit.core.redact` puts these words together into rules over free text, URLs, headers, JSON and
bodies. Everything here is total (any ``str`` in, a ``str`` out) and linear: every unbounded run in a pattern
either starts where a run of its characters starts (a lookbehind forbids starting inside one) or is bounded,
and no quantifier can backtrack over what another one consumed (possessive quantifiers).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import lru_cache

FINGERPRINT = re.compile(r"sha256:[0-9a-f]{8}")
_REDACTED_PREFIX = re.compile(r"sha256:[0-9a-f]{8}(?![0-9a-f])")
# A JWT after redaction: header and claims kept, signature replaced by its fingerprint.
_REDACTED_JWT = re.compile(r"eyJ[\w-]*\.eyJ[\w-]*\.sha256:[0-9a-f]{8}")
# The literal comes first (re finds it fast), then the check that no token character precedes it: only where
# a run starts is the run read, so a megabyte of "eyJ" without dots is read once, not once per "eyJ".
JWT = re.compile(r"(eyJ(?<![\w-]eyJ)[\w-]{2,}+)\.(eyJ[\w-]{2,}+)\.([\w-]{8,}+)")


def fingerprint(secret: str | bytes) -> str:
    """``sha256:`` plus 8 hex digits: enough to correlate, far too little to recover the secret."""
    data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else bytes(secret)
    return "sha256:" + hashlib.sha256(data).hexdigest()[:8]


def is_redacted(text: str) -> bool:
    """True for a fingerprint or a redacted JWT: redaction never redacts its own output again."""
    if text.startswith("sha256:"):
        return FINGERPRINT.fullmatch(text) is not None
    return text.startswith("eyJ") and _REDACTED_JWT.fullmatch(text) is not None


# --- names ------------------------------------------------------------------------------------------------

# A separator inside a name, also %-encoded ("api%5Fkey"): names are checked before and after decoding.
_SEP = r"(?:[-_. ]|%5[fF]|%2[dDeE])"
# Words that make a name secret wherever they occur in it ("X-Auth-Token", "client_secret", "db.password").
SECRET_WORDS = (
    rf"token|secret|passw(?:or)?d|passwd|passphrase|pwd|api{_SEP}?key|private{_SEP}?key|access{_SEP}?key"
    rf"|signature|session|credential|cookie|authori[sz]ation|assertion|bearer|saml{_SEP}?response|subscription{_SEP}key"
    rf"|code{_SEP}verifier"
)
_SECRET_NAME = re.compile(
    rf"{SECRET_WORDS}|(?:^|{_SEP})(?:key|sig|auth|otp|pin|pass)$|(?-i:[a-z]Key)$",  # camelCase: accountKey
    re.IGNORECASE,
)
# Names that match the pattern above but carry no secret. Kept short on purpose: redacting too much costs
# a little readability, redacting too little costs a credential.
_NOT_SECRET = re.compile(
    r"^(?:idempotency[-_]key|x-idempotency-key|keep-alive|token[-_]?type|expires[-_]in|key[-_]id|kid"
    r"|x-amz-security-token-expires|www-authenticate|proxy-authenticate|authentication-info|public[-_]?key"
    r"|x-session-expires|(?:max|prompt|completion|total|input|output|cached|reasoning)[-_]tokens"
    r"|tokens?[-_](?:count|usage|used|limit|remaining))$|ratelimit|rate-limit|rate_limit",
    re.IGNORECASE,
)
# Literal words one of which every secret name contains (lower case): the anchors of the text rules.
HINT_WORDS = "token|secret|pass|pwd|key|sig|session|credential|cookie|auth|otp|pin|assertion|bearer|verifier|saml"
# Names whose value is an Authorization-style credential (``<scheme> <credentials>``) or a cookie list.
AUTH_NAME = r"authori[sz]ation|auth"
COOKIE_NAME = r"cookies?"
_AUTH_NAME = re.compile(rf"(?:{AUTH_NAME})(?:[-_.]header)?$", re.IGNORECASE)
_COOKIE_NAME = re.compile(rf"(?:{COOKIE_NAME})(?:[-_.]header)?$", re.IGNORECASE)
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})++")
_MAX_NAME = 256
_LONG_NAME = 1024


def unpercent(text: str) -> str:
    """Decode %XX escapes (UTF-8, invalid bytes replaced); linear, total, and ``%%%`` stays as it is."""
    if "%" not in text:
        return text
    return _PERCENT_RUN.sub(lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode("utf-8", "replace"), text)


def _plain_name(name: str) -> str:
    if len(name) > _LONG_NAME:  # not a name: its ends decide (a megabyte of "-" is read once, not per rule)
        name = f"{name[: _LONG_NAME // 2]} {name[-_LONG_NAME // 2 :]}"
    name = name.strip().strip("\"'").strip()
    return unpercent(name) if len(name) <= _MAX_NAME else name


def is_secret_name(name: str) -> bool:
    """True when a header, query parameter, form field, JSON key or XML element with this name carries a secret.

    ``%``-encoded names are decoded first (``api%5Fkey`` is ``api_key``).
    """
    plain = _plain_name(name)
    return bool(_SECRET_NAME.search(plain)) and not _NOT_SECRET.search(plain)


def is_auth_name(name: str) -> bool:
    """True for Authorization-like names (``Authorization``, ``Proxy-Authorization``, ``HTTP_AUTHORIZATION``)."""
    return bool(_AUTH_NAME.search(_plain_name(name)))


def is_cookie_name(name: str) -> bool:
    """True for ``Cookie``, ``Set-Cookie`` and ``cookies``-like names, whose value is a list of name=value."""
    return bool(_COOKIE_NAME.search(_plain_name(name)))


PLAIN, SECRET, AUTH, COOKIE = range(4)


@lru_cache(maxsize=4096)
def name_kind(name: str) -> int:
    """What a field's name says its value is: PLAIN, SECRET, AUTH (``<scheme> <credentials>``) or COOKIE."""
    plain = _plain_name(name)
    if _AUTH_NAME.search(plain):
        return AUTH
    if _COOKIE_NAME.search(plain):
        return COOKIE
    return SECRET if _SECRET_NAME.search(plain) and not _NOT_SECRET.search(plain) else PLAIN


def name_start(text: str, end: int, chars: str = "_.%-", limit: int = 64) -> int:
    """Where the name that ends at ``end`` starts: letters, digits and ``chars``, at most ``limit`` back."""
    start, floor = end, max(0, end - limit)
    while start > floor and (text[start - 1].isalnum() or text[start - 1] in chars):
        start -= 1
    return start


# --- scanning ---------------------------------------------------------------------------------------------

_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
MAX_MATCHES = 4096
"""Rule heads one rule reads in one text; past them the rest of the text is withheld (see :func:`splice`)."""


def withheld(size: int) -> str:
    """What stands for the part of a text too dense in secrets to redact value by value."""
    return f"[{size} characters withheld: more than {MAX_MATCHES} secrets in one text]"


Replacement = tuple[int, int, str] | None


def ascii_lower(text: str) -> str:
    """``text`` in lower case, index for index (``str.lower`` lengthens a few letters, such as U+0130)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def splice(
    text: str, pattern: re.Pattern[str], replace: Callable[[str, re.Match[str]], Replacement], *, fold: bool = True
) -> str:
    """Find ``pattern`` (in the lower-cased text when ``fold``) and splice in each replacement ``replace`` gives.

    ``replace`` sees the original text and the match, and returns ``(start, end, new)`` in the original's
    indices, or None to leave it. Patterns start with a literal and match only a rule's head (a name and its
    separator): ``re`` finds a literal prefix quickly, and many times faster than a case-insensitive pattern;
    the value is read by the caller from the head's end, so nothing is scanned twice.
    """
    haystack = ascii_lower(text) if fold else text
    out: list[str] = []
    done = pos = seen = 0
    while (match := pattern.search(haystack, pos)) is not None:
        seen += 1
        if seen > MAX_MATCHES:
            # A text this dense in secrets is not read one value at a time (a few µs each): the rest is
            # withheld whole, which keeps every input linear and fast, and leaks nothing.
            out += (text[done : match.start()], withheld(len(text) - match.start()))
            return "".join(out)
        pos = match.end() if match.end() > match.start() else match.start() + 1
        result = replace(text, match)
        if result is None or result[0] < done:
            continue
        start, end, new = result
        out += (text[done:start], new)
        done, pos = end, max(pos, end)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# --- values -----------------------------------------------------------------------------------------------

# Schemes that are words, not credentials: kept readable in front of the credential they introduce.
SCHEME_WORDS = frozenset(
    {
        "bearer", "basic", "token", "digest", "dpop", "negotiate", "ntlm", "ssws", "apikey", "api-key", "bot",
        "key", "oauth", "hoba", "mutual", "vapid", "sharedaccesssignature", "aws4-hmac-sha256", "gnap",
    }
)  # fmt: skip
SCHEME_WORDS_RE = "|".join(sorted((re.escape(w) for w in SCHEME_WORDS), key=len, reverse=True))


def redact_token(text: str) -> str:
    """The credential in ``text`` (surrounding whitespace kept) replaced by its fingerprint; JWTs keep claims."""
    core = text.strip()
    if not core or (core.startswith("sha256:") and _REDACTED_PREFIX.match(core)):
        return text  # a fingerprint, or a value that starts with one: redacted already (the tail followed it)
    jwt = JWT.fullmatch(core) if core.startswith("eyJ") else None
    if jwt is None and is_redacted(core):
        return text
    replaced = f"{jwt.group(1)}.{jwt.group(2)}.{fingerprint(core)}" if jwt else fingerprint(core)
    start = text.find(core)
    return f"{text[:start]}{replaced}{text[start + len(core) :]}"


def redact_quoted(value: str, redact: Callable[[str], str] = redact_token) -> str:
    """A value as written (``"x"``, ``'x'``, ``\\"x\\"``, ``x``; maybe unterminated), the inside redacted."""
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote):
            inner = value[len(quote) :]
            closed = inner.endswith(quote) and len(inner) >= len(quote)
            inner = inner[: -len(quote)] if closed else inner
            return f"{quote}{redact(inner)}{quote if closed else ''}"
    return redact(value)


_CRED_HEAD = re.compile(r"(\s*+)([A-Za-z][A-Za-z0-9-]{0,30}+)([ \t]++)", re.ASCII)
_SCHEME_LIKE = re.compile(r"[A-Za-z]{2,}+(?:-[A-Za-z0-9]++)*+")
_SECOND_SCHEME = re.compile(rf"(?:{SCHEME_WORDS_RE})[ \t]++", re.IGNORECASE)
_TOKEN68 = re.compile(r"[\w.~+/-]*+=*+\s*+")
_PARAM = re.compile(r"[\w-]{1,64}+[ \t]*+=[ \t]*+(?:\"|[^\s=,])")
# Digest's ``response`` is the proof of the password; the rest of its parameters are public.
_SECRET_PARAM = re.compile(r"(?:response|" + HINT_WORDS + r")[\w-]{0,64}+[ \t]*+=[ \t]*+")
_PARAM_VALUE = re.compile(r"""\\?"(?:[^"\\]|\\[^"])*+(?:\\?")?|'[^']*+'?|[^\s,"'\\]*+""")


def _redact_param(text: str, match: re.Match[str]) -> Replacement:
    start = name_start(text, match.start(), "_-")
    name = text[start : match.end()].split("=", maxsplit=1)[0].strip()
    if name.lower() != "response" and not is_secret_name(name):
        return None
    value = _PARAM_VALUE.match(text, match.end())
    if value is None:
        return None
    return match.end(), value.end(), redact_quoted(value.group(0))


def redact_credentials(value: str) -> str:
    """An Authorization-like value: ``<scheme> <token68>`` or ``<scheme> <auth-params>`` or a bare credential.

    A readable scheme word stays; the token68, or every secret auth-param (Digest ``response``, AWS4
    ``Signature``, OAuth 1 ``oauth_signature``), is fingerprinted. ``token Bearer <tok>`` keeps both words.
    """
    head = _CRED_HEAD.match(value)
    if head is None or head.end() == len(value):
        core = value.strip()
        return value if core.lower() in SCHEME_WORDS else redact_token(value)
    if head.group(2).lower() not in SCHEME_WORDS and not _SCHEME_LIKE.fullmatch(head.group(2)):
        return redact_token(value)  # "A1b2c3 ...": a credential, not a scheme word, comes first
    rest = value[head.end() :]
    second = _SECOND_SCHEME.match(rest)
    prefix = value[: head.end()]
    if second is not None:
        prefix, rest = prefix + second.group(0), rest[second.end() :]
    if not _TOKEN68.fullmatch(rest) and _PARAM.match(rest) and "=" in rest:
        return prefix + splice(rest, _SECRET_PARAM, _redact_param)
    return prefix + redact_token(rest)


_COOKIE_PART = re.compile(r"[^;\s][^;]*+")  # a pair between semicolons (empty ones cost nothing)


def redact_cookies(value: str, *, set_cookie: bool = False) -> str:
    """``a=b; c=d``: names kept, every value fingerprinted. ``Set-Cookie``: its attributes are kept too."""
    if set_cookie:
        first, sep, attributes = value.partition(";")
        return f"{_redact_cookie_pair(first)}{sep}{attributes}"
    return _COOKIE_PART.sub(lambda part: _redact_cookie_pair(part.group(0)), value)


def _redact_cookie_pair(part: str) -> str:
    name, eq, cookie_value = part.partition("=")
    if not eq:
        return redact_token(part)
    if cookie_value.endswith('"') and not cookie_value.lstrip().startswith('"'):  # a shell quote closing the value
        return f'{name}={redact_token(cookie_value[:-1])}"'
    return f"{name}={redact_quoted(cookie_value.strip()) if cookie_value.strip() else cookie_value}"


def redact_field(name: str, value: str) -> str:
    """The value of one named field (header, JSON key, form field, XML element), by what its name says."""
    kind = name_kind(name)
    if kind == AUTH:
        return redact_credentials(value)
    if kind == COOKIE:
        return redact_cookies(value, set_cookie=_plain_name(name).lower().startswith("set"))
    return redact_token(value) if kind == SECRET else value


# --- well-known token formats -----------------------------------------------------------------------

# (literal hints, pattern, what may not precede it: "upper" for upper-case letters and digits, "word" for
# letters, digits and "_", plus any characters after "word").
_KNOWN_TOKENS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = tuple(
    (hints, re.compile(pattern), before)
    for hints, pattern, before in (
        # AWS access key ids (IAM "Understanding unique ID prefixes").
        (
            ("AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA"),
            r"A(?:KIA|SIA|BIA|CCA|IDA|ROA|IPA|NPA|NVA|PKA)[A-Z0-9]{16}(?![A-Z0-9])",
            "upper",
        ),
        # GitHub (github.blog 2021-04-05 "Behind GitHub's new authentication token formats"); GitLab glpat-.
        (("gh", "github_pat_"), r"gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_\w{22,255}", "word"),
        (("glpat-",), r"glpat-[\w-]{20,255}", "word-"),
        # Stripe keys and webhook secrets (docs.stripe.com/keys).
        (("_live_", "_test_", "whsec_"), r"[srp]k_(?:live|test)_[A-Za-z0-9]{10,255}|whsec_\w{16,255}", "word"),
        # Slack tokens (api.slack.com/concepts/token-types) and incoming-webhook URLs.
        (("xox", "xapp-"), r"xox[abprse]-[A-Za-z0-9-]{10,255}|xapp-[A-Za-z0-9-]{10,255}", "word-"),
        (("hooks.slack.com",), r"(?<=hooks\.slack\.com/services/)[\w/]{10,255}", ""),
        # OpenAI / Anthropic secret keys: sk-..., sk-proj-..., sk-ant-api03-...
        (("sk-",), r"sk-(?:[A-Za-z0-9]++-){0,3}[\w-]{20,255}", "word-"),
        # Google API keys (AIza + 35) and OAuth access tokens (ya29.).
        (("AIza",), r"AIza[\w-]{35}(?![\w-])", "word-"),
        (("ya29.",), r"ya29\.[\w-]{20,}+", "word-"),
        # npm (npm_), PyPI (pypi-AgE...), Hugging Face (hf_), SendGrid (SG.x.y), DigitalOcean (dop_v1_).
        (("npm_",), r"npm_[A-Za-z0-9]{36}(?!\w)", "word"),
        (("pypi-",), r"pypi-AgE[\w-]{50,}+", "word-"),
        (("hf_",), r"hf_[A-Za-z]{34}(?!\w)", "word"),
        (("SG.",), r"SG\.[\w-]{22}\.[\w-]{43}(?![\w-])", "word-"),
        (("_v1_",), r"do[opr]_v1_[a-f0-9]{64}(?!\w)", "word"),
        # Telegram bot tokens (core.telegram.org/bots/api: <bot id>:<35 characters>) and Discord webhooks.
        ((":AA",), r"[0-9]{8,10}:AA[\w-]{33}(?![\w-])", "word:"),
        (("webhooks/",), r"(?<=/api/webhooks/)[0-9]{5,30}/[\w-]{20,255}", ""),
    )
)


def _known_token(before: str) -> Callable[[str, re.Match[str]], Replacement]:
    def replace(text: str, match: re.Match[str]) -> Replacement:
        start = match.start()
        if start > 0 and before:
            previous = text[start - 1]
            blocked = (
                previous.isupper() or previous.isdigit()
                if before == "upper"
                else (previous.isalnum() or previous == "_" or previous in before[4:])
            )
            if blocked:
                return None
        return (start, match.end(), redact_token(match.group(0)))

    return replace


# Most to least common in logs and prose; a character not listed counts as rarer than all of them.
_COMMONEST = ' etaoinsrhl.dc/u:m-fp=g,wy"b_v0123456789k&?x;%jqz'


def guarded(words: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """Each word with its two rarest characters, the guards :func:`holds_any` tests first."""

    def rarity(char: str) -> int:
        found = _COMMONEST.find(char)
        return len(_COMMONEST) if found < 0 else found

    table = []
    for word in words:
        rare = sorted(set(word), key=rarity, reverse=True)
        table.append((word, rare[0], rare[1] if len(rare) > 1 else rare[0]))
    return tuple(table)


def holds_any(low: str, table: tuple[tuple[str, str, str], ...]) -> bool:
    """True when ``low`` contains one of the words of ``table`` (built by :func:`guarded`).

    A substring test of a word costs milliseconds per megabyte on text that resembles it: CPython's search
    skips by a 64-bit filter of ``char & 63``, so a megabyte of ``%`` (0x25) looks like a run of ``e`` (0x65)
    to the search for "secret". A one-character test is a memchr, about 30 times cheaper and exact: a word
    whose rarest characters are absent is never searched for.
    """
    for word, first, second in table:  # noqa: SIM110 - a loop, not any(<generator>): called per long text
        if first in low and second in low and word in low:
            return True
    return False


_KNOWN_REPLACERS = tuple((guarded(hints), pattern, _known_token(before)) for hints, pattern, before in _KNOWN_TOKENS)


def known_tokens(text: str) -> str:
    """Every well-known token format (AWS, GitHub, Stripe, Slack, OpenAI ...) in ``text`` fingerprinted."""
    for hints, pattern, replace in _KNOWN_REPLACERS:
        if holds_any(text, hints):
            text = splice(text, pattern, replace, fold=False)
    return text
