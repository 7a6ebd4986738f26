"""Hostile inputs: the slowest adversarial megabyte for every redactor and public parser, as ms per MB.

Each function gets the same set of 1 MB inputs (repeated special characters, runs without separators, deep
nesting, %-runs, quotes, backslashes, and repeated trigger words of every redaction rule), plus inputs shaped
for it (a Cookie header, a deep JSON body, a pasted curl command, a HAR file). Each input is timed as the best
of ``--repeat`` calls, in CPU time and wall time (on a shared machine wall time also counts the other tenants;
the best of several is the least disturbed). The table shows the slowest input per function (by CPU time)
and how the call ended: ``ok`` (returned), the project's documented input error, or any
other exception (a totality bug: listed after the table and the exit code is 1); a call still running after
10 s is stopped and reported as such.

    .venv/bin/python bench/hostile.py              # every function
    .venv/bin/python bench/hostile.py --only redact --size 262144
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from upstreamkit import classify
from upstreamkit.core import headers as h
from upstreamkit.core import redact as r
from upstreamkit.diagnose.inputs import InputError, parse_curl, parse_har

MB = 1024 * 1024
CALL_LIMIT_S = 10
"""A call still running after this many seconds is stopped (SIGALRM) and reported as such."""
BAR_MS = 50.0
"""The issue's bar: no megabyte may take longer (CPU ms); the table counts the inputs over it."""


