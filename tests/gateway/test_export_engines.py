"""The exported configs on the real engines: ``nginx -t`` and ``haproxy -c`` accept every variant as it is,
and the JSON access log each engine writes is read by ``upstreamkit analyze`` as the gateway's own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from support.engines import binary, free_port, start_haproxy, start_nginx
from upstreamkit.cli.gateway_export import quick_settings
from upstreamkit.gateway.accesslog import FIELDS
from upstreamkit.gateway.configfile import load_config
from upstreamkit.gateway.export import render
from upstreamkit.simulator import Simulator

pytestmark = [pytest.mark.engine, pytest.mark.integration]

VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {},
    "rate-and-https": {"rate": 0.5, "burst": 3, "status_mode": "200"},
    "status-600-no-breaker": {"status_mode": "600", "breaker": False, "attempts": 1},
    "root-route": {"extra": ["/=http://127.0.0.1:9"]},
}


def _settings(variant: str, port: int, log: Path) -> object:
    options = dict(VARIANTS[variant])
    extra = options.pop("extra", [])
    assert isinstance(extra, list)
    routes = ["/pay=http://127.0.0.1:9/v1", "/pay/refunds=https://localhost:8443/r", *extra]
    return quick_settings(routes, port=port, access_log=str(log), **options)  # type: ignore[arg-type]


def _check(engine: str, config: Path) -> subprocess.CompletedProcess[str]:
    if engine == "nginx":
        argv = [binary("nginx"), "-t", "-p", str(config.parent), "-c", str(config)]
    else:
        argv = [binary("haproxy"), "-c", "-f", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_engine_accepts_the_exported_file(tmp_path: Path, engine: str, variant: str) -> None:
    settings = _settings(variant, free_port(), tmp_path / "access.log")
    config = tmp_path / f"{engine}.conf"
    config.write_text(render(settings, engine, runtime_dir=tmp_path), encoding="utf-8")  # type: ignore[arg-type]
    done = _check(engine, config)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_engine_accepts_the_example_config_file(tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_TOKEN", "planted-secret-payments")
    monkeypatch.setenv("LEDGER_CLIENT_SECRET", "planted-secret-ledger")
    settings = load_config(Path(__file__).parents[2] / "examples" / "gateway.toml")
    settings = replace(settings, access_log=str(tmp_path / "access.log"))
    config = tmp_path / f"{engine}.conf"
    config.write_text(render(settings, engine, runtime_dir=tmp_path), encoding="utf-8")
    assert "planted-secret" not in config.read_text()
    done = _check(engine, config)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_snippet_fits_in_an_existing_config(tmp_path: Path, engine: str) -> None:
    (tmp_path / "scratch").mkdir()
    settings = _settings("defaults", free_port(), tmp_path / "access.log")
    snippet = render(settings, engine, snippet=True)  # type: ignore[arg-type]
    assert not any(line.startswith(("global", "defaults", "events", "http {")) for line in snippet.splitlines())
    config = tmp_path / f"{engine}.conf"
    if engine == "nginx":
        (tmp_path / "upstreamkit.conf").write_text(snippet, encoding="utf-8")
        scratch = tmp_path / "scratch"
        config.write_text(
            f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
            f"    proxy_temp_path {scratch}/p; client_body_temp_path {scratch}/b;\n"
            f"    include {tmp_path}/upstreamkit.conf;\n}}\n",
            encoding="utf-8",
        )
    else:
        config.write_text("global\n    log stdout format raw local0\ndefaults\n    mode http\n" + snippet)
    done = _check(engine, config)
    assert done.returncode == 0, done.stdout + done.stderr


def _records(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_access_log_is_read_by_analyze(tmp_path: Path, engine: str) -> None:
    port = free_port()
    with Simulator("healthy") as sim:
        log = tmp_path / "logs" / "access.log"
        settings = quick_settings([f"/pay={sim.base_url}/v1"], port=port, access_log=str(log))
        config = render(settings, engine, runtime_dir=tmp_path)
        start = start_nginx if engine == "nginx" else start_haproxy
        with start(tmp_path, config, [port]) as running:
            assert httpx.get(running.url("/pay/orders"), headers={"X-Request-Id": "rid-1"}).status_code == 200
            assert httpx.get(running.url("/elsewhere")).status_code == 404
            written = log if engine == "nginx" else tmp_path / "stdout.log"
            # An engine writes a request's line once the exchange is over, just after the caller has its answer.
            for _ in range(100):
                if len(_records(written)) >= 2:
                    break
                time.sleep(0.05)  # bounded: 100 polls
    records = _records(written)
    assert len(records) == 2
    assert all(list(record) == list(FIELDS) for record in records)
    ok, missing = records
    assert ok["request_id"] == "rid-1"
    assert (ok["status"], ok["route"], ok["upstream"], ok["kind"]) == (200, "/pay", "pay", None)
    assert (missing["status"], missing["route"], missing["kind"]) == (404, None, "destination_not_found")
    for fmt in ("upstreamkit", "auto"):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "upstreamkit"), "analyze", str(written), "--format", fmt, "--json"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
        report = json.loads(done.stdout)
        assert report["parsed"] == 2, report
        assert report["formats"][0]["format"] == "upstreamkit"
