"""One command imports one command's module: ``upstreamkit analyze`` never pays for diagnose, the gateway, the
simulator or the demo, and ``upstreamkit --help`` still lists them all."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit.cli.app import COMMANDS, app

COMMAND_MODULES = {f"upstreamkit.cli.{name}" for name in COMMANDS} | {"upstreamkit.cli.gateway_export"}
CLIENT_MODULES = {"upstreamkit.adapters.decorator", "upstreamkit.core.retry", "httpx"}

# Runs the console script's main() in a fresh interpreter and prints, after the command's own output, the
# modules it imported (one JSON line).
_PROBE = """
import json, sys
from upstreamkit.cli.app import main
sys.argv = ["upstreamkit", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def _imported(*args: str) -> tuple[int, set[str]]:
    """Exit code of ``upstreamkit ARGS`` and the modules it imported, in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["exit"], set(report["modules"])


def test_analyze_help_imports_no_other_command_and_no_client() -> None:
    code, modules = _imported("analyze", "--help")
    assert code == 0
    assert "upstreamkit.cli.analyze" in modules
    assert modules & (COMMAND_MODULES - {"upstreamkit.cli.analyze"}) == set()
    assert modules & CLIENT_MODULES == set()
    assert "duckdb" not in modules  # the analyze extra loads when an analysis runs


def test_an_analysis_with_json_imports_no_other_command_and_no_rendering(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text('203.0.113.7 - - [28/Nov/2026:14:00:01 +0000] "GET /v1/orders/1 HTTP/1.1" 502 157 "-" "c"\n')
    code, modules = _imported("analyze", str(log), "--json")
    assert code == 0
    assert modules & (COMMAND_MODULES - {"upstreamkit.cli.analyze"}) == set()
    assert modules & CLIENT_MODULES == set()
    # the terminal summary, the HTML report and the progress bar are for the runs that show them
    assert {"upstreamkit.analyze.terminal", "upstreamkit.analyze.report_html", "rich.progress"} & modules == set()


def test_explain_reads_log_lines_without_the_analysis_engine() -> None:
    code, modules = _imported("explain", "--help")
    assert code == 0
    assert modules & COMMAND_MODULES == {"upstreamkit.cli.explain"}
    assert "upstreamkit.analyze.logline" in modules
    assert {"upstreamkit.analyze.analysis", "upstreamkit.analyze.engine", "duckdb"} & modules == set()


def test_a_usage_error_still_imports_only_its_command() -> None:
    code, modules = _imported("explain", "--bogus")
    assert code == 2
    assert modules & COMMAND_MODULES == {"upstreamkit.cli.explain"}


def test_help_lists_every_command_with_its_one_line_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and "  " in line[2:]]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)
    assert set(COMMANDS) == {"analyze", "demo", "diagnose", "explain", "gateway", "simulate"}
    for name in COMMANDS:
        doc = inspect.getdoc(getattr(__import__(f"upstreamkit.cli.{name}", fromlist=[name]), name))
        assert doc
        first_words = " ".join(doc.split()[:6])
        assert any(line.split(name, 1)[-1].strip().startswith(first_words) for line in result.stdout.splitlines())


@pytest.mark.parametrize("args", [[name] for name in COMMANDS] + [["gateway", "export"]])
def test_every_command_builds_and_shows_its_help(args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"upstreamkit {' '.join(args)} [OPTIONS]" in result.stdout


def test_a_mistyped_command_is_still_suggested() -> None:
    result = CliRunner().invoke(app, ["analyse"])
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == "error: No such command 'analyse'. Did you mean 'analyze'? (see 'upstreamkit --help')"
    )
