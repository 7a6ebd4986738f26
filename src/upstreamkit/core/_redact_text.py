"""Redaction's rules over free text and URLs; the public functions are in :mod:`upstreamkit.core.redact`.

Each rule is one :func:`~upstreamkit.core._redact_grammar.splice` pass: a pattern that starts with a literal
finds a rule's head, and the value is read from the head's end by the rule's own grammar.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from upstreamkit.core._redact_grammar import (
    AUTH,
    COOKIE,
    HINT_WORDS,
    JWT,
    PLAIN,
    SCHEME_WORDS_RE,
    SECRET,
    Replacement,
    ascii_lower,
    fingerprint,
    guarded,
    holds_any,
    is_redacted,
    is_secret_name,
    known_tokens,
    name_kind,
    name_start,
    redact_field,
    redact_quoted,
    redact_token,
    splice,
    unpercent,
)

__all__ = ["may_hold_secret", "redact_at", "redact_query", "redact_url_at"]

MAX_NESTING = 3
"""How deep URLs inside query values inside URLs are followed; deeper text is left to the other rules."""

# --- the rules over free text, in the order they run ----------------------------------------------------
# Each rule's pattern starts with a literal (see splice); what may not precede it is checked in Python.

_Q_DOUBLE = r'"(?:[^"\\\n]|\\.)*+"?'
_Q_SINGLE = r"'(?:[^'\\\n]|\\.)*+'?"
_Q_ESCAPED = r'\\"(?:[^"\\\n]|\\[^"\n])*+(?:\\")?'  # JSON inside a JSON string: \"...\"
_QUOTED = rf"{_Q_ESCAPED}|{_Q_DOUBLE}|{_Q_SINGLE}"
_SEP = r"""\\?["']?(?P<wide>[ \t]{0,8}+(?::|=>)[ \t]{0,8}+|[ \t]{1,8}+=[ \t]{0,8}+)|\\?["']?=[ \t]{0,8}+"""
_CRED_TOKEN = r"""[^\s"'<>,;\\]++"""  # noqa: S105 - a pattern, not a password
_PARAM = r"""[\w-]{1,64}+[ \t]*+=[ \t]*+(?:\\?"(?:[^"\\\n]|\\[^"\n])*+(?:\\?")?|[^\s,"'\\]*+)"""

# 1. Private keys (RFC 7468 PEM, OpenSSH, RFC 4880 PGP armor): the whole block.
_PRIVATE_KEY = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----)(.*?)"
    r"(-----END [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# 2. Multipart form fields (RFC 7578): the value after a secret field's part headers.
