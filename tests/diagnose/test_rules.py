"""The ranking: priors times rule weights, normalised; rules as reviewed data; evidence that names facts."""

from __future__ import annotations

import re

import pytest

from upstreamkit.diagnose.rules import parse_rules, rank, render_evidence, rules
from upstreamkit.errors import ErrorKind
from upstreamkit.knowledge import KnowledgeError, kind_info

EXPIRED = {
    "http.status": 401,
    "http.kind": "auth_expired",
    "http.explanation": "401 with WWW-Authenticate invalid_token: the access token expired",
    "jwt.expired": True,
    "jwt.exp_iso": "2026-11-24T10:00:00Z",
    "jwt.expires_in_s": -300.0,
    "jwt.iss": "https://login.example.com/",
    "www_auth.error": "invalid_token",
    "www_auth.description": "The access token expired",
    "cred.present": True,
    "cred.scheme": "Bearer",
    "cred.fingerprint": "sha256:0a1b2c3d",
}


def test_the_built_in_rules_load_and_name_known_kinds() -> None:
    loaded = rules()
    assert len(loaded) >= 30
    for rule in loaded:
        assert rule.kind is not None or rule.kind_from is not None
        if rule.kind is not None:
            assert kind_info(rule.kind).prior >= 0


def test_a_healthy_endpoint_has_no_causes() -> None:
    facts = {"dns.addresses": ["127.0.0.1"], "tcp.connected": ["127.0.0.1"], "http.status": 200, "http.kind": None}
    assert rank(facts) == []


def test_an_expired_token_ranks_auth_expired_first_with_the_expiry_in_the_evidence() -> None:
    causes = rank(EXPIRED)
    top = causes[0]
    assert top.kind is ErrorKind.AUTH_EXPIRED
    assert top.likelihood > 0.9
    assert any("2026-11-24T10:00:00Z" in line and "5 min ago" in line for line in top.evidence)
    assert top.fix == kind_info(ErrorKind.AUTH_EXPIRED).fixes[0].text
    assert top.effort in ("easy", "medium", "hard")
    assert all(0 < cause.likelihood <= 1 for cause in causes)
    assert sum(cause.likelihood for cause in causes) <= 1 + 1e-9


def test_likelihoods_follow_priors_times_weights() -> None:
    custom = parse_rules(
        """
        [[rule]]
        kind = "rate_limited"
        when = [{ fact = "a" }]
        weight = 10
        evidence = "a"

        [[rule]]
        kind = "auth_invalid"
        when = [{ fact = "b", is = 401 }]
        weight = 10
        evidence = "b={b}"
        """
    )
    causes = rank({"a": True, "b": 401}, custom)
    total = sum(info.prior for info in map(kind_info, ErrorKind))
    denominator = total + 9 * kind_info("rate_limited").prior + 9 * kind_info("auth_invalid").prior
    expected = {
        ErrorKind.RATE_LIMITED: 10 * kind_info("rate_limited").prior / denominator,
        ErrorKind.AUTH_INVALID: 10 * kind_info("auth_invalid").prior / denominator,
    }
    assert {cause.kind: pytest.approx(cause.likelihood) for cause in causes} == expected
    # The prior breaks the tie: rate limiting is likelier than a bad key before any evidence (0.20 vs 0.18).
    assert [cause.kind for cause in causes] == [ErrorKind.RATE_LIMITED, ErrorKind.AUTH_INVALID]
    assert causes[1].evidence == ("b=401",)


def test_corroborating_rules_alone_make_no_cause() -> None:
    custom = parse_rules(
        """
        [[rule]]
        kind = "tls_certificate_error"
        when = [{ fact = "tls.days_left", below = 14 }]
        weight = 5
        support = false
        evidence = "expires in {tls.days_left|days}"
        """
    )
    assert rank({"tls.days_left": 3.0}, custom) == []


def test_kind_from_reads_the_kind_from_a_fact_and_ignores_unknown_names() -> None:
    custom = parse_rules('[[rule]]\nkind_from = "k"\nwhen = [{ fact = "k" }]\nweight = 5\nevidence = "k={k}"\n')
    assert rank({"k": "upstream_600"}, custom)[0].kind is ErrorKind.UPSTREAM_600
    assert rank({"k": "not_a_kind"}, custom) == []


@pytest.mark.parametrize(
    ("condition", "facts", "holds"),
    [
        ('{ fact = "x", is = false }', {}, False),
        ('{ fact = "x", is = false }', {"x": False}, True),
        ('{ fact = "x", is = 1 }', {"x": True}, False),
        ('{ fact = "x", in = [502, 503] }', {"x": 503}, True),
        ('{ fact = "x", above = 0 }', {"x": True}, False),
        ('{ fact = "x", above = 0 }', {"x": 0.5}, True),
        ('{ fact = "x", below = 14 }', {"x": None}, False),
        ('{ fact = "x", matches = "expire" }', {"x": "The token EXPIRED"}, True),
        ('{ fact = "x", not_matches = "expire" }', {}, True),
        ('{ fact = "x", not_matches = "expire" }', {"x": "token expired"}, False),
        ('{ fact = "x", present = false }', {"x": []}, True),
        ('{ fact = "x" }', {"x": ["127.0.0.1"]}, True),
    ],
)
def test_conditions(condition: str, facts: dict[str, object], holds: bool) -> None:
    (rule,) = parse_rules(f'[[rule]]\nkind = "dns_error"\nwhen = [{condition}]\nweight = 2\nevidence = "e"\n')
    assert rule.holds(facts) is holds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nkind = "nope"\nwhen = [{ fact = "a" }]\nweight = 2\nevidence = "e"', "unknown kind 'nope'"),
        ('[[rule]]\nkind = "dns_error"\nwhen = [{ fact = "a" }]\nweight = 0\nevidence = "e"', "weight"),
        ('[[rule]]\nkind = "dns_error"\nwhen = []\nweight = 2\nevidence = "e"', "non-empty list"),
        ('[[rule]]\nkind = "dns_error"\nwhen = [{ fact = "a", near = 1 }]\nweight = 2\nevidence = "e"', "near"),
        ('[[rule]]\nkind = "dns_error"\nwhen = [{ fact = "a", matches = "(" }]\nweight = 2\nevidence = "e"', "regular"),
        ('[[rule]]\nkind = "dns_error"\nwhen = [{ fact = "a" }]\nweight = 2\nevidence = "{a|upper}"', "filter"),
        ('[[rule]]\nkind = "dns_error"\nkind_from = "a"\nwhen = [{ fact = "a" }]\nweight = 2\nevidence = "e"', "one"),
        ('[[rule]]\nkind = "dns_error"\nwhen = [{ fact = "a" }]\nweight = 2\nevidence = "e"\nwieght = 3', "wieght"),
        ("[[rule]\n", "rules.toml"),
    ],
)
def test_a_malformed_rule_is_named(text: str, message: str) -> None:
    with pytest.raises(KnowledgeError, match=re.escape(message)):
        parse_rules(text)


def test_evidence_filters_and_redaction() -> None:
    facts = {"ago": -7200.0, "soon": 90.0, "list": ["a", None], "days": -1.0, "token": "Bearer abcdefghijklmnop123"}
    assert render_evidence("{ago|ago} {soon|ago} {list|join} {days|days} {missing}", facts) == (
        "2.0 h ago in 2 min a, ? 1.0 day ago ?"
    )
    assert render_evidence("after {soon|ms}", facts) == "after 90 ms"
    assert "abcdefghijklmnop123" not in render_evidence("sent {token}", facts)
