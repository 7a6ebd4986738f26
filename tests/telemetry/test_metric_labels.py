"""Metric label values: low cardinality, and never a secret."""

from __future__ import annotations

import pytest

from upstreamkit.errors import ErrorKind
from upstreamkit.telemetry._shared import kind_label, method_label, reason_label, state_label, upstream_label

TOKEN = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


@pytest.mark.parametrize(
    ("upstream", "label"),
    [
        ("https://api.example.com:443", "https://api.example.com:443"),
        ("https://api.example.com", "https://api.example.com:443"),
        ("http://API.Example.com/v1/items", "http://api.example.com:80"),
        ("HTTPS://api.example.com:8443/x?y=1#frag", "https://api.example.com:8443"),
        (f"https://user:{TOKEN}@api.example.com/v1?access_token={TOKEN}", "https://api.example.com:443"),
        (f"https://{TOKEN}@api.example.com:444", "https://api.example.com:444"),
        ("http://[2001:db8::1]:8080/path", "http://[2001:db8::1]:8080"),
        ("redis://cache.internal:6379/0", "redis://cache.internal:6379"),
        ("grpc://svc.internal", "grpc://svc.internal"),
        ("billing.charge_card", "billing.charge_card"),  # the retry decorator names upstreams by callable
    ],
)
def test_upstream_label_is_scheme_host_port(upstream: str, label: str) -> None:
    assert upstream_label(upstream) == label


@pytest.mark.parametrize(
    "upstream",
    [
        f"Bearer {TOKEN}",
        f"https://api.example.com:notaport/?access_token={TOKEN}",
        f"call with token={TOKEN}",
        "x" * 50 + f" {TOKEN}" + "y" * 200,
    ],
)
def test_upstream_label_never_carries_a_token(upstream: str) -> None:
    label = upstream_label(upstream)
    assert TOKEN not in label
    assert len(label) <= 100


def test_method_label() -> None:
    assert method_label("get") == "GET"
    assert method_label("PATCH") == "PATCH"
    assert method_label("PROPFIND") == "OTHER"
    assert method_label(f"GET {TOKEN}") == "OTHER"


def test_kind_reason_and_state_labels() -> None:
    assert kind_label(ErrorKind.UPSTREAM_600) == "upstream_600"
    assert kind_label("rate_limited") == "rate_limited"
    assert kind_label("made_up") == "other"
    assert reason_label("rate_limited: Retry-After 2s") == "rate_limited"
    assert reason_label("upstream_outage: backoff") == "upstream_outage"
    assert reason_label(f"Bearer {TOKEN}") == "other"
    assert state_label("half_open") == "half_open"
    assert state_label("melted") == "other"
