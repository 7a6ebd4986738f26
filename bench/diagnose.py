"""Wall time of a full ``diagnose`` (every phase) against each built-in simulator scenario on loopback.

    .venv/bin/python bench/diagnose.py [--runs 5] [--timeout 3]

Each scenario's simulator runs in its own process (the probing process has a core to itself). A run is
one ``diagnose()`` call, as ``upstreamkit diagnose URL`` makes it, minus the interpreter start-up; the whole
command (a new process) is measured too, against the healthy endpoint. Goals (issue 6): healthy under 0.5 s;
any scenario under its timeout plus 1 s. Requests per scenario mirror the demo: an expired JWT for
expired-token, a revoked key for invalid-key, 12 repeats for rate-limited (a bucket of 10/s), the status page
for outage, isolation of a rejected JSON field. The timelines (flapping, incident) are probed at their start,
a healthy phase.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from _server import simulator_details
from upstreamkit.diagnose import ProbeOptions, ProbeRequest, diagnose
from upstreamkit.simulator import builtin_scenarios

BODY = json.dumps(
    {
        "amount": 1250,
        "currency": "EUR",
        "description": "order 1042",
        "customer": {"name": "Ada", "email": "ada@example.invalid", "country": "NL"},
        "metadata": {"channel": "web", "campaign": "winter"},
    }
).encode()
JSON = (("Content-Type", "application/json"),)


def setup(scenario: str, details: dict[str, Any], timeout: float) -> tuple[ProbeRequest, ProbeOptions]:
    """The request and options the demo would use for this scenario."""
    base = details["base_url"]
    options: dict[str, Any] = {"timeout": timeout}
    request = ProbeRequest(f"{base}/v1/items")
    if details["ca_file"]:
        options["cacert"] = details["ca_file"]
    if scenario == "expired-token":
        request = ProbeRequest(request.url, headers=(("Authorization", f"Bearer {details['expired_token']}"),))
    elif scenario == "invalid-key":
        request = ProbeRequest(request.url, headers=(("X-Api-Key", "sk_live_bench0000000000000000revoked"),))
    elif scenario == "rate-limited":
        options["repeat"] = 12
    elif scenario in ("outage", "incident", "flapping"):
        options["status_page"] = base
    elif scenario == "payload-field":
        request = ProbeRequest(f"{base}/v1/items/1042", "PUT", JSON, BODY)
        options["isolate_payload"] = True
    elif scenario == "payload-too-large":
        request = ProbeRequest(request.url, "POST", JSON, json.dumps({"blob": "x" * 4000}).encode())
    return request, ProbeOptions(**options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="diagnoses per scenario (median and max reported)")
    parser.add_argument("--timeout", type=float, default=3.0, help="diagnose --timeout for every scenario")
    args = parser.parse_args()
    with simulator_details("healthy", seed=1) as details:
        whole = []
        for _ in range(args.runs):
            started = time.perf_counter()
            command = [sys.executable, "-m", "upstreamkit", "diagnose", f"{details['base_url']}/v1/items", "--json"]
            subprocess.run(command, capture_output=True, check=True)  # noqa: S603 - our own interpreter and URL
            whole.append((time.perf_counter() - started) * 1000)
    print(f"Python {sys.version.split()[0]}; {args.runs} runs per scenario; --timeout {args.timeout:g} s\n")
    print(f"Whole command, healthy endpoint (`upstreamkit diagnose URL --json`, a new process each time): median "
          f"{statistics.median(whole):.0f} ms, max {max(whole):.0f} ms.\n")  # fmt: skip
    print("In-process `diagnose()` per scenario (the command minus interpreter start-up and imports):\n")
    print("| scenario | top cause | likelihood | median ms | max ms | slowest phase | goal | met |")
    print("|---|---|---:|---:|---:|---|---:|---|")
    for scenario in builtin_scenarios():
        with simulator_details(scenario, seed=1) as details:
            times, report = [], None
            for _ in range(args.runs):
                request, options = setup(scenario, details, args.timeout)
                began = time.perf_counter()
                report = diagnose(request, options)
                times.append((time.perf_counter() - began) * 1000)
        assert report is not None
        goal = 500.0 if scenario == "healthy" else (args.timeout + 1) * 1000
        slowest = max(report.phases, key=lambda phase: phase.ms or 0.0)
        top = report.causes[0] if report.causes else None
        print(
            f"| {scenario} | {top.kind if top else 'healthy'} | {f'{top.likelihood:.0%}' if top else ''} "
            f"| {statistics.median(times):.0f} | {max(times):.0f} | {slowest.name} {slowest.ms or 0:.0f} ms "
            f"| < {goal:.0f} | {'yes' if max(times) < goal else 'NO'} |"
        )


if __name__ == "__main__":
    main()
