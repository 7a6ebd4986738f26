"""``upstreamkit explain`` and ``--version``: what a person and a script see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit import __version__
from upstreamkit.cli.app import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"upstreamkit {__version__}"


def test_help_explains() -> None:
    result = runner.invoke(app, ["explain", "--help"])
    assert result.exit_code == 0
    for option in ("--status", "--header", "--body-file", "--response", "--json"):
        assert option in result.output


def test_the_issue_example_names_the_kind_explains_and_lists_fixes() -> None:
    result = runner.invoke(app, ["explain", "--status", "200", "--body", '{"code": 600, "error": "gateway_timeout"}'])
    assert result.exit_code == 0, result.output
    assert "http_response_timeout" in result.output
    assert "error 600" in result.output
    assert "fixes" in result.output
    assert "gateway" in result.output.lower()


def test_json_gives_the_same_as_json() -> None:
    result = runner.invoke(
        app, ["explain", "--status", "200", "--body", '{"code": 600, "error": "gateway_timeout"}', "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "http_response_timeout"
    assert data["is_600"] is True
    assert data["retryable"] is True
    assert data["title"] == "Gateway timeout"
    assert data["meaning"]
    assert [fix["rank"] for fix in data["fixes"]] == list(range(1, len(data["fixes"]) + 1))
    assert all(fix["effort"] in {"easy", "medium", "hard"} for fix in data["fixes"])


def test_headers_are_read() -> None:
    result = runner.invoke(
        app,
        [
            "explain", "-s", "401", "-H",
            'WWW-Authenticate: Bearer error="invalid_token", error_description="The access token expired"', "--json",
        ],
    )  # fmt: skip
    assert json.loads(result.output)["kind"] == "auth_expired"


def test_raw_response_file(tmp_path: Path) -> None:
    raw = tmp_path / "resp.txt"
    raw.write_bytes(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 17\r\nContent-Type: application/json\r\n\r\n"
        b'{"error": "rate_limited"}'
    )
    result = runner.invoke(app, ["explain", "--response", str(raw), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "rate_limited"
    assert data["retry_after"] == 17


def test_body_file_and_stdin(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"status": 600}')
    assert (
        json.loads(runner.invoke(app, ["explain", "-s", "200", "--body-file", str(body), "--json"]).output)["kind"]
        == "upstream_600"
    )
    result = runner.invoke(app, ["explain", "-s", "200", "--body-file", "-", "--json"], input='{"code": 600}')
    assert json.loads(result.output)["kind"] == "upstream_600"


def test_a_success_is_not_a_failure() -> None:
    result = runner.invoke(app, ["explain", "-s", "200", "--body", '{"ok": true}', "--json"])
    data = json.loads(result.output)
    assert data["ok"] is True
    assert data["kind"] is None
    assert data["fixes"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain"], "give --status"),
        (["explain", "-s", "abc"], "not a number"),
        (["explain", "-s", "1000"], "outside 100..999"),
        (["explain", "-s", "500", "-H", "no colon here"], "Name: value"),
        (["explain", "-s", "500", "--body", "x", "--body-file", "y"], "not both"),
        (["explain", "-s", "500", "--body-file", "/nonexistent/body.json"], "cannot read body file"),
        (["explain", "--response", "/nonexistent/resp.txt"], "cannot read response file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_response_file_without_status_line(tmp_path: Path) -> None:
    raw = tmp_path / "resp.txt"
    raw.write_text("Content-Type: text/plain\n\nhello")
    result = runner.invoke(app, ["explain", "--response", str(raw)])
    assert result.exit_code == 2
    assert "status line" in result.output


def test_demo_explains_every_sample() -> None:
    result = runner.invoke(app, ["demo", "--samples", "--summary"])
    assert result.exit_code == 0, result.output
    for kind in ("http_response_timeout", "auth_expired", "rate_limited", "upstream_600", "payload_rejected"):
        assert kind in result.output