def text_inputs(size: int) -> dict[str, str]:
    """Name -> text of about ``size`` characters."""

    def rep(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    inputs = {f"{c!r} x N": rep(c) for c in "%\"'\\<>=:&;,{[(@/#- \n"}
    inputs |= {
        "letters, no separator": rep("a"),
        "alnum token, no separator": rep("Zq9xK2mP7v"),
        "%41 runs": rep("%41"),
        "%4 (broken escapes)": rep("%4"),
        "%E2%82 (cut UTF-8)": rep("%E2%82"),
        "lone surrogates": rep("\ud800x"),
        "escaped quotes": rep('\\"'),
        'a=" openers': rep('a="'),
        "key=value&": rep("a=b&"),
        "password=x (dense secrets)": rep("password=abcdef "),
        "token (prose)": rep("token "),
        "Bearer, no credential": rep("Bearer "),
        "Bearer a (short)": rep("Bearer a "),
        "token Bearer": rep("token Bearer "),
        "Authorization: runs": rep("Authorization: "),
        "Authorization: Digest params": "Authorization: Digest " + rep('a="b", '),
        "Cookie: runs": rep("Cookie: "),
        "eyJ- runs": rep("eyJ-"),
        "eyJa.eyJb. runs": rep("eyJab.eyJcd."),
        "sk- runs": rep("sk-"),
        "xoxb- runs": rep("xoxb-"),
        "ya29. runs": rep("ya29."),
        "https:// runs": rep("https://"),
        "URL with %-runs": "https://h/?" + rep("%"),
        "URL userinfo @@@": "https://" + rep("a:@"),
        "form-data headers": rep('Content-Disposition: form-data; name="password"\r\n'),
        "BEGIN PRIVATE KEY runs": rep("-----BEGIN PRIVATE KEY-----"),
        "<password> runs": rep("<password>"),
        "<a> nesting": rep("<a>"),
        "CDATA openers": rep("<password><![CDATA["),
        '{"a": nesting': rep('{"a":'),
        "[ nesting": rep("["),
        "name/value runs": rep('"name": "password", "value": '),
        "YAML lines": rep("password: x y z\n"),
        "long secret-named word": rep("passwordtokenkey"),
    }
    return inputs


def json_values(size: int) -> dict[str, Any]:
    """Python values for redact_json (its input is decoded JSON)."""
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    deep_map: Any = "x"
    for _ in range(10_000):
        deep_map = {"password": deep_map}
    return {
        "10,000-deep list": deep,
        "10,000-deep secret map": deep_map,
        "wide map (1 MB)": {f"k{i}": "v" for i in range(size // 10)},
        "list of short strings (1 MB)": ["abc"] * (size // 6),
        "one 1 MB string": ["Bearer " + "a" * size],
        "HAR-like headers": [{"name": "Authorization", "value": "Bearer abcdefgh"}] * (size // 50),
    }


def curl_inputs(size: int, texts: dict[str, str]) -> dict[str, str]:
    inputs = {f"curl {name}": f"curl 'https://h/' -H 'X: {text}'" for name, text in list(texts.items())[:20]}
    inputs["curl, huge cookie"] = "curl https://h/ -H 'Cookie: " + "a" * size + "'"
    inputs["curl, huge URL"] = "curl 'https://h/?" + "%" * size + "'"
    inputs["curl, many -H"] = "curl https://h/ " + "-H 'A: b' " * (size // 10)
    inputs["curl, [::1"] = "curl http://[::1 " + "a" * size
    return inputs


def har_inputs(size: int, workdir: Path) -> dict[str, Path]:
    entry = {
        "startedDateTime": "2024-01-01T00:00:00Z",
        "request": {"method": "GET", "url": "https://h/", "headers": [{"name": "Cookie", "value": "a" * size}]},
        "response": {"status": 502, "headers": [], "content": {"text": "x" * size}},
    }
    files = {
        "HAR, big values": {"log": {"entries": [entry]}},
        # Small entries (the shared entry's 1 MB body is not repeated): a megabyte of requests to pick among.
        "HAR, many entries": {
            "log": {
                "entries": [
                    {"request": {"method": "GET", "url": "https://h/"}, "response": {"status": 200, "headers": []}}
                ]
                * (size // 100)
            }
        },
    }
    paths = {}
    for name, doc in files.items():
        path = workdir / (name.replace(" ", "_").replace(",", "") + ".har")
        path.write_text(json.dumps(doc))
        paths[name] = path
    deep = workdir / "deep.har"
    deep.write_text("[" * size)
    paths["HAR, deep nesting"] = deep
    return paths


def measure(call: Callable[[], object], repeat: int) -> tuple[float, float, str]:
    """Best wall-clock and best CPU seconds of ``repeat`` calls, and how the call ended."""
    wall = cpu = float("inf")
    outcome = "ok"
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        signal.alarm(CALL_LIMIT_S)
        try:
            call()
        except InputError:
            outcome = "InputError"
        except _TimedOut:
            outcome = f"stopped after {CALL_LIMIT_S} s"
        except Exception as exc:  # noqa: BLE001 - a totality bug is a finding, not a crash of the bench
            outcome = f"RAISED {type(exc).__name__}"
        finally:
            signal.alarm(0)
        wall = min(wall, time.perf_counter() - began)
        cpu = min(cpu, time.process_time() - began_cpu)
        if outcome.startswith("stopped"):
            break
    return wall, cpu, outcome


class _TimedOut(Exception):  # noqa: N818 - raised by the alarm, caught right here
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _TimedOut


def functions(size: int, workdir: Path) -> list[tuple[str, str, dict[str, Callable[[], object]]]]:
    """(group, name, {input name: call}) for every function measured."""
    texts = text_inputs(size)
    header_texts = {k: v.replace("\n", " ") for k, v in texts.items()}
    out: list[tuple[str, str, dict[str, Callable[[], object]]]] = []

    def per_text(group: str, name: str, fn: Callable[[str], object], inputs: dict[str, str] = texts) -> None:
        out.append((group, name, {k: (lambda v=v: fn(v)) for k, v in inputs.items()}))

    per_text("redact", "redact_text", r.redact_text)
    per_text("redact", "redact_text (bytes)", lambda t: r.redact_text(t.encode("utf-8", "surrogatepass")))
    per_text("redact", "redact_url", r.redact_url)
    per_text("redact", "redact_url (https://h/?…)", lambda t: r.redact_url("https://h/?" + t))
    for header in ("Cookie", "Set-Cookie", "Authorization", "X-Api-Key", "X-Other"):
        per_text("redact", f"redact_header_value({header})", lambda t, n=header: r.redact_header_value(n, t))
    # Two headers sharing the megabyte, so the row is per MB like the others (it was 2 MB before 2026-11-28).
    per_text(
        "redact", "redact_headers", lambda t: r.redact_headers([("Cookie", t[: len(t) // 2]), ("X", t[len(t) // 2 :])])
    )
    per_text(
        "redact", "redact_body (json)", lambda t: r.redact_body(t.encode("utf-8", "surrogatepass"), "application/json")
    )
    per_text("redact", "redact_body (form)", lambda t: r.redact_body(t, "application/x-www-form-urlencoded"))
    per_text("redact", "redact_body (text)", lambda t: r.redact_body(t, "text/plain"))
    body_json = {k: json.dumps(v) if "10,000" not in k else None for k, v in json_values(size).items()}
    out.append(
        (
            "redact",
            "redact_body (JSON documents)",
            {k: (lambda v=v: r.redact_body(v, "application/json")) for k, v in body_json.items() if v},
        )
    )
    out.append(("redact", "redact_json", {k: (lambda v=v: r.redact_json(v)) for k, v in json_values(size).items()}))
    per_text("redact", "fingerprint", r.fingerprint)
    per_text("redact", "is_secret_name", r.is_secret_name)

    per_text("headers", "parse_retry_after", h.parse_retry_after, header_texts)
    per_text("headers", "parse_http_date", h.parse_http_date, header_texts)
    per_text("headers", "parse_www_authenticate", h.parse_www_authenticate, header_texts)
    per_text("headers", "parse_proxy_status", h.parse_proxy_status, header_texts)
    per_text(
        "headers",
        "parse_rate_limits",
        lambda t: h.parse_rate_limits([("RateLimit", t), ("X-RateLimit-Reset", t)]),
        header_texts,
    )
    per_text("headers", "bearer_error", lambda t: h.bearer_error([("WWW-Authenticate", t)]), header_texts)
    per_text("headers", "find_request_id", lambda t: h.find_request_id([("X-Request-Id", t)]), header_texts)
    per_text("headers", "header_view", lambda t: h.header_view([("A", t)] * 4), header_texts)
    per_text("classify", "classify (body)", lambda t: classify(502, [], t))
    per_text(
        "classify",
        "classify (headers)",
        lambda t: classify(503, [("Retry-After", t), ("Proxy-Status", t)], ""),
        header_texts,
    )
    out.append(("inputs", "parse_curl", {k: (lambda v=v: parse_curl(v)) for k, v in curl_inputs(size, texts).items()}))
    out.append(("inputs", "parse_har", {k: (lambda v=v: parse_har(v)) for k, v in har_inputs(size, workdir).items()}))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=MB, help="bytes per input (default 1 MB)")
    parser.add_argument("--repeat", type=int, default=3, help="calls per input; the best counts")
    parser.add_argument("--only", help="measure only functions whose group or name contains this")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    failures: list[str] = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for group, name, calls in functions(args.size, Path(tmp)):
            if args.only and args.only not in group and args.only not in name:
                continue
            results = {label: measure(call, args.repeat) for label, call in calls.items()}
            # The slowest input by CPU time: on a shared machine, wall time also counts the other tenants.
            worst = max(results, key=lambda label: results[label][1])
            wall, cpu, outcome = results[worst]
            failures += [f"{name} on {label}: {o}" for label, (_, _, o) in results.items() if o.startswith("RAISED")]
            scale = 1000 * MB / args.size
            over = sum(1 for _, cpu_s, _ in results.values() if cpu_s * scale > BAR_MS)
            rows.append((group, name, cpu * scale, wall * scale, worst, outcome, len(calls), over))
            print(f"  {name}: {cpu * scale:.1f} ms/MB CPU ({worst})", file=sys.stderr, flush=True)
    print(f"\n{args.size} bytes per input, best of {args.repeat}; slowest input per function (by CPU time)\n")
    print(f"| group | function | inputs | over {BAR_MS:.0f} ms/MB | CPU ms/MB | wall ms/MB | slowest input | outcome |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for group, name, cpu_ms, wall_ms, worst, outcome, count, over in rows:
        print(f"| {group} | `{name}` | {count} | {over} | {cpu_ms:.1f} | {wall_ms:.1f} | {worst} | {outcome} |")
    if failures:
        print("\nRaised (totality bugs):\n" + "\n".join(f"- {line}" for line in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
