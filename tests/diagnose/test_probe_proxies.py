"""The proxies phase: which environment variables route this URL, agreeing with httpx itself."""

from __future__ import annotations

import pytest

from upstreamkit.diagnose.model import PhaseResult, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes import proxies

URL = "https://api.example.com/v1/orders"
_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


def _probe(url: str = URL, **results: PhaseResult) -> PhaseResult:
    ctx = ProbeContext(ProbeRequest(url), ProbeOptions())
    ctx.results.update(results)
    return proxies.probe(ctx)


def test_no_proxy_variables() -> None:
    result = _probe()
    assert result.status == "ok"
    assert result.detail == "direct: no proxy variables set"
    assert result.facts == {
        "proxy.url": None,
        "proxy.var": None,
        "proxy.applies": False,
        "proxy.bypassed_by": None,
        "proxy.vars": [],
    }


def test_https_proxy_applies_and_its_password_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://alice:hunter2-proxy-pw@proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://other.corp:8080")
    result = _probe()
    assert result.status == "warning"
    assert result.facts["proxy.applies"] is True
    assert result.facts["proxy.var"] == "HTTPS_PROXY"
    assert result.facts["proxy.url"].startswith("http://alice:sha256:")
    assert result.facts["proxy.url"].endswith("@proxy.corp:3128")
    assert "hunter2-proxy-pw" not in f"{result.facts} {result.detail} {result.lines}"
    assert _probe("http://api.example.com/").facts["proxy.var"] == "HTTP_PROXY"


def test_lower_case_wins_and_all_proxy_covers_every_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://all.corp:1080")
    assert _probe().facts["proxy.var"] == "ALL_PROXY"
    monkeypatch.setenv("https_proxy", "http://lower.corp:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://upper.corp:3128")
    facts = _probe().facts
    assert facts["proxy.url"] == "http://lower.corp:3128"
    assert facts["proxy.var"] == "https_proxy"


@pytest.mark.parametrize(
    ("no_proxy", "url", "entry"),
    [
        ("localhost,example.com", URL, "example.com"),
        (".example.com", URL, ".example.com"),
        ("10.0.0.1,127.0.0.1", "https://127.0.0.1:8443/x", "127.0.0.1"),
        ("::1", "https://[::1]:8443/x", "::1"),
        ("*", URL, "*"),
    ],
)
def test_no_proxy_entry_that_bypasses(monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, entry: str) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    result = _probe(url)
    assert result.facts["proxy.applies"] is False
    assert result.facts["proxy.bypassed_by"] == entry
    assert result.status == "ok"
    assert repr(entry) in result.detail


def test_no_proxy_suffix_does_not_match_a_longer_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".example.com,ample.com")
    assert _probe("https://example.com/").facts["proxy.applies"] is True  # ".example.com": subdomains only
    assert _probe("https://notexample.com/").facts["proxy.applies"] is True  # "ample.com" is not a suffix label


def test_a_proxy_with_failed_connection_phases_is_blamed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    result = _probe(http=PhaseResult("http", "failed", 1.0, "no response"))
    assert result.status == "failed"
    assert result.detail.startswith("the request goes through proxy http://proxy.corp:3128 (HTTPS_PROXY)")
    assert result.detail.endswith("http failed: check it")


def test_agrees_with_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx  # noqa: PLC0415 - the reference implementation, only for this comparison

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com,10.1.2.3")
    urls = ("https://api.example.com/", "https://internal.example.com/", "https://10.1.2.3/", "http://x.io/")
    with httpx.Client(trust_env=True) as client:
        by_httpx = [client._transport_for_url(httpx.URL(url)) is not client._transport for url in urls]
    assert by_httpx == [True, False, False, False]
    assert [proxies.match_proxy(url).applies for url in urls] == by_httpx
