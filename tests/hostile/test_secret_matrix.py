"""The planted-secret matrix: every secret shape by every output channel, and a failure names the leaking cells.

Each shape carries its own secret, so one request can plant all of them and every output is checked for every
secret: a cell is (shape, channel). The channels are all the exits a secret could take: ``explain`` (terminal
and ``--json``), ``diagnose`` against the simulator on 127.0.0.1 (terminal, ``--json``, every file of the
support bundle), the output of commands that fail on bad input, the client's exceptions (``str``, ``repr``,
pickle) from :class:`~upstreamkit.ResilientTransport` against a simulator that refuses the call and a port that
refuses the connection, the :class:`~upstreamkit.telemetry.LoggingHook`'s records and the Prometheus labels.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import socket
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from upstreamkit import ResilientTransport, RetryPolicy
from upstreamkit.cli.app import app
from upstreamkit.errors import UpstreamError
from upstreamkit.simulator import Simulator
from upstreamkit.telemetry import LoggingHook, PrometheusHook
from upstreamkit.telemetry.logging import EXTRA_KEY


@dataclass(frozen=True)
class Shape:
    """One way a secret travels: in the URL, a request header, the body, or text an upstream echoes."""

    name: str
    secret: str
    userinfo: str = ""  # "user:password" or "KEY:" before the host
    query: str = ""  # "name=value" appended to the URL
    header: str = ""  # "Name: value", sent by the client or echoed by the upstream
    body: dict[str, Any] = field(default_factory=dict)  # merged into a JSON body
    text: str = ""  # a line an upstream's error page or a log could carry


def _secret(tag: str) -> str:
    return f"Zq{tag}9xK2mP7vL4wR8t"  # a credential by shape, unique per shape, in no vendor's format


SHAPES = [
    Shape("URL key as username", _secret("A"), userinfo=f"{_secret('A')}:"),
    Shape("URL password", _secret("B"), userinfo=f"svc:{_secret('B')}"),
    Shape("query api_key", _secret("C"), query=f"api_key={_secret('C')}"),
    Shape("OAuth code", _secret("D"), query=f"code={_secret('D')}&state=xyz"),
    Shape("Authorization SSWS", _secret("E"), header=f"Authorization: SSWS {_secret('E')}"),
    Shape("Cookie", _secret("F"), header=f"Cookie: theme=dark; sid={_secret('F')}"),
    Shape("X-Api-Key", _secret("G"), header=f"X-Api-Key: {_secret('G')}"),
    Shape("token Bearer in a header", _secret("H"), header=f"X-Debug: token Bearer {_secret('H')}"),
    Shape("JSON password", _secret("I"), body={"password": _secret("I")}),
    Shape("nested JSON secret", _secret("J"), body={"auth": {"client": "web", "pin": _secret("J")}}),
    Shape("HAR-like pair", _secret("K"), body={"header": {"name": "X-Api-Key", "value": _secret("K")}}),
    Shape("echoed Digest", _secret("L"), text=f'Authorization: Digest username="ada", response="{_secret("L")}"'),
    Shape("echoed URL userinfo", _secret("M"), text=f"upstream https://{_secret('M')}:@api.example.com/v1 failed"),
    Shape("echoed YAML", _secret("N"), text=f"api_key: {_secret('N')}"),
    Shape("echoed XML", _secret("O"), text=f"<wsse:Password>{_secret('O')}</wsse:Password>"),
    Shape("echoed multipart", _secret("P"), text=f'Content-Disposition: form-data; name="pass"\n\n{_secret("P")}\n--b'),
    Shape("echoed PGP key", _secret("Q"), text=f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{_secret('Q')}\n-----END"),
]  # fmt: skip


class Matrix:
    """Outputs per channel; :meth:`leaks` lists every (shape, channel) cell whose secret got out."""

    def __init__(self) -> None:
        self.outputs: dict[str, list[str]] = {}

    def add(self, channel: str, *outputs: str) -> None:
        self.outputs.setdefault(channel, []).extend(outputs)

    def leaks(self) -> list[str]:
        return [
            f"{shape.name} -> {channel}: {_around(output, shape.secret)}"
            for channel, outputs in self.outputs.items()
            for output in outputs
            for shape in SHAPES
            if shape.secret in output
        ]


def _around(text: str, secret: str) -> str:
    at = text.find(secret)
    return repr(text[max(0, at - 60) : at + len(secret) + 20])


def _url(base: str, path: str = "/v1/items") -> str:
    scheme, _, host = base.partition("://")
    userinfo = next(shape.userinfo for shape in SHAPES if shape.userinfo)  # one userinfo per URL
    query = "&".join(shape.query for shape in SHAPES if shape.query)
    return f"{scheme}://{userinfo}@{host}{path}?page=2&{query}"


def _second_url(base: str) -> str:
    scheme, _, host = base.partition("://")
    userinfo = [shape.userinfo for shape in SHAPES if shape.userinfo][1]
    return f"{scheme}://{userinfo}@{host}/v1/items"


def _headers() -> list[str]:
    return [shape.header for shape in SHAPES if shape.header]


def _body() -> dict[str, Any]:
    body: dict[str, Any] = {"amount": 5}
    for shape in SHAPES:
        body.update(shape.body)
    body["note"] = "\n".join(shape.text for shape in SHAPES if shape.text)
    return body


def _echo_text() -> str:
    """Everything at once, as an upstream's error page might echo it back."""
    lines = [f"GET {_url('https://api.example.com')}", *_headers(), json.dumps(_body())]
    lines += [shape.text for shape in SHAPES if shape.text]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """Run every channel once (module scope: the simulators start once), collecting what each one printed."""
    found = Matrix()
    tmp = tmp_path_factory.mktemp("matrix")
    runner = CliRunner()
    with _Simulators() as start:
        _explain(found, runner)
        _diagnose(found, runner, start("invalid-key"), tmp)
        _failing_commands(found, runner, tmp)
        _client(found, start("invalid-key"), start("outage"))
    return found