_MULTIPART = re.compile(
    # First, cheaply, the blank line that ends a part's headers (a superset of what follows, whose lazy search
    # for name= costs a megabyte of header lines without one 25 ms): 2200 >= 1024 + len('name=""') + 128 + 1024.
    r"form-data(?=[^\r\n]{0,2200}+(?:\r?\n[^\r\n]{1,1024}+){0,4}+\r?\n\r?\n)"
    r"[^\r\n]{0,1024}?(?<![\w-])name=(\"?)([^\"\r\n;]{1,128}+)\1[^\r\n]{0,1024}+"
    r"(?:\r?\n[^\r\n]{1,1024}+){0,4}+\r?\n\r?\n"  # a part has a few header lines: 4 is plenty
)
_MULTIPART_VALUE = re.compile(r"(?:(?!\r?\n--).)*+", re.DOTALL)
# 3. URLs (and %-encoded URLs in query values): userinfo, secret query parameters, fragments.
_URL_MARK = re.compile(r"://|%3a%2f%2f")
_URL_REST = re.compile(r"""[^\s"'<>`]*+""")
_ENCODED_URL_REST = re.compile(r"""[^\s"'<>`&]*+""")
# 3b. Userinfo written without a scheme: "user:password@host", "KEY:@host" (redis-cli -u, DSNs, log lines).
_BARE_USERINFO = re.compile(r""":([^\s:@/\\"'<>]{0,256}+)@(?=[A-Za-z0-9\[])""")
_NOT_USERINFO = frozenset({"mailto", "sip", "sips", "tel", "xmpp", "urn"})
# 4. A named field: name=value, name: value, "name": "value", Authorization: <scheme> <credentials>,
# Cookie: a=b; c=d. At the start of a line, ``name: value`` and ``name = value`` (YAML, INI, header lines)
# take the rest of the line.
_FIELD = re.compile(rf"(?:{HINT_WORDS})[\w.%-]{{0,63}}+(?P<sep>{_SEP})")
_VALUE = re.compile(rf"""{_QUOTED}|[^\s&;,"'<>(){{}}\[\]]++""")
_AUTH_VALUE = re.compile(
    rf"(?P<quoted>{_QUOTED})|(?P<bare>[A-Za-z][A-Za-z0-9-]{{0,30}}+[ \t]++(?:(?:{SCHEME_WORDS_RE})[ \t]++)?"
    rf"(?:{_PARAM}(?:[ \t]*+,[ \t]*+{_PARAM})*+|{_CRED_TOKEN})|{_CRED_TOKEN})",
    re.IGNORECASE,
)
# RFC 6265: pairs joined by "; ", a name is a token, a value holds no whitespace, comma, semicolon or backslash
# (DQUOTE may wrap it). "theme=dark; Authorization: ..." ends before "Authorization": no token has a ":".
_COOKIE_OCTETS = r"""[^\s;,'\\<>]"""
_COOKIE_PAIR = rf"""[^\s;,=:"'\\<>()@]++={_COOKIE_OCTETS}*+"""
_SET_COOKIE_VALUE = re.compile(rf"(?P<quoted>{_QUOTED})|(?P<bare>{_COOKIE_PAIR}|{_COOKIE_OCTETS}++)")
_STRUCTURE = re.compile(r'\\.|[{}\[\]"]', re.DOTALL)  # an escape pair, a bracket or a quote
_OBJECT_LIMIT = 65536
_UNQUOTED = re.compile(r"""[^\s"'&;,]*+""")
_COOKIE_VALUE = re.compile(
    rf"(?P<quoted>{_QUOTED})|(?P<bare>{_COOKIE_PAIR}(?:;[ \t]*+{_COOKIE_PAIR})*+|{_COOKIE_OCTETS}++)"
)
_LINE_LEAD = re.compile(r"""[ \t]{0,64}+(?:[-#*][ \t]{1,8}+|export[ \t]{1,8}+)?["']?""")
_EMPTY_VALUES = frozenset({"", "null", "none", "true", "false", "undefined", '""', "''"})
# 5. A credential scheme followed by a credential, anywhere (RFC 6750 Bearer, RFC 7617 Basic, Okta SSWS ...).
_FREE_SCHEMES = ("bearer", "basic", "token", "dpop", "negotiate", "ntlm", "ssws", "sharedaccesssignature")
_SCHEME_WORD = re.compile(rf"(?:{'|'.join(_FREE_SCHEMES)})[ \t]++(?!(?:{SCHEME_WORDS_RE})\b)")
_CREDENTIAL = re.compile(r"[\w~+/%-]++(?:[.:]++[\w~+/%-]++)*+=*+")
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]*")
# 7. Well-known token formats: see _redact_grammar.known_tokens.
# 8. XML elements whose (local) name is secret: <password>x</password>, <wsse:Password>, CDATA.
_XML = re.compile(
    rf"<(?=[\w.:-]{{0,63}}?(?:{HINT_WORDS}))(?:[a-z_][\w.-]{{0,40}}+:)?(?P<local>[a-z_][\w.-]{{0,63}}+)"
    r"(?:[ \t\r\n][^<>]{0,1024}+)?>"
)
# A CDATA cut off runs to the end. Runs of non-"]" are taken whole: a character at a time, a megabyte costs 20 ms.
_XML_VALUE = re.compile(r"<!\[CDATA\[(?:[^\]]++|\](?!\]>))*+(?:\]\]>)?|[^<]++")
_CDATA_OPEN, _CDATA_CLOSE = "<![CDATA[", "]]>"
# 9. A name and its value given as two fields: HAR {"name": "password", "value": "x"}, <add key="k" value="x"/>.
_NAMED_VALUE = re.compile(
    r"""(?:name|key|field|param)\\?["']?[ \t]{0,8}+[:=][ \t]{0,8}+(\\?["'])([\w.%-]{1,64}+)\1"""
    r"""[ \t]{0,8}+[,;]?[ \t\r\n]{0,64}+\\?["']?value\\?["']?[ \t]{0,8}+[:=][ \t]{0,8}+"""
)


def _preceded_by_name(text: str, start: int, chars: str = "_-") -> bool:
    return start > 0 and (text[start - 1].isalnum() or text[start - 1] in chars)


