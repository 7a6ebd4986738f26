"""What real proxies sent when the upstream failed (tests/knowledge/fixtures/proxies) is recognised.

Each fixture is a raw response as ``curl -si`` received it from nginx, HAProxy, Apache httpd or Caddy put
in front of the simulator (``capture.py`` made them; no proxy runs here). Its sidecar says which upstream
condition produced it and what the page can honestly support: the kind, and the producer the page names
(None when the upstream's own answer passed through). Both ``classify`` and ``explain --response --json``
must agree with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from upstreamkit import classify
from upstreamkit.cli.app import app

FIXTURES = Path(__file__).parent / "fixtures" / "proxies"
SIDECARS = sorted(FIXTURES.glob("*-*/*.json"))
PROXIES = {"nginx", "haproxy", "apache", "caddy"}
# Every proxy was asked these; the rate-limit case only where the proxy has a rate limiter of its own.
COMMON_CASES = {
    "refused",
    "dns-nxdomain",
    "timeout",
    "reset-before-headers",
    "close-before-headers",
    "reset-mid-body",
    "truncated-body",
    "tls-expired",
    "tls-untrusted",
    "tls-hostname-mismatch",
    "tls-plain-port",
    "garbage-response",
    "upstream-502",
    "upstream-600",
}
TRUNCATED = {"reset-mid-body", "truncated-body"}
PROXY_PRODUCERS = {"nginx": "nginx", "haproxy": "HAProxy", "apache": "Apache httpd", "caddy": "Caddy"}
# A 200 whose body is shorter than its Content-Length is incomplete; an EMPTY one is also what a HEAD request
# gets, so classify (which does not know the method) leaves it alone: nginx sends no body bytes at all.
_TRUNCATION_GAP = pytest.mark.xfail(
    strict=True, reason="an empty body under a Content-Length is also a HEAD response: classify cannot tell"
)
_EMPTY_TRUNCATIONS = {("nginx-1.22.1", "reset-mid-body")}


@dataclass(frozen=True, slots=True)
class Captured:
    """One fixture: the sidecar's facts and the raw response, split by hand (no project parser involved)."""

    meta: dict[str, Any]
    raw: bytes
    status: int | None  # None: no status line at all (an HTTP/0.9 answer)
    headers: list[tuple[str, str]]
    body: bytes


def load(sidecar: Path) -> Captured:
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    raw = sidecar.with_suffix(".http").read_bytes()
    if not raw.startswith(b"HTTP/"):
        return Captured(meta, raw, None, [], raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])]
    return Captured(meta, raw, status, headers, body)


def http09(sidecar: Path) -> bool:
    return not sidecar.with_suffix(".http").read_bytes().startswith(b"HTTP/")


def cases() -> list[Any]:
    """The fixtures with a status line; the HTTP/0.9 ones have tests of their own below."""
    return [
        pytest.param(
            path,
            id=f"{path.parent.name}/{path.stem}",
            marks=[_TRUNCATION_GAP] if (path.parent.name, path.stem) in _EMPTY_TRUNCATIONS else [],
        )
        for path in SIDECARS
        if not http09(path)
    ]


def test_every_proxy_was_captured_for_every_case() -> None:
    found: dict[str, set[str]] = {}
    for sidecar in SIDECARS:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        found.setdefault(meta["proxy"], set()).add(meta["case"])
        assert sidecar.with_suffix(".http").is_file(), sidecar
        version = re.search(r"\d+\.\d+\.\d+", meta["version"])
        assert version is not None
        assert sidecar.parent.name == f"{meta['proxy']}-{version.group(0)}"
    assert set(found) == PROXIES
    for proxy, seen in found.items():
        assert seen >= COMMON_CASES, (proxy, COMMON_CASES - seen)
    assert {"nginx", "haproxy"} <= {proxy for proxy, seen in found.items() if "limit-req" in seen}


@pytest.mark.parametrize("sidecar", SIDECARS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_sidecar_holds_the_evidence(sidecar: Path) -> None:
    captured = load(sidecar)
    meta = captured.meta
    assert meta["upstream"]
    assert meta["condition_kind"]
    assert "PORT" in meta["command"]
    if meta["expected"]["producer"] == PROXY_PRODUCERS[meta["proxy"]]:
        # The proxy made this page itself, so it said why in its own log.
        assert meta["error_log"], "a proxy-made page without the proxy's error-log line"
    if meta["case"] in TRUNCATED:
        # What makes these incomplete is in the bytes: fewer body bytes than Content-Length, and curl said so.
        length = int({k.lower(): v for k, v in captured.headers}["content-length"])
        assert len(captured.body) < length
        assert meta["curl_exit"] == 18  # CURLE_PARTIAL_FILE
    elif captured.status is None:
        assert "HTTP/0.9" in meta["note"]
    else:
        assert meta["curl_exit"] == 0


@pytest.mark.parametrize("sidecar", cases())
def test_classify_recognises_what_the_proxy_sent(sidecar: Path) -> None:
    captured = load(sidecar)
    expected = captured.meta["expected"]
    assert captured.status is not None
    outcome = classify(captured.status, captured.headers, captured.body)
    assert (outcome.kind.value if outcome.kind else None) == expected["kind"], outcome.explanation
    assert outcome.producer == expected["producer"], outcome.signature


@pytest.mark.parametrize("sidecar", cases())
def test_explain_reads_the_raw_capture(sidecar: Path) -> None:
    expected = json.loads(sidecar.read_text(encoding="utf-8"))["expected"]
    result = CliRunner().invoke(app, ["explain", "--response", str(sidecar.with_suffix(".http")), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == expected["kind"]
    assert data["producer"] == expected["producer"]


def test_a_proxy_that_passes_the_upstream_502_on_is_not_blamed() -> None:
    # Every proxy adds or keeps its own Server header on the upstream's 502; the body is the upstream's.
    for sidecar in FIXTURES.glob("*-*/upstream-502.json"):
        captured = load(sidecar)
        assert b"bad_gateway" in captured.body
        assert classify(captured.status, captured.headers, captured.body).producer is None


HTTP09 = [path for path in SIDECARS if http09(path)]


@pytest.mark.parametrize("sidecar", HTTP09, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_an_http09_relay_is_the_upstream_bytes_bare(sidecar: Path) -> None:
    # nginx passes an answer without a status line on as HTTP/0.9: the client gets the upstream's bytes alone,
    # which read as the upstream's own (here an SSH banner) once given a status, as Apache gives it 200.
    captured = load(sidecar)
    assert captured.status is None
    outcome = classify(200, {}, captured.raw)
    assert outcome.kind is not None
    expected = captured.meta["expected"]
    assert (outcome.kind.value, outcome.producer) == (expected["kind"], expected["producer"])


@pytest.mark.parametrize("sidecar", HTTP09, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_explain_refuses_an_http09_relay_as_a_usage_error(sidecar: Path) -> None:
    """A capture without a status line (nginx relaying a non-HTTP upstream as HTTP/0.9) is not a response
    file: explain says so in one line (exit 2); diagnose, which sees it live, calls it http_protocol_error."""
    result = CliRunner().invoke(app, ["explain", "--response", str(sidecar.with_suffix(".http")), "--json"])
    assert result.exit_code == 2
    assert "status line" in result.output