class _Simulators:
    """Start simulators (loopback, free ports) and stop them all on exit."""

    def __enter__(self) -> Callable[[str], Simulator]:
        self.started: list[Simulator] = []

        def start(scenario: str) -> Simulator:
            sim = Simulator(scenario, seed=1).start()
            self.started.append(sim)
            return sim

        return start

    def __exit__(self, *exc: object) -> None:
        for sim in reversed(self.started):
            sim.stop()


def _output(result: Any) -> str:
    parts = [result.output]
    with contextlib.suppress(ValueError):  # older click: stderr mixed into output
        parts.append(result.stderr)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        parts.append(f"{type(result.exception).__name__}: {result.exception!s} {result.exception!r}")
    return "\n".join(parts)


def _explain(found: Matrix, runner: CliRunner) -> None:
    args = ["explain", "--status", "401", "--body", json.dumps({**_body(), "echo": _echo_text()})]
    for header in _headers():
        args += ["-H", header]
    args += ["-H", f"Set-Cookie: sid={_secret('F')}; Path=/", "-H", f"Location: {_url('https://idp.example.com')}"]
    found.add("explain (terminal)", _output(runner.invoke(app, args)))
    found.add("explain --json", _output(runner.invoke(app, [*args, "--json"])))


def _diagnose(found: Matrix, runner: CliRunner, sim: Simulator, tmp: Path) -> None:
    body = tmp / "body.json"
    body.write_text(json.dumps(_body()))
    args = ["diagnose", _url(sim.base_url), "-X", "PUT", "--data-file", str(body), "--timeout", "2"]
    for header in _headers():
        args += ["-H", header]
    found.add("diagnose (terminal)", _output(runner.invoke(app, [*args, "--bundle", str(tmp / "ticket.zip")])))
    found.add("diagnose --json", _output(runner.invoke(app, [*args, "--json"])))
    with zipfile.ZipFile(tmp / "ticket.zip") as bundle:
        for name in bundle.namelist():
            found.add(f"diagnose bundle {name}", bundle.read(name).decode("utf-8", "replace"))
    second = ["diagnose", _second_url(sim.base_url), "--json", "--timeout", "2"]
    found.add("diagnose --json (password in URL)", _output(runner.invoke(app, second)))


