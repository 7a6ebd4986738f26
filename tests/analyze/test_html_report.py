"""``analyze --html``: one self-contained page embedding the ``--json`` document; nothing secret in it, nothing
in the log can close its data block, and nothing is fetched from anywhere."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from upstreamkit._html import script_json
from upstreamkit.analyze import AnalyzeOptions, run
from upstreamkit.analyze.report_html import render_html
from upstreamkit.cli.app import app
from upstreamkit.core.redact import fingerprint
from upstreamkit.gateway.accesslog import FIELDS

TOKEN = "sk_live_html_report_secret_51Hq"
PASSWORD = "hunter2-html-report"
JWT_SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS1odG1sLXRlc3Q"
JWT = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJodG1sIn0.{JWT_SIGNATURE}"
HOSTILE_PATH = "/v1/</script><script>alert(1)</script>"


def _log(tmp_path: Path) -> Path:
    """Ten minutes of the gateway's JSON access log, failing 14:04-14:06, with secrets planted in the paths'
    queries, in a credential field that holds a raw token, and in an error log beside it."""
    lines = []
    for n in range(100):
        minute, second = divmod(n * 6, 60)
        failing = 4 <= minute <= 6
        record: dict[str, object] = dict.fromkeys(FIELDS)
        record.update(
            ts=f"2026-11-28T14:{minute:02d}:{second:02d}.000Z",
            request_id=f"r{n}",
            method="GET",
            path=f"/pay/orders/{n}?access_token={TOKEN}&password={PASSWORD}" if n % 3 == 0 else HOSTILE_PATH,
            route="/pay",
            upstream="pay",
            status=503 if failing else 200,
            upstream_status=503 if failing else 200,
            kind="upstream_outage" if failing else None,
            error=f"upstream said 503 to Authorization: Bearer {JWT}" if failing else None,
            attempts=1,
            duration_ms=12.5,
            upstream_ms=10.0,
            client="203.0.113.9",
            credential=TOKEN if n % 2 else fingerprint(TOKEN),  # a raw token where a fingerprint belongs
            gateway="gw-1",
        )
        lines.append(json.dumps(record))
    access = tmp_path / "access.jsonl"
    access.write_text("\n".join(lines) + "\n")
    return access


def _error_log(tmp_path: Path) -> Path:
    error = tmp_path / "error.log"
    error.write_text(
        "2026/11/28 14:05:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to "
        f'upstream, client: 10.0.0.1, server: _, request: "GET /v1/x?api_key={TOKEN} HTTP/1.1", '
        f'upstream: "http://10.0.0.2:80/v1/x", host: "a", referrer: "https://u:{PASSWORD}@example.com/"\n'
        f"2026/11/28 14:05:01 [error] 7#7: *2 upstream timed out, authorization: Bearer {JWT}\n"
    )
    return error


def _embedded(page: str) -> object:
    match = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.DOTALL)
    assert match is not None
    return json.loads(match.group(1))


def test_no_secret_reaches_the_page(tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.write_text(f"2026-11-28T14:03:30Z deploy pay v7 with token={TOKEN}\n")
    report = tmp_path / "report.html"
    logs = [str(_log(tmp_path)), str(_error_log(tmp_path))]
    options = ["--bucket", "1m", "--events", str(events), "--html", str(report), "--json"]
    result = CliRunner().invoke(app, ["analyze", *logs, *options])
    assert result.exit_code == 0, result.stderr
    page = report.read_text(encoding="utf-8")
    document = json.loads(result.stdout)
    assert len(document["incidents"]) == 1
    for secret in (TOKEN, PASSWORD, JWT_SIGNATURE, "hunter2"):
        assert secret not in page
        assert secret not in result.stdout
        assert secret not in html.unescape(page)
    assert fingerprint(TOKEN) in page  # the credential is still there to correlate, as a fingerprint
    assert f"report written to {report}" in result.stderr


def test_the_page_embeds_the_json_document_and_nothing_can_close_its_script(tmp_path: Path) -> None:
    document = run([str(_log(tmp_path))], AnalyzeOptions(bucket_s=60.0))
    assert any(row["key"].startswith("/v1/</script>") for row in document["clusters"]["by_endpoint"])
    page = render_html(document)
    # the shell's own blocks only: the data block, the chart layer, the page's script
    assert page.count("</script>") == 3
    assert page.lower().count("<script") == 3
    assert _embedded(page) == json.loads(json.dumps(document))
    # self-contained: no URL to fetch, and a policy that forbids every connection
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "connect-src 'none'" in html.unescape(page)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")


@pytest.mark.parametrize(
    "value",
    ["</script>", "</SCRIPT >", "<!--", "a & b", "\u2028\u2029", {"k": "</script><script>x()</script>"}],
)
def test_script_json_round_trips_without_markup(value: object) -> None:
    text = script_json(value)
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text) == value


def test_non_finite_numbers_become_null() -> None:
    assert json.loads(script_json({"rate": float("nan"), "p99": float("inf"), "ok": 1.5})) == {
        "rate": None,
        "p99": None,
        "ok": 1.5,
    }
