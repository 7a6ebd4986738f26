"""How every command ends when something goes wrong: the root command alone shows the help, an internal error
is one line and exit code 3 (the traceback only when UPSTREAMKIT_DEBUG asks for it), never a raw traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from upstreamkit.cli import explain as explain_module
from upstreamkit.cli.app import app
from upstreamkit.core.classify import Outcome

SECRET = "sk_live_PLANTEDinternal0123456789abc"


def test_no_command_prints_the_help_and_exits_2() -> None:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert "diagnose" in result.stdout
    assert "explain" in result.stdout
    assert result.stderr == ""


def _broken_classify(*args: object, **kwargs: object) -> Outcome:
    raise RuntimeError(f"classifier bug near token {SECRET}\nsecond line")


def test_an_internal_error_is_one_redacted_line_and_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explain_module, "classify", _broken_classify)
    monkeypatch.delenv("UPSTREAMKIT_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["explain", "--status", "502"])
    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: internal error, the command could not finish: RuntimeError: classifier bug")
    assert "UPSTREAMKIT_DEBUG=1" in line
    assert SECRET not in result.output
    assert "Traceback" not in result.output


def test_upstreamkit_debug_lets_the_exception_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explain_module, "classify", _broken_classify)
    monkeypatch.setenv("UPSTREAMKIT_DEBUG", "1")
    result = CliRunner().invoke(app, ["explain", "--status", "502"])
    assert isinstance(result.exception, RuntimeError)


def test_help_and_version_still_exit_0() -> None:
    assert CliRunner().invoke(app, ["--help"]).exit_code == 0
    assert CliRunner().invoke(app, ["diagnose", "--help"]).exit_code == 0
    assert CliRunner().invoke(app, ["--version"]).exit_code == 0
