"""Redaction: applied at every exit (logs, exception text, reprs, metric labels, reports, bundles).

A secret is replaced by its fingerprint, ``sha256:`` and the first 8 hex digits of the SHA-256 of the
secret, so two log lines that carry the same token can be correlated without either carrying the token.
JWTs keep their header and claims (they are what a paged engineer needs: ``exp``, ``aud``, ``iss``) and lose
their signature, which is what makes them usable.

What is secret is a small grammar, not a list of examples (its words live in ``_redact_grammar``, its rules
over text in ``_redact_text``):

- a *secret name* speaks of a token, secret, password/pass/passphrase, PIN, key, signature, session,
  credential, cookie, assertion, SAML response or authorization (rate-limit counters, ``token_type``,
  ``max_tokens``, ``public_key`` excepted), also ``%``-encoded (``api%5Fkey``) and camelCase (``accountKey``).
  In URL queries, fragments and form bodies OAuth's ``code`` is secret too (RFC 6749 §4.1.2: it buys a
  token). ``state`` stays readable: a single-use anti-CSRF value that grants nothing, and what ties a callback
  to its request. In JSON ``code`` is the 600 envelope's error code and stays;
- the value of a secret name is fingerprinted wherever the pair is written: JSON (any depth, everything under
  a secret key, in text too: ``"auth": {...}``), ``{"name": "X-Api-Key", "value": "..."}`` (HAR,
  ``<add key= value=>``), form and query strings, multipart form fields, cookies, header lines,
  YAML/INI/logfmt (``password: x``, ``api_key = x``; quoted or not, closed or not; at the start of a line a
  ``:`` or `` = `` value runs to the end of the line), XML elements (closed or cut off, CDATA) and attributes;
- after an Authorization-like name (``Authorization``, ``Proxy-Authorization``, ``HTTP_AUTHORIZATION``,
  ``X-Auth``), any ``<scheme> <credential>``: a readable scheme word stays (``SSWS``, ``Bot``, ``token Bearer``)
  and the token68, or Digest's ``response`` and every secret auth-param (AWS4 ``Signature``, OAuth 1
  ``oauth_signature``), is fingerprinted. Anywhere in text, ``Bearer``/``Basic``/``Token``/``DPoP``/
  ``Negotiate``/``NTLM``/``SSWS`` followed by a credential (prose such as "the token expired" stays);
- userinfo: ``u:p@`` keeps the user, ``KEY:@`` and ``TOKEN@`` are the credential itself; in URLs, in text
  without a scheme (``user:password@host``) and %-encoded inside query values;
- private-key blocks (PEM, OpenSSH, PGP) and the well-known token formats of the vendors (cited beside each).

Limits, by design: every redactor accepts any ``str`` or ``bytes`` (invalid UTF-8 replaced; lone surrogates,
which no encoder can write, become U+FFFD) and never raises. Work is linear in the input: a rule is one pass
that finds a literal (in the ASCII-lower-cased text: ``re`` scans for a literal many times faster than it runs
a case-insensitive pattern) and reads the value after it with possessive quantifiers, so no character is
scanned twice by a rule; the cost is a C-speed scan per rule plus one Python call per match, so text dense
with secret-named pairs costs the most per megabyte. A rule reads at most 4,096 matches in one text
(``_redact_grammar.MAX_MATCHES``): the rest of a text denser in secrets than that is withheld whole, as
``[N characters withheld: ...]``, so no megabyte costs more than about 50 ms and nothing leaks. Names are
at most 64 characters (256 in queries);
URLs inside query values inside URLs are followed 3 levels deep; an object after a secret name in text is
read for at most 64 KiB. :func:`redact_json` walks iteratively, replaces containers nested deeper than
:data:`MAX_JSON_DEPTH` by a marker and reads at most :data:`MAX_JSON_ITEMS` values of one document (the rest
are withheld behind a marker); :func:`redact_body` decodes the JSON the standard library can (about
1,000 levels) and reads anything else as free text. bench/hostile.py measures the slowest adversarial
megabyte of every redactor (bench/RESULTS.md, "Hostile inputs").

Written by hand: no maintained library redacts HTTP traffic with correlatable fingerprints while keeping
JWT claims.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from upstreamkit.core._redact_grammar import (
    PLAIN,
    fingerprint,
    is_auth_name,
    is_cookie_name,
    is_secret_name,
    known_tokens,
    name_kind,
    redact_field,
    redact_token,
)
from upstreamkit.core._redact_text import may_hold_secret, redact_at, redact_query, redact_url_at

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

MAX_JSON_ITEMS = 2048
"""Entries and elements :func:`redact_json` reads in one document; the rest are withheld (a marker stands for
them), so a megabyte of 100,000 keys costs tens of milliseconds, not hundreds, and leaks nothing."""
MAX_JSON_DEPTH = 100
"""Containers nested deeper than this in :func:`redact_json` are replaced by :data:`_TOO_DEEP`."""
_TOO_DEEP = f"[redacted: nested deeper than {MAX_JSON_DEPTH} levels]"
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
    if text.isascii() or _SURROGATE.search(text) is None:
        return text  # clean already (redactors call each other: a second look costs one scan, not a copy)
    # split + join, not sub(): a quarter faster on a megabyte of lone surrogates (no match objects made).
    return "\ufffd".join(_SURROGATE.split(text))


def redact_text(text: str | bytes) -> str:
    """Redact every credential found in free text (log lines, exception messages, HTML, XML, form bodies)."""
    text = _as_text(text)
    if not text:
        return text
    if len(text) <= _CACHE_LIMIT:
        return _redact_short(text)
    low = text.lower()
    return redact_at(text, 0) if may_hold_secret(text, low) else text


@lru_cache(maxsize=4096)
def _redact_short(text: str) -> str:
    # Cached: the same exception messages and log lines come back again and again during an incident.
    low = text.lower()
    return redact_at(text, 0) if may_hold_secret(text, low) else text


def redact_url(url: str | bytes) -> str:
    """Redact userinfo and secret query parameters; the host, path and other parameters stay readable."""
    return redact_url_at(_as_text(url), 1)


# --- headers ---------------------------------------------------------------------------------------------


def redact_header_value(name: str | bytes, value: str | bytes) -> str:
    """Redact one header's value according to its name, then scan it as free text."""
    name, value = _as_text(name).strip(), _as_text(value)
    if is_auth_name(name) or is_cookie_name(name) or is_secret_name(name):
        return known_tokens(redact_field(name, value))
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
    return _JsonWalk().run(value)


