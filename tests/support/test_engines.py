"""The engine runner itself: nginx and HAProxy start on free loopback ports, answer, log, and stop by PID."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from support.engines import free_port, haproxy_cfg, nginx_conf, package_version, start_haproxy, start_nginx

pytestmark = pytest.mark.engine


def test_nginx_starts_answers_logs_and_stops(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "nginx"
    http = f"""
    access_log {folder}/logs/access.log combined;
    server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}"""
    with start_nginx(folder, nginx_conf(folder, http), [port]) as nginx:
        assert httpx.get(nginx.url("/ping")).status_code == 204
    assert nginx.process.poll() is not None
    assert '"GET /ping HTTP/1.1" 204' in nginx.lines("access")[0]
    assert package_version("nginx")[0].isdigit()


def test_haproxy_starts_answers_logs_and_stops(tmp_path: Path) -> None:
    port = free_port()
    body = f"frontend web\n    bind 127.0.0.1:{port}\n    http-request return status 200\n"
    with start_haproxy(tmp_path / "haproxy", haproxy_cfg(body), [port]) as haproxy:
        assert httpx.get(haproxy.url("/ping")).status_code == 200
    assert haproxy.process.poll() is not None
    assert any('"GET /ping HTTP/1.1"' in line for line in haproxy.lines("stdout"))