def _private_key(text: str, match: re.Match[str]) -> Replacement:
    if is_redacted(match.group(2).strip()):
        return None
    return match.start(), match.end(), f"{match.group(1)} {fingerprint(match.group(2))} {match.group(3)}"


def _multipart(text: str, match: re.Match[str]) -> Replacement:
    value = _MULTIPART_VALUE.match(text, match.end())
    if value is None:
        return None
    name = text[match.start(2) : match.end(2)]
    return match.end(), value.end(), redact_field(name, value.group(0))


def _url(depth: int) -> Callable[[str, re.Match[str]], Replacement]:
    def replace(text: str, match: re.Match[str]) -> Replacement:
        start = name_start(text, match.start(), "+.-", 16)
        while start < match.start() and not text[start].isalpha():
            start += 1
        if start == match.start() or not text[start : match.start()].isascii():
            return None
        if match.group(0) == "://":
            rest = _URL_REST.match(text, match.end())
            end = rest.end() if rest else match.end()
            return start, end, redact_url_at(text[start:end], depth + 1)
        rest = _ENCODED_URL_REST.match(text, match.end())
        end = rest.end() if rest else match.end()
        encoded = text[start:end]
        decoded = unpercent(encoded)
        redacted = redact_url_at(decoded, depth + 1)
        return start, end, encoded if redacted == decoded else quote(redacted, safe=_QUERY_SAFE.replace(":", ""))

    return replace


def _bare_userinfo(text: str, match: re.Match[str]) -> Replacement:
    start = name_start(text, match.start(), "._~%!$&+-")
    user, password = text[start : match.start()], match.group(1)
    if not user or text[start - 1 : start] in ("/", ":") or user.lower() in _NOT_USERINFO:
        return None
    if is_redacted(f"{user}:{password}") or is_redacted(password):
        return None
    if password:
        return match.start(1), match.end(1), redact_token(password)
    return start, match.start(), redact_token(user)


def _field(text: str, match: re.Match[str]) -> Replacement:
    start = name_start(text, match.start())
    name = text[start : match.start("sep")]
    kind = name_kind(name)
    if kind == PLAIN:
        return None
    at = match.end()
    if kind in (SECRET, AUTH) and text[at : at + 1] in ("{", "["):
        # "auth": {"user": "ada", "pin": "..."}: everything under a secret name is secret, in text as in JSON.
        end = _bracket_end(text, at)
        return at, end, redact_token(text[at:end])
    if kind == AUTH:
        value = _AUTH_VALUE.match(text, at)
    elif kind == COOKIE:  # Set-Cookie's attributes after the first ";" are public: left to the other rules
        value = (_SET_COOKIE_VALUE if name.lower().startswith("set") else _COOKIE_VALUE).match(text, at)
    else:
        value = _VALUE.match(text, at)
    if value is None:
        return None
    end, written = value.end(), value.group(0)
    if written[:1] in ('"', "'") and _FIELD.search(ascii_lower(written), 1):
        # 'password="x | token="y': the quote was never closed; the next field is not part of this value.
        end = _UNQUOTED.match(text, at + 1).end()  # type: ignore[union-attr]  # matches the empty string
        written = text[at:end]
    if kind == SECRET:
        if match.group("wide") and written[0] not in "\"'\\" and _at_line_start(text, start):
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            written = text[at:end]
        if written.strip("\\ \t\r").lower() in _EMPTY_VALUES:
            return None
    if kind == SECRET:
        return at, end, redact_quoted(written)
    return at, end, redact_quoted(written, lambda inner: redact_field(name, inner))


def _bracket_end(text: str, start: int) -> int:
    """The end of the JSON-like object or array at ``start`` (quotes respected), at most 64 KiB on."""
    depth, quoted, limit = 0, False, min(len(text), start + _OBJECT_LIMIT)
    for mark in _STRUCTURE.finditer(text, start, limit):
        char = mark.group(0)  # an escape pair (two characters) never opens, closes or ends anything
        if char == '"':
            quoted = not quoted
        elif quoted or len(char) == 2:
            continue
        elif char in "{[":
            depth += 1
        elif depth == 1:
            return mark.end()
        else:
            depth -= 1
    return limit