def _failing_commands(found: Matrix, runner: CliRunner, tmp: Path) -> None:
    bad_scheme = _url("ftp://api.example.com")
    har = tmp / "bad.har"
    har.write_text("{not json " + _echo_text())
    failing = {
        "diagnose, bad scheme": ["diagnose", bad_scheme],
        "diagnose, bad header": ["diagnose", _url("http://127.0.0.1:1"), "-H", f"Authorization SSWS {_secret('E')}"],
        "diagnose, bad --from-curl": ["diagnose", "--from-curl", f"curl '{_url('http://127.0.0.1:1')}"],
        "diagnose, bad --har": ["diagnose", "--har", str(har)],
        "explain, bad status": ["explain", "--status", f"token={_secret('C')}"],
        "explain, bad header": ["explain", "--status", "401", "-H", f"SSWS {_secret('E')}"],
    }
    for label, args in failing.items():
        result = runner.invoke(app, args)
        assert result.exit_code != 0, label
        found.add(f"failing command: {label}", _output(result))


def _client(found: Matrix, refusing: Simulator, outage: Simulator) -> None:
    logger = logging.getLogger("tests.hostile.matrix")
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    registry = CollectorRegistry()
    hooks = [LoggingHook(logger), PrometheusHook(registry)]
    policy = RetryPolicy(attempts=2, per_try_timeout=2.0, deadline=5.0)
    closed_port = _closed_port()
    targets = {
        "401 from the simulator": _url(refusing.base_url),
        "outage": _url(outage.base_url),
        "connection refused": _url(f"http://127.0.0.1:{closed_port}"),
        "password in the URL": _second_url(refusing.base_url),
    }
    headers = dict(header.split(": ", 1) for header in _headers())
    try:
        with httpx.Client(transport=ResilientTransport(policy=policy, hooks=hooks)) as client:
            for label, url in targets.items():
                with pytest.raises(UpstreamError) as caught:
                    client.put(url, headers=headers, json=_body())
                error = caught.value
                found.add(
                    f"client exception ({label})",
                    str(error),
                    repr(error),
                    str(error.args),
                    json.dumps(error.to_dict()),
                    pickle.dumps(error).decode("latin-1"),
                    str(pickle.loads(pickle.dumps(error))),
                )
    finally:
        logger.removeHandler(handler)
    assert records, "the logging hook logged nothing"
    found.add("logging hook (messages)", *(record.getMessage() for record in records))
    found.add("logging hook (fields)", *(json.dumps(getattr(record, EXTRA_KEY, {})) for record in records))
    found.add("Prometheus exposition (labels)", generate_latest(registry).decode())


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: a refused connection


CHANNELS = [
    "explain (terminal)",
    "explain --json",
    "diagnose (terminal)",
    "diagnose --json",
    "diagnose --json (password in URL)",
    "diagnose bundle report.json",
    "diagnose bundle report.md",
    "client exception (401 from the simulator)",
    "client exception (outage)",
    "client exception (connection refused)",
    "client exception (password in the URL)",
    "logging hook (messages)",
    "logging hook (fields)",
    "Prometheus exposition (labels)",
]


def test_no_secret_leaks_from_any_cell(matrix: Matrix) -> None:
    leaks = matrix.leaks()
    assert not leaks, f"{len(leaks)} leaking cells:\n" + "\n".join(leaks)


def test_every_channel_ran(matrix: Matrix) -> None:
    for channel in CHANNELS:
        assert matrix.outputs.get(channel), f"channel {channel!r} produced nothing"
    failing = [name for name in matrix.outputs if name.startswith("failing command")]
    assert len(failing) == 6
    assert len([name for name in matrix.outputs if name.startswith("diagnose bundle")]) >= 3


def test_outputs_still_carry_fingerprints_and_evidence(matrix: Matrix) -> None:
    # Redaction replaces, it does not drop: the fingerprints are there for correlation, and the causes read.
    assert "sha256:" in "".join(matrix.outputs["diagnose --json"])
    assert "auth_invalid" in "".join(matrix.outputs["diagnose --json"])
    assert "sha256:" in "".join(matrix.outputs["explain --json"])


def test_the_matrix_detects_a_leak() -> None:
    # The check itself must be able to fail: a cell with a planted secret is reported by shape and channel.
    probe = Matrix()
    probe.add("a channel", f"oops {SHAPES[3].secret}")
    assert probe.leaks() == [f"{SHAPES[3].name} -> a channel: {'oops ' + SHAPES[3].secret!r}"]
