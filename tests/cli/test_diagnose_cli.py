"""``upstreamkit diagnose`` end to end on loopback: exit codes, the JSON contract, usage errors, and a planted
secret that never reaches stdout, the JSON or any file of the support bundle."""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit.cli.app import app
from upstreamkit.simulator import Simulator

runner = CliRunner()
Factory = Callable[..., Simulator]

PLANTED_KEY = "sk_live_PLANTEDplanted0123456789abcd"
PLANTED_PASSWORD = "hunter2-PLANTED-pw-7781"
PLANTED_COOKIE = "PLANTEDsessionCookieValue99"


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["diagnose", *args])
    return result.exit_code, result.output


def test_healthy_json_exits_0_with_the_documented_keys(simulator_factory: Factory) -> None:
    sim = simulator_factory("healthy")
    code, output = _invoke(sim.url("/v1/items"), "--json", "--timeout", "2")
    assert code == 0, output
    document = json.loads(output)
    assert {"url", "healthy", "phases", "causes", "request_id"} <= set(document)
    assert document["healthy"] is True
    assert document["causes"] == []
    assert isinstance(document["request_id"], str)
    for phase in document["phases"]:
        assert {"name", "ok", "ms", "detail"} <= set(phase)
        assert phase["ok"] in (True, False, None)


def test_a_cause_exits_1_and_the_terminal_report_names_it(simulator_factory: Factory) -> None:
    sim = simulator_factory("body-600")
    code, output = _invoke(sim.url("/v1/items"), "--timeout", "2")
    assert code == 1, output
    assert "upstream_600" in output
    assert "dns" in output
    assert "http" in output


def test_json_causes_are_ranked_kinds_with_evidence(simulator_factory: Factory) -> None:
    sim = simulator_factory("outage")
    code, output = _invoke(sim.url("/v1/items"), "--json", "--status-page", sim.base_url, "--timeout", "2")
    assert code == 1
    causes = json.loads(output)["causes"]
    assert causes[0]["kind"] == "upstream_outage"
    likelihoods = [cause["likelihood"] for cause in causes]
    assert likelihoods == sorted(likelihoods, reverse=True)
    for cause in causes:
        assert 0 <= cause["likelihood"] <= 1
        assert cause["evidence"]
        assert all(isinstance(line, str) for line in cause["evidence"])
        assert cause["fix"]
        assert cause["effort"] in ("easy", "medium", "hard")


def test_a_planted_secret_reaches_no_output(simulator_factory: Factory, tmp_path: Path) -> None:
    sim = simulator_factory("expired-token")
    token = sim.issue_token("planted", lifetime=-600)
    signature = token.rsplit(".", 1)[1]
    body = json.dumps({"password": PLANTED_PASSWORD, "amount": 5}).encode()
    (tmp_path / "body.json").write_bytes(body)
    url = sim.url(f"/v1/items?api_key={PLANTED_KEY}")
    common = [
        url, "-X", "PUT", "-H", f"Authorization: Bearer {token}", "-H", f"Cookie: session={PLANTED_COOKIE}",
        "-H", f"X-Api-Key: {PLANTED_KEY}", "--data-file", str(tmp_path / "body.json"), "--timeout", "2",
    ]  # fmt: skip
    outputs = []
    code, text = _invoke(*common, "--bundle", str(tmp_path / "ticket.zip"))
    assert code == 1, text
    outputs.append(text)
    code, text = _invoke(*common, "--json")
    assert code == 1
    outputs.append(text)
    with zipfile.ZipFile(tmp_path / "ticket.zip") as bundle:
        names = bundle.namelist()
        assert {"report.md", "report.json"} <= set(names)
        outputs.extend(bundle.read(name).decode("utf-8", "replace") for name in names)
    planted = [PLANTED_KEY, PLANTED_PASSWORD, PLANTED_COOKIE, token, signature]
    for output in outputs:
        for secret in planted:
            assert secret not in output
    assert "auth_expired" in outputs[1]
    assert any("sha256:" in output for output in outputs)  # fingerprints, for correlation
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["iss"] in outputs[1]  # the JWT keeps its claims: what a paged engineer needs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a URL"),
        (["ftp://example.com/x"], "not an http or https URL"),
        (["http://127.0.0.1:1/x", "--resolve", "nonsense"], "HOST:PORT:ADDR"),
        (["http://127.0.0.1:1/x", "--resolve", "a.example:443:not-an-ip"], "not an IP address"),
        (["http://127.0.0.1:1/x", "-d", "{}", "--data-file", "x.json"], "not both"),
        (["http://127.0.0.1:1/x", "--data-file", "/no/such/file.json"], "cannot read --data-file"),
        (["http://127.0.0.1:1/x", "--repeat", "0"], "--repeat"),
        (["http://127.0.0.1:1/x", "--timeout", "-1"], "--timeout"),
        (["http://127.0.0.1:1/x", "--cacert", "/no/such/ca.pem"], "no such file"),
        (["http://127.0.0.1:1/x", "-X", "POST", "-d", "{}", "--isolate-payload"], "--allow-unsafe"),
        (["--from-curl", "curl 'http://127.0.0.1:1/x"], "quot"),
        (["--from-curl", "curl --frobnicate http://127.0.0.1:1/x"], "--frobnicate"),
        (["--har", "/no/such/file.har"], "/no/such/file.har"),
        (["http://127.0.0.1:1/x", "--dns-server", "resolver.example"], "--dns-server"),
        (["http://127.0.0.1:1/x", "-H", "no colon here"], "Name: value"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, output = _invoke(*args)
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_from_curl_supplies_the_request(simulator_factory: Factory) -> None:
    sim = simulator_factory("invalid-key")
    command = f"curl -sS '{sim.url('/v1/items')}' -H 'X-Api-Key: {PLANTED_KEY}' --compressed"
    code, output = _invoke("--from-curl", command, "--json", "--timeout", "2")
    assert code == 1
    document = json.loads(output)
    assert document["causes"][0]["kind"] == "auth_invalid"
    assert PLANTED_KEY not in output


def test_har_supplies_the_request(simulator_factory: Factory, tmp_path: Path) -> None:
    sim = simulator_factory("body-600")
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "entries": [
                {
                    "startedDateTime": "2026-11-24T10:00:00.000Z",
                    "request": {
                        "method": "GET", "url": sim.url("/v1/items"), "httpVersion": "HTTP/1.1",
                        "headers": [{"name": "Accept", "value": "application/json"}], "queryString": [],
                        "cookies": [], "headersSize": -1, "bodySize": 0,
                    },
                    "response": {
                        "status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                        "content": {"size": 40, "mimeType": "application/json",
                                    "text": "{\"code\": 600, \"error\": \"upstream_error\"}"},
                        "redirectURL": "", "headersSize": -1, "bodySize": 40,
                    },
                    "cache": {}, "timings": {"send": 0, "wait": 10, "receive": 1},
                }
            ],
        }
    }  # fmt: skip
    path = tmp_path / "capture.har"
    path.write_text(json.dumps(har))
    code, output = _invoke("--har", str(path), "--json", "--timeout", "2")
    assert code == 1, output
    assert json.loads(output)["causes"][0]["kind"] == "upstream_600"


def test_help_explains_the_options() -> None:
    result = runner.invoke(app, ["diagnose", "--help"])
    assert result.exit_code == 0
    for option in ("--resolve", "--from-curl", "--har", "--isolate-payload", "--bundle", "--json", "--repeat"):
        assert option in result.output