def _at_line_start(text: str, start: int) -> bool:
    line = text.rfind("\n", start - 80 if start > 80 else 0, start) + 1
    if line == 0 and start > 80:
        return False
    return _LINE_LEAD.fullmatch(text, line, start) is not None


def _scheme_credential(text: str, match: re.Match[str]) -> Replacement:
    if _preceded_by_name(text, match.start()):
        return None
    cred = _CREDENTIAL.match(text, match.end())
    if cred is None:
        return None
    end, value = cred.end(), cred.group(0)
    after = text[end : end + 1]
    if after.isalnum() or after in ("_", "=") or (after == '"' and value.endswith("=")):  # realm="x": a param
        return match.end(), end, value
    if len(value) < 6 or _PLAIN_WORD.fullmatch(value):  # "Bearer tokens expire", "Basic auth": prose
        return match.end(), end, value
    return match.end(), end, redact_token(value)


def _jwt(text: str, match: re.Match[str]) -> Replacement:
    if _preceded_by_name(text, match.start()):
        return None
    return match.start(), match.end(), f"{match.group(1)}.{match.group(2)}.{fingerprint(match.group(0))}"


def _xml(text: str, match: re.Match[str]) -> Replacement:
    value = _XML_VALUE.match(text, match.end())
    if value is None:
        return None
    # Closed or not (a body cut off, a child element next): a secret element's own text is secret.
    end = value.end()
    name, written = text[match.start("local") : match.end("local")], value.group(0)
    if written.startswith(_CDATA_OPEN):
        inner_end = len(written) - len(_CDATA_CLOSE) if written.endswith(_CDATA_CLOSE) else len(written)
        inner_end = max(inner_end, len(_CDATA_OPEN))
        new = f"{_CDATA_OPEN}{redact_field(name, written[len(_CDATA_OPEN) : inner_end])}{written[inner_end:]}"
    else:
        new = redact_field(name, written)
    return match.end(), end, new


def _named_value(text: str, match: re.Match[str]) -> Replacement:
    if _preceded_by_name(text, match.start()):
        return None
    value = _VALUE.match(text, match.end())
    if value is None:
        return None
    name, written = text[match.start(2) : match.end(2)], value.group(0)
    return match.end(), value.end(), redact_quoted(written, lambda inner: redact_field(name, inner))


_NAME_HINTS = tuple(HINT_WORDS.split("|"))


def redact_at(text: str, depth: int) -> str:
    low = text.lower()
    if "private key" in low:
        text = splice(text, _PRIVATE_KEY, _private_key, fold=False)
    if "form-data" in low:
        text = splice(text, _MULTIPART, _multipart)
    if ("://" in text or "%3a%2f%2f" in low) and depth < MAX_NESTING:
        text = splice(text, _URL_MARK, _url(depth))
    if ":" in text and "@" in text:
        text = splice(text, _BARE_USERINFO, _bare_userinfo, fold=False)
    if "value" in low:
        text = splice(text, _NAMED_VALUE, _named_value)
    if "<" in text:
        text = splice(text, _XML, _xml)
    if (":" in text or "=" in text) and holds_any(low, _GUARDED_NAMES):  # _SEP needs one of them
        text = splice(text, _FIELD, _field)
    if holds_any(low, _GUARDED_SCHEMES):
        text = splice(text, _SCHEME_WORD, _scheme_credential)
    if "eyJ" in text:
        text = splice(text, JWT, _jwt, fold=False)
    return known_tokens(text)


def may_hold_secret(text: str, low: str) -> bool:
    """False when no rule can match (``low`` is ``text`` lower-cased): most text is returned as it is, cheaply."""
    if "@" in text and ":" in text:
        return True
    # One regex is fastest for short text; for long text, guarded substring tests beat an alternation.
    return _HINT.search(low) is not None if len(low) < _SHORT else holds_any(low, _GUARDED_HINTS)


# Every rule needs one of these (lower case) to match, or an "@" and a ":".
HINTS = (
    *_NAME_HINTS, "://", "%3a%2f%2f", "eyj", "private key", "akia", "asia", "abia", "acca", "aida", "aroa", "aipa",
    "anpa", "anva", "apka", "gh", "_live_", "_test_", "whsec_", "xox", "xapp-", "sk-", "aiza", "ya29.", "glpat-",
    "npm_", "pypi-", "hf_", "sg.", "_v1_", ":aa", "webhooks/", "hooks.slack", "basic", "digest", "dpop",
    "negotiate", "ntlm", "ssws", "form-data",
)  # fmt: skip
_HINT = re.compile("|".join(re.escape(hint) for hint in HINTS))
_SHORT = 4096

