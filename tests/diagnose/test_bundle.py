"""The support bundle: its members, naming, refusal to overwrite, atomic write, the environment it carries; and
a pasted curl command diagnosed on loopback, whose secrets reach no output."""

from __future__ import annotations

import json
import platform
import socket
import ssl
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from upstreamkit import __version__
from upstreamkit.core.redact import fingerprint
from upstreamkit.diagnose import ProbeOptions, diagnose
from upstreamkit.diagnose.bundle import MEMBERS, bundle_name, write_bundle
from upstreamkit.diagnose.environment import collect_environment
from upstreamkit.diagnose.inputs import parse_curl
from upstreamkit.diagnose.model import Cause, Exchange, PhaseResult, Report
from upstreamkit.diagnose.report import render, report_to_json, report_to_markdown
from upstreamkit.errors import ErrorKind
from upstreamkit.simulator import Simulator

STARTED = 1718006401.25  # 2024-06-10T08:00:01.250Z
PROXY_PASSWORD = "pr0xy-Pl4nt3dP4ssw0rd"
ENVIRONMENT = {"python": {"version": "3.11.9"}, "proxy": {"variables": {}}}


def report(exchanges: int = 2) -> Report:
    sent = [
        Exchange(
            method="GET",
            url="https://api.test/v1/items?page=2",
            request_headers=[("Accept", "application/json")],
            request_body=None,
            status=429 if n == 0 else 200,
            http_version="HTTP/1.1",
            response_headers=[("Retry-After", "30"), ("X-Request-Id", f"req-{n}")],
            response_body=b'{"error": "rate_limited"}' if n == 0 else b"[]",
            started=STARTED + n,
            ttfb_ms=10.0 + n,
            total_ms=12.0 + n,
        )
        for n in range(exchanges)
    ]
    return Report(
        url="https://api.test/v1/items?page=2",
        method="GET",
        started=STARTED,
        phases=[PhaseResult("dns", "ok", 0.8, "127.0.0.1"), PhaseResult("http", "failed", 22.0, "429 Too Many")],
        causes=[Cause(ErrorKind.RATE_LIMITED, 0.9, ("Retry-After: 30 (30 s)",), "wait 30 s", "easy")],
        exchanges=sent,
        checklist=["resolved api.test: 127.0.0.1", "GET https://api.test/v1/items?page=2: 429, then 200"],
        request_id="req-0",
        total_ms=25.0,
    )


