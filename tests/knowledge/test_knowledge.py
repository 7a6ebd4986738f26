"""The knowledge base: complete for every kind, every signature valid and sourced."""

from __future__ import annotations

import re
from typing import Any

import pytest

from upstreamkit import ErrorKind
from upstreamkit.knowledge import KnowledgeError, kind_info, load_signatures, match_signature, signatures


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_has_meaning_and_fixes(kind: ErrorKind) -> None:
    info = kind_info(kind)
    assert info.title
    assert info.meaning.endswith(".")
    assert info.fixes
    assert 0.0 <= info.prior <= 1.0


def test_priors_follow_the_design_order() -> None:
    # Expired or invalid tokens and throttling most likely, outages medium, DNS or gateway config least.
    token = max(kind_info("auth_expired").prior, kind_info("auth_invalid").prior)
    assert min(kind_info("auth_expired").prior, kind_info("rate_limited").prior) > kind_info("upstream_outage").prior
    assert kind_info("upstream_outage").prior > kind_info("dns_error").prior
    assert kind_info("upstream_outage").prior > kind_info("proxy_configuration_error").prior
    assert token > kind_info("upstream_outage").prior


def test_signatures_are_valid_sourced_and_unique() -> None:
    loaded = signatures()
    assert len(loaded) >= 40
    assert len({s.id for s in loaded}) == len(loaded)
    for signature in loaded:
        assert re.match(r"https?://|DESIGN\.md", signature.source), signature.id
        assert signature.specificity >= 1
        assert signature.explanation


def test_signatures_are_ordered_most_specific_first() -> None:
    specificity = [s.specificity for s in signatures()]
    assert specificity == sorted(specificity, reverse=True)


def test_match_prefers_the_more_specific_signature() -> None:
    loaded = load_signatures(
        """
[[signature]]
id = "generic-502"
producer = "Any"
hop = "gateway"
kind = "upstream_outage"
status = [502]
explanation = "A 502."
source = "https://example.org/a"

[[signature]]
id = "vendor-502"
producer = "Vendor"
hop = "gateway"
kind = "connection_refused"
status = [502]
headers = { server = "^vendor" }
explanation = "Vendor refused."
source = "https://example.org/b"
"""
    )
    ordered = sorted(loaded, key=lambda s: -s.specificity)
    assert match_signature(502, {"server": "vendor/1.0"}, "", ordered).id == "vendor-502"  # type: ignore[union-attr]
    assert match_signature(502, {"server": "other"}, "", ordered).id == "generic-502"  # type: ignore[union-attr]
    assert match_signature(503, {}, "", ordered) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[signature]]\nid = "x"\n', "producer"),
        (
            '[[signature]]\nid="x"\nproducer="p"\nhop="gateway"\nkind="nope"\nexplanation="e"\nsource="s"\nstatus=[500]',
            "nope",
        ),
        (
            '[[signature]]\nid="x"\nproducer="p"\nhop="gateway"\nkind="dns_error"\nexplanation="e"\nsource="s"',
            "at least",
        ),
        (
            '[[signature]]\nid="x"\nproducer="p"\nhop="gateway"\nkind="dns_error"\nexplanation="e"\nsource="s"\nbody="("',
            "signature x",
        ),
        ("this is = not toml [", "signatures.toml"),
    ],
)
def test_malformed_signatures_are_named(text: str, message: str) -> None:
    with pytest.raises(KnowledgeError, match=re.escape(message)):
        load_signatures(text)


# A gap that may span anything: ".*", ".+", "[\s\S]*", or a negated class, repeated without bound.
_GAP = re.compile(r"(?<!\\)\.[*+]|\[\\s\\S\][*+]|\[\^[^\]]*\][*+]")
_LINEAR_FORMS = (r"\A(?>[\s\S]*?", r"\A(?=[\s\S]*?")


@pytest.mark.parametrize("signature", [s for s in signatures() if s.body is not None], ids=lambda s: s.id)
def test_body_patterns_stay_linear(signature: Any) -> None:
    # "A.*B" searched over a body of repeated A's retries the gap from every A: quadratic (12 s for one 64 KB
    # body). Anchored at \A with the first A atomic, or as lookaheads, the engine scans the body once.
    pattern = signature.body.pattern
    if _GAP.search(pattern):
        assert pattern.startswith(_LINEAR_FORMS), pattern


@pytest.mark.parametrize(
    ("status", "body", "signature_id"),
    [
        # The any-order and first-then rewrites keep what the old "A.*B|B.*A" patterns matched.
        (200, '{"code": 600, "msg": "network disconnected"}', "minapp-600-network-disconnected"),
        (200, '{"msg": "network disconnected", "code": 600}', "minapp-600-network-disconnected"),
        (200, '{"errMsg": "request timeout", "code": 601}', "minapp-601-request-timeout"),
        (403, '{"message": "internal network error", "code": 40333}', "discord-cloudflare-block-40333"),
        (403, '{"code": 40333, "message": "internal network error"}', "discord-cloudflare-block-40333"),
        (502, "<html><h1>502 Bad Gateway</h1>\n<hr><center>nginx/1.22.1</center>", "nginx-502"),
        (200, '{"error": "upstream_error", "code": 600}', "upstreamkit-envelope-600"),
    ],
)
def test_rewritten_patterns_match_either_order(status: int, body: str, signature_id: str) -> None:
    found = match_signature(status, {}, body, [s for s in signatures() if s.id == signature_id])
    assert found is not None
    assert found.id == signature_id


_RESPONSES = [
    ({}, ""),
    ({"retry-after": "1"}, '{"error": "too many requests"}'),
    ({"server": "cloudflare", "cf-ray": "8a1b2c3d4e5f6a7b-AMS"}, "error code: 1020"),
    ({"server": "nginx"}, "<html><head><title>502 Bad Gateway</title></head></html>"),
    ({"content-type": "application/json"}, '{"ok": false, "error": "token_expired"}'),
    ({"x-amzn-errortype": "ThrottlingException"}, '{"message": "Rate exceeded"}'),
    ({"proxy-status": "envoy; error=connection_timeout"}, "upstream connect error or disconnect/reset before headers"),
    ({"www-authenticate": 'Bearer error="invalid_token"'}, '{"code": 600, "error": "upstream_error"}'),
]


@pytest.mark.parametrize(("headers", "body"), _RESPONSES)
def test_the_status_index_finds_what_a_scan_of_every_signature_finds(headers: dict[str, str], body: str) -> None:
    """match_signature tries only the signatures that can match the status: the same answer as trying them all."""
    every = signatures()
    for status in [None, 0, *range(100, 1000), 1234]:
        assert match_signature(status, headers, body) is match_signature(status, headers, body, every), status
