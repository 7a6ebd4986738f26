"""``diagnose`` against the proxies' captured pages, replayed byte for byte by a loopback server.

The replay server answers ``GET /<proxy-dir>/<case>`` with that fixture's raw bytes and closes, so diagnose
probes a real socket that fails exactly as the proxy did. Its first cause must be the kind the fixture's
sidecar expects. Fixtures that cannot be replayed as received are left to test_proxy_fixtures.py: curl
decoded their chunked bodies, cut them short (the truncated 200s), or they have no status line (HTTP/0.9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import CannedServer, request_path

from upstreamkit.diagnose import ProbeOptions, ProbeRequest, diagnose

FIXTURES = Path(__file__).parent / "fixtures" / "proxies"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

# diagnose's rules (knowledge/rules.toml) weigh "HTTP 500/502/503" (upstream_outage x20) above a vendor
# signature that names a narrower cause (its kind x25 x2, on a smaller prior), so these pages rank
# upstream_outage first and their own kind second. The fix proposed in the proxies branch's report:
# the 500/502/503 rule applies only when no signature named a producer (http.producer absent).


def replayable(raw: bytes, case: str) -> bool:
    return (
        raw.startswith(b"HTTP/")
        and b"transfer-encoding: chunked" not in raw.lower()
        and case
        not in {
            "reset-mid-body",
            "truncated-body",
        }
    )


SIDECARS = [
    path
    for path in sorted(FIXTURES.glob("*-*/*.json"))
    if replayable(path.with_suffix(".http").read_bytes(), path.stem)
]


@pytest.fixture(scope="module")
def replay() -> Iterator[CannedServer]:
    pages = {f"/{path.parent.name}/{path.stem}": path.with_suffix(".http").read_bytes() for path in SIDECARS}
    with CannedServer(lambda head: pages.get(request_path(head), _NOT_FOUND)) as server:
        yield server


def _params() -> list[object]:
    return [
        pytest.param(
            path,
            id=f"{path.parent.name}/{path.stem}",
        )
        for path in SIDECARS
    ]


def test_most_captures_are_replayable() -> None:
    assert len(SIDECARS) >= 40


@pytest.mark.parametrize("sidecar", _params())
def test_diagnose_ranks_the_pages_kind_first(sidecar: Path, replay: CannedServer) -> None:
    expected = json.loads(sidecar.read_text(encoding="utf-8"))["expected"]
    url = f"http://127.0.0.1:{replay.port}/{sidecar.parent.name}/{sidecar.stem}"
    report = diagnose(ProbeRequest(url), ProbeOptions(timeout=2.0))
    if expected["kind"] is None:  # the proxy let it through: what the client got is a success
        assert not report.causes
        return
    assert report.causes, "a failing page diagnosed as healthy"
    assert report.causes[0].kind.value == expected["kind"], [cause.kind.value for cause in report.causes]
