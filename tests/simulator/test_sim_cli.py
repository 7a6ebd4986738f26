"""``upstreamkit simulate`` argument handling: help, and one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from upstreamkit.cli import simulate

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(simulate.simulate)
    return app


def test_help_explains_the_options() -> None:
    result = runner.invoke(_app(), ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    options = ("--scenario", "--port", "--host", "--tls", "--seed", "--time-scale", "--list")
    for option in (*options, "--header-timeout", "--idle-timeout"):
        assert option in result.output


def test_list_names_every_builtin() -> None:
    result = runner.invoke(_app(), ["--list"])
    assert result.exit_code == 0
    for name in ("healthy", "incident", "status-600", "tls-untrusted"):
        assert name in result.output


def test_unknown_scenario_lists_the_valid_names() -> None:
    result = runner.invoke(_app(), ["--scenario", "outgae"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown scenario 'outgae'; valid names: ")
    assert "outage" in result.stderr
    assert "Traceback" not in result.output


def test_malformed_scenario_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[phases]]\nname = "p1"\nstrat = 0\n')
    result = runner.invoke(_app(), ["--scenario", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert str(path) in result.stderr
    assert "phase 'p1'" in result.stderr
    assert "unknown key 'strat'" in result.stderr
    assert "start" in result.stderr


def test_unknown_tls_variant() -> None:
    result = runner.invoke(_app(), ["--tls", "expird"])
    assert result.exit_code == 2
    assert "valid: valid, expired, not-yet-valid, hostname-mismatch, self-signed" in result.stderr


def test_status_line_counts() -> None:
    line = simulate.status_line(
        {
            "phase": "outage",
            "requests": 3,
            "by_status": {"503": 2, "none": 1},
            "by_fault": {"outage": 2, "reset": 1},
            "connections": 1,
        }
    )
    assert "phase outage" in line
    assert "5xx:2" in line
    assert "no response:1" in line
    assert "outage:2" in line


def test_timeouts_must_be_positive_and_finite() -> None:
    for arguments in (["--header-timeout", "0"], ["--idle-timeout", "inf"], ["--idle-timeout", "-1"]):
        result = runner.invoke(_app(), arguments)
        assert result.exit_code == 2, arguments
        assert result.stderr.count("\n") == 1
        assert "must be a positive finite number" in result.stderr
        assert "Traceback" not in result.output