class _JsonWalk:
    """An iterative walk: a work list of (source, parent container, slot, under a secret key)."""

    def __init__(self) -> None:
        self.left = MAX_JSON_ITEMS  # entries and elements still to read; the rest is withheld
        self.pending: list[tuple[Any, Any, Any, bool]] = []
        self.seen: dict[tuple[int, bool], Any] = {}  # shared and cyclic containers are visited once
        self.depth_of: dict[int, int] = {}

    def run(self, value: Any) -> Any:
        root: list[Any] = [None]
        self.depth_of[id(root)] = -1
        self.pending.append((value, root, 0, False))
        while self.pending:
            source, parent, slot, secret = self.pending.pop()
            if self.left <= 0:  # the document's budget is spent: what is left is withheld, not read
                parent[slot] = _WITHHELD
                continue
            self.left -= 1
            parent[slot] = self.node(source, depth=self.depth_of[id(parent)] + 1, secret=secret)
        return root[0]

    def node(self, value: Any, *, depth: int, secret: bool) -> Any:
        if not isinstance(value, Mapping | list | tuple):
            return _json_leaf(value, secret=secret)
        key = (id(value), secret)
        if key in self.seen:
            return self.seen[key]
        if depth >= MAX_JSON_DEPTH:
            return _TOO_DEEP
        out: Any
        if isinstance(value, Mapping):
            out = {}
            # {"name": "Authorization", "value": "..."}: the value is the named field's.
            label = _label(value)
            for n, (item_key, item) in enumerate(value.items()):
                if self.left <= 0:  # the document's budget is spent: the rest of this mapping is withheld
                    out["…"] = _withheld_items(len(value) - n)
                    break
                self.left -= 1
                skey = redact_text(item_key if isinstance(item_key, str) else _as_text(item_key))
                field = label if label and skey.lower() == "value" else skey
                if not secret and isinstance(item, str | bytes):
                    out[skey] = _json_field(field, _as_text(item))
                    continue
                out[skey] = None
                self.left += 1  # counted again when the work list reaches it
                under_secret = secret or (name_kind(field) != PLAIN and item is not None and not isinstance(item, bool))
                self.pending.append((item, out, skey, under_secret))
        else:
            count = min(len(value), max(self.left, 0))
            out = [None] * count
            self.pending.extend((value[index], out, index, secret) for index in range(count))
            if count < len(value):
                out.append(_withheld_items(len(value) - count))
        self.seen[key] = out
        self.depth_of[id(out)] = depth
        return out


_WITHHELD = "[withheld]"
_LABELS = ("name", "Name", "NAME", "key", "Key", "KEY")


def _label(value: Mapping[Any, Any]) -> str:
    """The field a ``{"name": ..., "value": ...}`` pair names, if it is one. A pair has few keys: a large
    mapping is asked only for the usual spellings, so a 100,000-key document is not scanned for them."""
    if len(value) <= 16:
        found = next((v for k, v in value.items() if str(k).lower() in ("name", "key") and isinstance(v, str)), "")
    else:
        found = next((v for k in _LABELS if isinstance(v := value.get(k), str)), "")
    return str(found)


def _withheld_items(count: int) -> str:
    return f"[{count} more values withheld: over {MAX_JSON_ITEMS} in one document]"


def _json_field(name: str, value: str) -> str:
    if name_kind(name) != PLAIN:
        return known_tokens(redact_field(name, value))
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
        return redact_query(text, 1)
    return redact_text(text)