_GUARDED_HINTS = guarded(HINTS)
_GUARDED_NAMES = guarded(_NAME_HINTS)
_GUARDED_SCHEMES = guarded(_FREE_SCHEMES)


# --- URLs, query strings and form bodies -----------------------------------------------------------------

# Secret in a query, fragment or form body only: OAuth's authorization code (RFC 6749 §4.1.2) and SAML
# bindings. In JSON "code" is an error code (the 600 envelope's), not a secret.
_URL_SECRET_PARAMS = frozenset({"code", "samlresponse", "samlrequest", "samlart"})
_URL_SCHEME = re.compile(r"[A-Za-z][\w+.-]{0,15}")
_QUERY_SAFE = ":/@!$'()*,;= "


MAX_URL_LENGTH = 65_536
"""A URL longer than this (browsers stop near 2 MB, servers at 8-64 KiB) keeps its scheme and host; the rest is
withheld whole rather than read, so a megabyte of ``https://https://...`` costs no more than any other text."""


def redact_url_at(url: str, depth: int) -> str:
    if len(url) > MAX_URL_LENGTH:
        head, kept, scheme_end = "", 0, url.find("://", 0, 64)
        if scheme_end > 0:
            start = scheme_end + 3
            slash = url.find("/", start, start + 512)
            kept = slash if slash > 0 else start
            head = url[:start] + known_tokens(_redact_userinfo(url[start:kept]))
        return f"{head}[{len(url) - kept} characters withheld: a URL longer than {MAX_URL_LENGTH}]"
    base, hash_mark, fragment = url.partition("#")
    base, question, query = base.partition("?")
    scheme_end = base.find("://")
    if scheme_end > 0 and _URL_SCHEME.fullmatch(base[:scheme_end]):
        start = scheme_end + 3
    elif base.startswith("//"):
        start = 2
    elif "@" in base.partition("/")[0]:  # written without a scheme: "KEY:@api.example.com/v1"
        start = 0
    else:
        start = -1
    if start >= 0:
        slash = base.find("/", start)
        end = len(base) if slash < 0 else slash
        base = base[:start] + _redact_userinfo(base[start:end]) + _redact_part(base[end:], depth)
    else:
        base = _redact_part(base, depth)
    if question:
        query = redact_query(query, depth)
    if hash_mark:
        path, question_in_fragment, fragment_query = fragment.rpartition("?")
        if question_in_fragment:  # "#/route?token=..." (single-page apps)
            fragment = f"{_redact_part(path, depth)}?{redact_query(fragment_query, depth)}"
        else:  # "#access_token=...&state=..." (OAuth implicit and hybrid flows)
            fragment = redact_query(fragment, depth) if "=" in fragment else _redact_part(fragment, depth)
    return f"{base}{question}{query}{hash_mark}{fragment}"


def _redact_part(text: str, depth: int) -> str:
    # A path or fragment: ";jsessionid=...", "/bot<token>/", a key format in a path segment.
    if not text:
        return text
    low = text.lower()
    return redact_at(text, depth) if may_hold_secret(text, low) else text


def _redact_userinfo(authority: str) -> str:
    userinfo, at, host = authority.rpartition("@")
    if not at or not userinfo or is_redacted(userinfo):
        return authority
    user, colon, password = userinfo.partition(":")
    if user and password:  # user:password - the user is an identity, the password the secret
        return f"{known_tokens(user)}:{redact_token(password)}@{host}"
    # "KEY:@host", "TOKEN@host", ":password@host": what is there is the credential itself.
    return f"{colon if not user else ''}{redact_token(user or password)}@{host}"


def redact_query(query: str, depth: int) -> str:
    """``a=b&c=d``: secret names' values fingerprinted (decoded first); other values searched when encoded."""
    low = query.lower()
    if "%" not in query and "code" not in low and not may_hold_secret(query, low):
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
    if depth >= MAX_NESTING or "%" not in value:
        redacted = _redact_part(value, depth + 1)
        return part if redacted == value else f"{name}={redacted}"
    decoded = unpercent(value.replace("+", " "))
    redacted = _redact_part(decoded, depth + 1)
    return part if redacted == decoded else f"{name}={quote(redacted, safe=_QUERY_SAFE)}"