def members(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def test_members_and_their_contents(tmp_path: Path) -> None:
    written = write_bundle(tmp_path / "ticket.zip", report(), environment=ENVIRONMENT)
    assert written == tmp_path / "ticket.zip"
    files = members(written)
    assert tuple(files) == MEMBERS
    document = json.loads(files["report.json"])
    assert document["url"] == "https://api.test/v1/items?page=2"
    assert document["causes"][0]["kind"] == "rate_limited"
    assert json.loads(files["environment.json"]) == ENVIRONMENT
    timings = json.loads(files["timings.json"])
    assert timings["total_ms"] == 25.0
    assert timings["phases"] == [
        {"name": "dns", "status": "ok", "ms": 0.8},
        {"name": "http", "status": "failed", "ms": 22.0},
    ]
    assert [(e["index"], e["status"], e["ttfb_ms"], e["total_ms"]) for e in timings["exchanges"]] == [
        (0, 429, 10.0, 12.0),
        (1, 200, 11.0, 13.0),
    ]
    request = files["request.txt"]
    assert request.startswith(
        "# exchange 1 of 2\nGET https://api.test/v1/items?page=2 HTTP/1.1\nAccept: application/json"
    )
    assert request.count("\n---\n") == 1
    response = files["response.txt"]
    assert (
        'HTTP/1.1 429 Too Many Requests\nRetry-After: 30\nX-Request-Id: req-0\n\n{"error": "rate_limited"}' in response
    )
    assert "# exchange 2 of 2\nHTTP/1.1 200 OK" in response
    assert files["checklist.md"].startswith("# Checklist")
    assert "1. resolved api.test: 127.0.0.1" in files["checklist.md"]
    assert "## Phases" in files["report.md"]
    readme = files["README.txt"]
    assert "sha256 fingerprints" in readme
    assert "GET https://api.test/v1/items?page=2" in readme
    assert "2024-06-10T08:00:01.250Z" in readme
    assert __version__ in readme


def test_no_exchange_says_so(tmp_path: Path) -> None:
    files = members(write_bundle(tmp_path / "b.zip", report(exchanges=0), environment=ENVIRONMENT))
    assert files["request.txt"].startswith("(no HTTP exchange was made")
    assert json.loads(files["timings.json"])["exchanges"] == []


def test_directory_targets_get_a_timestamped_name(tmp_path: Path) -> None:
    name = "upstreamkit-diagnose-20240610T080001Z.zip"
    assert bundle_name(STARTED) == name
    assert write_bundle(tmp_path, report(), environment=ENVIRONMENT) == tmp_path / name
    assert write_bundle(f"{tmp_path}/slash/", report(), environment=ENVIRONMENT) == tmp_path / "slash" / name
    assert write_bundle(tmp_path / "no-suffix", report(), environment=ENVIRONMENT) == tmp_path / "no-suffix" / name
    assert (tmp_path / "slash" / name).is_file()
    (tmp_path / "plain-file").write_bytes(b"x")  # an existing file without a suffix is a file, not a directory
    with pytest.raises(FileExistsError, match="plain-file already exists"):
        write_bundle(tmp_path / "plain-file", report(), environment=ENVIRONMENT)


def test_parents_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "ticket.zip"
    assert write_bundle(target, report(), environment=ENVIRONMENT) == target
    assert zipfile.is_zipfile(target)


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "ticket.zip"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists") as caught:
        write_bundle(target, report(), environment=ENVIRONMENT)
    assert caught.value.strerror is not None
    assert "ticket.zip already exists" in caught.value.strerror
    assert target.read_bytes() == b"precious"
    assert write_bundle(target, report(), environment=ENVIRONMENT, overwrite=True) == target
    assert zipfile.is_zipfile(target)
    write_bundle(tmp_path, report(), environment=ENVIRONMENT)
    with pytest.raises(FileExistsError):
        write_bundle(tmp_path, report(), environment=ENVIRONMENT)  # same start second, same name


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_bundle(tmp_path / "t.zip", report(), environment=ENVIRONMENT)
    write_bundle(tmp_path / "t.zip", report(), environment=ENVIRONMENT, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.zip"]
    assert (tmp_path / "t.zip").stat().st_mode & 0o077 == 0  # owner only


def test_default_environment_is_collected_and_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://ops:{PROXY_PASSWORD}@proxy.corp.test:3128")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1,.internal.test")
    files = members(write_bundle(tmp_path / "env.zip", report()))
    everything = "".join(files.values())
    assert PROXY_PASSWORD not in everything
    environment = json.loads(files["environment.json"])
    proxy = environment["proxy"]
    assert proxy["variables"]["HTTPS_PROXY"] == f"http://ops:{fingerprint(PROXY_PASSWORD)}@proxy.corp.test:3128"
    assert proxy["variables"]["no_proxy"] == "localhost,127.0.0.1,.internal.test"
    assert proxy["applies"] is True
    assert proxy["via"] == f"http://ops:{fingerprint(PROXY_PASSWORD)}@proxy.corp.test:3128"
    assert proxy["from_variable"] == "HTTPS_PROXY"


def test_collect_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"ops:{PROXY_PASSWORD}@proxy.corp.test:8080")
    environment = collect_environment("https://u:pw-in-url@api.test/x?token=t0k3n-in-url")
    text = json.dumps(environment)
    assert PROXY_PASSWORD not in text
    assert "pw-in-url" not in text
    assert "t0k3n-in-url" not in text
    assert environment["proxy"]["variables"]["http_proxy"] == f"ops:{fingerprint(PROXY_PASSWORD)}@proxy.corp.test:8080"
    assert environment["proxy"]["applies"] is False  # an https URL does not take http_proxy
    assert environment["upstreamkit"] == __version__
    assert environment["python"]["version"] == platform.python_version()
    assert environment["python"]["implementation"] == platform.python_implementation()
    assert environment["openssl"] == ssl.OPENSSL_VERSION
    assert environment["os"]["system"] == platform.system()
    packages = environment["packages"]
    for name in ("httpx", "httpcore", "h11", "certifi", "cryptography", "dnspython", "PyJWT"):
        assert packages[name], name
    assert environment["time"]["utc"].endswith("Z")
    assert isinstance(environment["time"]["utc_offset_seconds"], int)
    assert environment["time"]["monotonic"] > 0
    hostname = socket.gethostname()
    assert len(hostname) < 4 or hostname not in text  # the machine's name stays out


def test_pasted_curl_diagnosed_on_loopback_leaks_nothing(
    simulator_factory: Callable[..., Simulator], tmp_path: Path
) -> None:
    """End to end: a Chrome-style paste with planted secrets, a real diagnosis, every output and bundle file."""
    sim = simulator_factory("expired-token")
    token = sim.issue_token(lifetime=-60.0)  # a real JWT the simulator signed, already expired
    signature = token.rsplit(".", 1)[1]
    planted = {
        "api_key": "xk-Pl4nt3dE2eAp1K3y",
        "cookie": "sess_Pl4nt3dE2eC00k13",
        "password": "hunter2-Pl4nt3dE2e",
        "query": "qk_Pl4nt3dE2eQu3ry",
        "stripe": "sk_live_Pl4nt3dE2eStr1pe0123",
    }
    command = (
        f"curl '{sim.url('/v1/orders')}?api_key={planted['query']}' \\\n"
        f"  -H 'authorization: Bearer {token}' \\\n"
        f"  -H 'x-api-key: {planted['api_key']}' \\\n"
        f"  -H 'x-debug: {planted['stripe']}' \\\n"
        f"  -b 'session={planted['cookie']}' \\\n"
        f"  -H 'content-type: application/json' \\\n"
        f'  --data-raw $\'{{"password":"{planted["password"]}","note":"it\\\'s urgent"}}\''
    )
    parsed = parse_curl(command)
    result = diagnose(parsed.request, parsed.apply(ProbeOptions(timeout=2.0)))
    assert result.exchanges, "the request was sent"
    console = Console(record=True, width=2000, color_system=None)
    render(result, console)
    texts = {
        "json": json.dumps(report_to_json(result)),
        "markdown": report_to_markdown(result),
        "terminal": console.export_text(),
        **{f"bundle:{k}": v for k, v in members(write_bundle(tmp_path / "e2e.zip", result)).items()},
    }
    for where, text in texts.items():
        for secret in (*planted.values(), signature):
            assert secret not in text, f"{secret[:10]}... leaked in {where}"
    assert fingerprint(planted["api_key"]) in texts["bundle:request.txt"]
    assert fingerprint(planted["password"]) in texts["bundle:request.txt"]
    assert "HTTP/1.1 401" in texts["bundle:response.txt"]
