"""A check that could not finish is never a pass: whatever a probe raises, its phase is failed with the error's
class and redacted message, the report is incomplete and not healthy, and the CLI exits 3 (1 when a cause was
found anyway), against real upstreams on loopback whose bodies and host names make probes raise."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from upstreamkit.cli.app import app
from upstreamkit.diagnose import PHASES, PhaseResult, ProbeContext, ProbeOptions, ProbeRequest, Report, diagnose
from upstreamkit.diagnose import runner as runner_module
from upstreamkit.diagnose.probes import body as body_probe
from upstreamkit.diagnose.probes import proxies as proxies_probe
from upstreamkit.diagnose.report import document_to_markdown, render_document, report_to_json
from upstreamkit.simulator import DNSResponder, Simulator

pytestmark = pytest.mark.integration

RawUpstream = Callable[..., str]
Factory = Callable[..., Simulator]
SECRET = "sk_live_PLANTEDunfinished0123456789"
FAST = ProbeOptions(timeout=2.0)

HOSTILE_BODIES = {
    "deep array": b"[" * 10_000 + b"]" * 10_000,
    "deep object": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "deep error": b'{"error": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "lone surrogate message": b'{"message": "bad \\ud800 gateway"}',
    "lone surrogate in a 600 envelope": b'{"code": 600, "error": "upstream\\udfff_error"}',
    "surrogate key": b'{"\\udc80": "x", "error": "bad_gateway"}',
    "invalid utf-8": b'{"error": "\xed\xa0\x80\xff"}',
}


def _outputs(report: Report) -> str:
    """Every rendering of the report, each encoded as UTF-8 (strictly): the JSON, report.md, the terminal."""
    document = report_to_json(report)
    text = json.dumps(document, ensure_ascii=False)
    markdown = document_to_markdown(document)
    console = Console(file=io.StringIO(), width=160, color_system=None)
    render_document(document, console)
    terminal = console.file.getvalue()  # type: ignore[attr-defined]
    for output in (text, markdown, terminal):
        output.encode("utf-8")
    return text + markdown + terminal


def _assert_not_a_pass(report: Report) -> None:
    assert not report.healthy
    assert report.causes or report.incomplete
    for phase in report.phases:
        if phase.error is not None:
            assert phase.status == "failed"
            assert phase.error.split(":")[0].isidentifier()  # the exception's class comes first
            assert phase.error in phase.detail
    document = report_to_json(report)
    assert document["healthy"] is False
    assert document["incomplete"] is report.incomplete
    assert "HEALTHY" not in document["verdict"]


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_502_with_a_hostile_body_is_never_healthy(raw_upstream: RawUpstream, body: bytes) -> None:
    report = diagnose(ProbeRequest(raw_upstream(body) + "/v1/items"), FAST)
    _assert_not_a_pass(report)
    assert "every phase passed" not in _outputs(report)


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_the_cli_reports_a_hostile_body_without_a_traceback(raw_upstream: RawUpstream, body: bytes) -> None:
    url = raw_upstream(body) + "/v1/items"
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(app, ["diagnose", url, "--timeout", "2", *extra])
        assert result.exit_code in (1, 3), (result.exception, result.output)
        assert "Traceback" not in result.output
        assert "HEALTHY" not in result.stdout
        if extra:
            assert json.loads(result.stdout)["healthy"] is False


@pytest.mark.parametrize(
    "host",
    ["a" * 64 + ".example", "b" * 250 + ".example", "ex\x00ample.sim.test", "ex\udcffample.sim.test", "exa mple.test"],
    ids=["label over 63", "name over 253", "NUL byte", "lone surrogate", "space"],
)
def test_an_invalid_host_name_is_never_healthy(host: str) -> None:
    with DNSResponder({}) as responder:  # any query stays on loopback
        options = ProbeOptions(timeout=2.0, dns_servers=(responder.address,))
        report = diagnose(ProbeRequest(f"http://{host}/v1/items"), options)
    _assert_not_a_pass(report)
    assert report.phases[0].name == "dns"
    assert report.phases[0].status == "failed"
    _outputs(report)


class _BrokenStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


RAISED: dict[str, BaseException] = {
    "RuntimeError": RuntimeError(f"cannot go on with token {SECRET}"),
    "RecursionError": RecursionError("maximum recursion depth exceeded"),
    "UnicodeEncodeError": UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    "KeyError": KeyError(f"Authorization: Bearer {SECRET}"),
    "MemoryError": MemoryError(),
    "_BrokenStrError": _BrokenStrError(),
    "ValueError": ValueError("\ud800 " + "x" * 5000),
}


@pytest.mark.parametrize("exc", RAISED.values(), ids=RAISED.keys())
def test_whatever_a_probe_raises_is_a_failed_phase_naming_the_class(exc: BaseException) -> None:
    def probe(ctx: ProbeContext) -> PhaseResult:
        raise exc

    report = diagnose(ProbeRequest("http://127.0.0.1:9/v1/items"), FAST, phases=("dns",), probes={"dns": probe})
    (phase,) = report.phases
    assert phase.status == "failed"
    assert phase.ok is False
    assert phase.error is not None
    assert phase.error.split(":")[0] == type(exc).__name__
    assert len(phase.error) <= 320
    assert report.incomplete
    assert report.unfinished == ["dns"]
    assert not report.healthy
    outputs = _outputs(report)
    assert SECRET not in outputs
    assert "INCOMPLETE" in report_to_json(report)["verdict"]
    assert any(line.startswith("dns: could not finish the check") for line in report.checklist)


def test_later_phases_run_after_a_probe_raised(simulator_factory: Factory) -> None:
    sim = simulator_factory("healthy")

    def probe(ctx: ProbeContext) -> PhaseResult:
        raise RuntimeError("boom")

    report = diagnose(ProbeRequest(sim.url("/v1/items")), FAST, probes={"body": probe})
    by_name = {phase.name: phase for phase in report.phases}
    assert list(by_name) == list(PHASES)
    assert by_name["body"].status == "failed"
    assert by_name["body"].error == "RuntimeError: boom"
    assert by_name["http"].status == "ok"
    assert by_name["rate_limits"].status in ("ok", "skipped", "warning")
    assert report.causes == []
    assert report.incomplete
    assert not report.healthy
    document = report_to_json(report)
    assert document["unfinished"] == ["body"]
    assert [phase["error"] for phase in document["phases"] if phase["error"]] == ["RuntimeError: boom"]


def test_rules_that_raise_leave_the_report_incomplete(
    simulator_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def rank(facts: dict[str, Any]) -> list[Any]:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(runner_module, "rank", rank)
    report = diagnose(ProbeRequest(simulator_factory("healthy").url("/v1/items")), FAST)
    assert report.unfinished == ["verdict"]
    assert report.phases[-1].error == "ZeroDivisionError: division by zero"
    assert not report.healthy


def test_an_unknown_phase_name_is_the_callers_mistake() -> None:
    with pytest.raises(ValueError, match="unknown phase"):
        diagnose(ProbeRequest("http://127.0.0.1:9/"), FAST, phases=("dns", "nope"))


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["diagnose", *args, "--timeout", "2"])


def test_the_cli_exits_3_when_a_check_could_not_finish_and_no_cause_was_found(
    simulator_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def probe(ctx: ProbeContext) -> PhaseResult:
        raise RuntimeError(f"parser gave up on token {SECRET}")

    monkeypatch.setattr(body_probe, "probe", probe)
    url = simulator_factory("healthy").url("/v1/items")
    result = _invoke(url, "--json")
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    assert document["healthy"] is False
    assert document["incomplete"] is True
    assert document["causes"] == []
    (body,) = [phase for phase in document["phases"] if phase["name"] == "body"]
    assert body["status"] == "failed"
    assert body["error"].startswith("RuntimeError: parser gave up on token ")
    assert SECRET not in result.output

    terminal = _invoke(url)
    assert terminal.exit_code == 3
    assert "INCOMPLETE" in terminal.stdout
    assert "HEALTHY" not in terminal.stdout
    assert SECRET not in terminal.output


def test_the_cli_exits_1_when_a_cause_was_found_even_if_a_check_did_not_finish(
    simulator_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def probe(ctx: ProbeContext) -> PhaseResult:
        raise OSError("proxy table unreadable")

    monkeypatch.setattr(proxies_probe, "probe", probe)
    result = _invoke(simulator_factory("body-600").url("/v1/items"), "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["causes"][0]["kind"] == "upstream_600"
    assert document["incomplete"] is True
    assert document["unfinished"] == ["proxies"]
    assert "could not finish" in document["verdict"]


def test_diagnose_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["diagnose", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "3: a check could not finish" in text


@pytest.mark.parametrize("name", ["deep array", "deep object", "deep error", "lone surrogate message"])
def test_every_phase_finishes_on_a_hostile_body(raw_upstream: RawUpstream, name: str) -> None:
    report = diagnose(ProbeRequest(raw_upstream(HOSTILE_BODIES[name]) + "/v1/items"), FAST)
    assert report.unfinished == []
    assert report.causes[0].kind == "upstream_outage"  # what a 502 from the upstream says, whatever its body
