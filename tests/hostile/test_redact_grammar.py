"""Redaction is a grammar: a secret in any of its shapes never survives, and no input makes a redactor raise.

A table of secret shapes (each names the context it tests) asserts that the planted value is gone and that
its fingerprint is there; property tests plant random secrets in random contexts among random text, and feed
every redactor arbitrary text, bytes and JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hostile_profile import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from upstreamkit.core.redact import (
    MAX_JSON_DEPTH,
    fingerprint,
    is_secret_name,
    redact_body,
    redact_header_value,
    redact_headers,
    redact_json,
    redact_text,
    redact_url,
)

S = "Zq9xK2mP7vL4wR8t"
"""The planted secret of the table: a credential by shape (mixed case and digits), in no known format."""

# (id, text with {S}, whether the fingerprint of exactly S must appear). Contexts where the fingerprinted
# span is larger than the secret (a whole line, a key block) say False: the secret must still be gone.
SHAPES: list[tuple[str, str, bool]] = [
    # After an Authorization-like name: any scheme, a readable scheme word kept.
    ("auth bearer", "Authorization: Bearer {S}", True),
    ("auth SSWS (Okta)", "Authorization: SSWS {S}", True),
    ("auth ApiKey", "Authorization: ApiKey {S}", True),
    ("auth Bot (Discord)", "authorization: Bot {S}", True),
    ("auth Key", "Authorization: Key {S}", True),
    ("auth Token (GitHub)", "Authorization: Token {S}", True),
    ("auth token Bearer", "Authorization: token Bearer {S}", True),
    ("auth unknown scheme", "Authorization: Custom-Scheme {S}", True),
    ("auth bare credential", "Authorization: {S}", True),
    ("proxy-authorization Basic", "Proxy-Authorization: Basic {S}==", False),
    ("auth in curl -H", "curl -H 'Authorization: Key {S}' https://api.example.com/", True),
    ("auth in JSON text", '{{"Authorization": "DPoP {S}"}}', True),
    ("auth in Python repr", "{{'authorization': 'Negotiate {S}'}}", True),
    ("auth in CGI env", "HTTP_AUTHORIZATION=Bearer {S}", True),
    ("X-Authorization", "X-Authorization: {S}", True),
    ("auth header key", 'authorization_header = "Bearer {S}"', True),
    ("Digest response", 'Authorization: Digest username="ada", realm="r", nonce="n", uri="/", response="{S}"', True),
    ("AWS4 Signature", "Authorization: AWS4-HMAC-SHA256 Credential=x/y, SignedHeaders=host, Signature={S}", True),
    ("OAuth 1 signature", 'Authorization: OAuth oauth_consumer_key="k", oauth_signature="{S}"', True),
    # A scheme followed by a credential anywhere in text.
    ("token Bearer in a body", '{{"message": "invalid token Bearer {S}"}}', True),
    ("Bearer in prose", "request sent with Bearer {S} was refused", True),
    ("Basic in prose", "tried Basic {S} twice", True),
    ("SSWS in prose", "SSWS {S}", True),
    # Secret names' values, written every way.
    ("JSON", '{{"password": "{S}"}}', True),
    ("JSON no space", '{{"client_secret":"{S}"}}', True),
    ("Python repr", "{{'api_key': '{S}'}}", True),
    ("escaped JSON in JSON", '{{"body": "{{\\"refresh_token\\": \\"{S}\\"}}"}}', True),
    ("form", "user=ada&password={S}&remember=1", True),
    ("logfmt", "level=error secret={S} user=ada", True),
    ("header line", "X-Api-Key: {S}", True),
    ("Azure header", "Ocp-Apim-Subscription-Key: {S}", True),
    ("YAML", "db:\n  password: {S}\n  user: ada", True),
    ("YAML list item", "- api_token: {S}", True),
    ("YAML value with spaces", "passphrase: correct horse {S} staple", False),
    ("YAML quoted", "api_key: '{S}'", True),
    ("INI", "[db]\napi_key = {S}\n", True),
    ("shell export", "export API_TOKEN={S}", True),
    ("unterminated double quote", 'password="{S}', True),
    ("unterminated single quote", "password='{S}", True),
    ("PHP/Ruby arrow", "'secret' => '{S}'", True),
    ("%-encoded name", "api%5Fkey={S}&page=2", True),
    ("%-encoded name dash", "x%2Dapi%2Dkey={S}", True),
    ("camelCase key", "accountKey={S}", True),
    ("SAML", "SAMLResponse={S}", True),
    ("cookie", "Cookie: theme=dark; session={S}", True),
    ("cookie, unnamed pair", "Cookie: theme=dark; sid={S}", True),
    ("set-cookie", "Set-Cookie: sid={S}; Path=/; HttpOnly", True),
    ("cookie in curl", "curl -b 'x=1' -H 'Cookie: a=1; b={S}' https://h/", True),
    # XML.
    ("XML element", "<password>{S}</password>", True),
    ("XML namespaced", '<wsse:Password Type="PasswordText">{S}</wsse:Password>', True),
    ("XML CDATA", "<Token><![CDATA[{S}]]></Token>", True),
    ("XML attribute", '<login user="ada" secret="{S}"/>', True),
    ("XML cut off", "<soap:Body><apiKey>{S}", False),
    ("XML unclosed, then more", "<apiKey>{S}\n<user>ada</user>", True),
    # A name and its value as two fields.
    ("HAR header", '{{"name": "X-Api-Key", "value": "{S}"}}', True),
    ("HAR pretty-printed", '{{\n  "name": "Authorization",\n  "value": "Bearer {S}"\n}}', True),
    (".NET appSettings", '<add key="ClientSecret" value="{S}" />', True),
    # Multipart form fields.
    ("multipart", 'Content-Disposition: form-data; name="password"\r\n\r\n{S}\r\n--b--', True),
    (
        "multipart with part headers",
        '--b\r\nContent-Disposition: form-data; name="api_key"\r\nContent-Type: text/plain\r\n\r\n{S}\r\n--b--',
        True,
    ),
    ("multipart LF only", "Content-Disposition: form-data; name=client_secret\n\n{S}\n--b--", True),
    # URLs: userinfo, queries, fragments, OAuth's code.
    ("URL key as username", "https://{S}:@api.stripe.com/v1/charges", True),
    ("URL token as userinfo", "git clone https://{S}@github.com/org/repo.git", True),
    ("URL user:password", "postgres://app:{S}@db.internal:5432/orders", True),
    ("URL empty user", "redis://:{S}@cache:6379/0", True),
    ("userinfo without scheme", "redis-cli -u default:{S}@redis:6379", True),
    ("query", "GET https://api.example.com/v1/items?page=2&access_token={S}", True),
    ("OAuth code", "https://app.example.com/callback?code={S}&state=af0ifjsldkj", True),
    ("implicit fragment", "https://app.example.com/cb#access_token={S}&token_type=bearer", True),
    ("SPA fragment query", "https://app.example.com/#/login?token={S}", True),
    ("encoded URL in a query", "https://h/login?next=https%3A%2F%2Fu%3A{S}%40idp%2F", True),
    ("URL in a quoted string", '"see https://u:{S}@h/x"', True),
    ("jsessionid path parameter", "https://h/app;jsessionid={S}?x=1", True),
    # Private keys.
    (
        "PGP private key",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF{S}\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----",
        False,
    ),
    ("OpenSSH private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl{S}\n-----END OPENSSH PRIVATE KEY-----", False),
    ("PEM cut off", "key: -----BEGIN RSA PRIVATE KEY-----\nMIIE{S}", False),
]

# Well-known formats: the token is the secret (no name needed).
KNOWN_TOKENS = {
    "AWS access key id": "AKIAIOSFODNN7EXAMPLE",
    "GitHub classic": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "GitHub fine-grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
    "GitLab": "glpat-AbCdEfGhIjKlMnOpQrSt",
    "Stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "Stripe webhook": "whsec_AbCdEfGhIjKlMnOpQrStUv",
    "Slack": "xoxb-2837462-1928374-AbCdEfGhIjKlMnOpQrSt",
    "OpenAI": "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    "Anthropic": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
    "Google API key": "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
    "Google OAuth": "ya29.a0AfH6SMBx1234567890abcdefghij",
    "npm": "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    "Hugging Face": "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "Telegram bot": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1",
}

PROSE = [
    "The access token expired",
    'error_description="The access token expired"',
    "the token expired 5 min ago",
    "Bearer tokens are refreshed hourly",
    "Basic auth is disabled",
    'Bearer realm="api", error="invalid_token"',
    "token_type=bearer expires_in=3600",
    "x-ratelimit-remaining-tokens: 149000",
    '{"code": 600, "error": "upstream_error", "state": "open"}',
    "contact ada@example.com or mailto:ada@example.com",
    "Idempotency-Key: order-42",
    "https://api.example.com/v1/items?page=2&sort=asc",
]


@pytest.mark.parametrize(("shape", "template", "exact"), SHAPES, ids=[s[0] for s in SHAPES])
def test_every_shape_is_redacted(shape: str, template: str, exact: bool) -> None:
    text = template.format(S=S)
    redacted = redact_text(text)
    assert S not in redacted, f"{shape}: {redacted!r}"
    assert "sha256:" in redacted
    if exact:
        assert fingerprint(S) in redacted, f"{shape}: {redacted!r}"
    assert redact_text(redacted) == redacted, f"{shape}: not idempotent"


@pytest.mark.parametrize(("name", "token"), KNOWN_TOKENS.items(), ids=list(KNOWN_TOKENS))
def test_known_token_formats_are_redacted_anywhere(name: str, token: str) -> None:
    for text in (token, f"found {token} in the log", f"key={token}", f'"{token}"', f"({token})"):
        redacted = redact_text(text)
        assert token not in redacted, f"{name}: {redacted!r}"
        assert fingerprint(token) in redacted, f"{name}: {redacted!r}"


def test_scheme_words_stay_readable() -> None:
    assert redact_text(f"Authorization: SSWS {S}") == f"Authorization: SSWS {fingerprint(S)}"
    assert redact_text(f"token Bearer {S}") == f"token Bearer {fingerprint(S)}"
    assert redact_header_value("Authorization", f"ApiKey {S}") == f"ApiKey {fingerprint(S)}"
    assert redact_header_value("Cookie", f"a=1; b={S}") == f"a={fingerprint('1')}; b={fingerprint(S)}"


@pytest.mark.parametrize("text", PROSE)
def test_evidence_stays_readable(text: str) -> None:
    assert redact_text(text) == text


def test_oauth_code_is_secret_in_urls_and_forms_but_not_in_json() -> None:
    assert S not in redact_url(f"https://h/cb?code={S}&state=xyz")
    assert "state=xyz" in redact_url(f"https://h/cb?code={S}&state=xyz")  # single-use, grants nothing
    assert S not in redact_body(f"grant_type=authorization_code&code={S}", "application/x-www-form-urlencoded")
    assert redact_json({"code": 600, "error": "upstream_error"}) == {"code": 600, "error": "upstream_error"}


def test_structured_redactors_read_the_same_grammar() -> None:
    assert redact_json({"name": "Authorization", "value": f"Bot {S}"}) == {
        "name": "Authorization",
        "value": f"Bot {fingerprint(S)}",
    }
    assert redact_json({"headers": {"Cookie": f"a=1; sid={S}"}})["headers"]["Cookie"].endswith(fingerprint(S))
    assert redact_json({"api%5Fkey": S}) == {"api%5Fkey": fingerprint(S)}
    assert redact_headers([("X-Amz-Security-Token", S)]) == [("X-Amz-Security-Token", fingerprint(S))]
    assert redact_url(f"https://h/?api%5Fkey={S}") == f"https://h/?api%5Fkey={fingerprint(S)}"
    for name in ("api%5Fkey", "x-api-key", "accountKey", "SAMLResponse", "HTTP_AUTHORIZATION", "db.password"):
        assert is_secret_name(name), name
    for name in ("token_type", "keyboard", "max_tokens", "public_key", "state", "code", "Idempotency-Key"):
        assert not is_secret_name(name), name


def test_deep_json_is_redacted_iteratively_and_cut_at_the_depth_limit() -> None:
    deep: Any = {"password": S}
    for _ in range(10_000):
        deep = {"a": [deep]}
    redacted = redact_json(deep)  # no RecursionError: the walk is iterative
    node = redacted
    for _ in range(MAX_JSON_DEPTH):
        if not isinstance(node, dict | list):
            break
        node = node["a"] if isinstance(node, dict) else node[0]
    assert isinstance(node, str)
    assert node.startswith("[redacted: nested deeper")
    shallow = {"a": [{"b": {"password": S, "user": "ada"}}]}
    assert redact_json(shallow) == {"a": [{"b": {"password": fingerprint(S), "user": "ada"}}]}
    body = "[" * 10_000 + json.dumps({"password": S}) + "]" * 10_000
    assert S not in redact_body(body.encode(), "application/json")  # too deep to decode: read as text


def test_cyclic_json_values_are_walked_once() -> None:
    loop: dict[str, Any] = {"password": S}
    loop["self"] = loop
    redacted = redact_json(loop)
    assert redacted["password"] == fingerprint(S)
    assert redacted["self"] is redacted


# --- properties ------------------------------------------------------------------------------------------

# A secret that looks like a credential: letters and digits with at least one digit and one upper-case letter
# (a lower-case word after "token" is prose, by design), and sometimes - _ . ~ inside.
secrets = st.builds(
    lambda head, body, tail: head + body + tail,
    st.sampled_from(["A1", "Z9", "Q7x", "K2m"]),
    st.text(st.sampled_from("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_.~"), min_size=6, max_size=40),
    st.sampled_from(["3", "X", "9k", "Tq"]),
)
LINE_ONLY = {template for shape, template, _ in SHAPES if shape == "YAML value with spaces"}
exact_shapes = [template for _, template, exact in SHAPES if exact]
filler = st.sampled_from([*PROSE, "", "\n", " ", "ok", "GET /v1 502", "upstream failed:", "status=502 retry=1"])


@FUZZ
@given(secret=secrets, template=st.sampled_from(exact_shapes), before=filler, after=filler)
def test_a_planted_secret_never_survives_its_context(secret: str, template: str, before: str, after: str) -> None:
    text = f"{before}\n{template.format(S=secret)}\n{after}"
    redacted = redact_text(text)
    assert secret not in redacted, redacted
    assert fingerprint(secret) in redacted, redacted
    assert redact_text(redacted) == redacted


@FUZZ
@given(
    secret=secrets,
    templates=st.lists(st.sampled_from([template for _, template, _ in SHAPES]), min_size=1, max_size=6),
    glue=st.sampled_from(["\n", "\r\n", " | ", "; ", "\n\n"]),
)
def test_planted_secrets_in_many_contexts_at_once(secret: str, templates: list[str], glue: str) -> None:
    if "\n" not in glue:  # a value with spaces is read to the end of its line only at the start of a line
        templates = [template for template in templates if template not in LINE_ONLY] or ["password={S}"]
    text = glue.join(template.format(S=secret) for template in templates)
    assert secret not in redact_text(text)
    assert secret not in redact_body(text.encode(), "text/plain")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
secret_keys = st.sampled_from(["password", "client_secret", "api_key", "Authorization", "X-Api-Key", "refresh_token"])


@FUZZ
@given(secret=secrets, key=secret_keys, doc=json_values, path=st.lists(st.sampled_from(["a", "b", 0]), max_size=8))
def test_a_secret_key_at_any_depth_of_any_document(secret: str, key: str, doc: Any, path: list[Any]) -> None:
    planted: Any = {key: secret, "doc": doc}
    for step in reversed(path):
        planted = [planted] if step == 0 else {step: planted}
    assert secret not in json.dumps(redact_json(planted), ensure_ascii=False)
    assert secret not in redact_body(json.dumps(planted), "application/json")


any_text = st.text(st.characters(codec=None, categories=None), max_size=400)  # lone surrogates included
hostile_text = st.text(st.sampled_from("%\"'\\<>=:;&,{}[]@/#- \n\r\taAkK=token:Bearer eyJ://"), max_size=400)
texts = any_text | hostile_text | st.builds("".join, st.lists(st.sampled_from(exact_shapes + PROSE), max_size=5))


def _clean(text: str) -> None:
    assert isinstance(text, str)
    text.encode("utf-8")  # nothing an encoder cannot write comes out


@FUZZ
@given(text=texts, raw=st.binary(max_size=200), content_type=st.sampled_from(["application/json", None, "text/xml"]))
def test_redactors_never_raise(text: str, raw: bytes, content_type: str | None) -> None:
    for value in (text, raw):
        _clean(redact_text(value))
        _clean(redact_url(value))
        _clean(redact_header_value("Cookie", value))
        _clean(redact_header_value("Authorization", value))
        _clean(redact_header_value(value, value))
        _clean(redact_body(value, content_type))
        _clean(redact_body(value, "application/x-www-form-urlencoded"))
        fingerprint(value)
    for name, value in redact_headers([(text, text), (raw, raw)]):
        _clean(name)
        _clean(value)
    is_secret_name(text)
    redact_json({text: [text, {"password": text}], "n": 1})


@FUZZ
@given(doc=json_values)
def test_redact_json_keeps_the_shape_of_harmless_documents(doc: Any) -> None:
    redacted = redact_json(doc)
    assert json.dumps(redacted) if redacted is not None else True
    secret_words = r"(?i)token|secret|pass|pwd|key|sig|session|cred|cookie|auth|otp|pin|assert|bearer|saml"
    userinfo = r":[^\s:@/]{0,256}@"  # "KEY:@host", "user:password@host": a credential by position
    if not re.search(f"{secret_words}|{userinfo}", repr(doc)):
        assert redacted == doc or repr(redacted) == repr(doc)  # NaN-free floats compare; -0.0 == 0.0


def test_a_text_too_dense_in_secrets_is_withheld_past_the_limit_and_leaks_nothing() -> None:
    """Linear and fast whatever the input: past MAX_MATCHES rule heads the rest of the text is withheld
    whole instead of being read one value at a time."""
    from upstreamkit.core._redact_grammar import MAX_MATCHES  # noqa: PLC0415 - the limit under test

    secret = "s3cr3t-Planted-Value-0123456789"
    text = "".join(f"password={secret}{n}&" for n in range(MAX_MATCHES * 3))
    out = redact_text(text)
    assert secret not in out
    assert "characters withheld" in out
    assert len(out) < len(text)
    few = "".join(f"password={secret}{n}&" for n in range(10))
    assert "withheld" not in redact_text(few)  # an ordinary text is redacted value by value


def test_a_json_document_too_large_to_read_value_by_value_is_withheld_past_the_limit() -> None:
    from upstreamkit.core.redact import MAX_JSON_ITEMS  # noqa: PLC0415 - the limit under test

    secret = "s3cr3t-Planted-Value-0123456789"
    wide = {f"k{n}": f"v{n}" for n in range(MAX_JSON_ITEMS * 5)} | {"password": secret}
    rows = [{"password": f"{secret}{n}", "id": n} for n in range(MAX_JSON_ITEMS * 2)]
    for document in (wide, rows):
        out = redact_json(document)
        assert secret not in repr(out)
        assert "withheld" in repr(out)
    small = {"a": [1, 2, {"token": secret}], "password": secret, "name": "Authorization", "value": f"Bearer {secret}"}
    assert "withheld" not in repr(redact_json(small))  # an ordinary document is read in full
    assert secret not in repr(redact_json(small))


def test_a_url_too_long_to_be_one_keeps_its_host_and_withholds_the_rest() -> None:
    from upstreamkit.core._redact_text import MAX_URL_LENGTH  # noqa: PLC0415 - the limit under test

    secret = "s3cr3t-Planted-Value-0123456789"
    url = f"https://user:{secret}@api.example.com/v1/x?access_token={secret}&" + "a=b&" * MAX_URL_LENGTH
    out = redact_url(url)
    assert secret not in out
    assert out.startswith("https://user:sha256:")
    assert "api.example.com" in out
    assert "withheld" in out
    assert secret not in redact_text("see " + url + " and " + "https://" * MAX_URL_LENGTH)
