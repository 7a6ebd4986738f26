"""A deterministic ingress-nginx ``upstreaminfo`` access log with a planted incident, and its truth (issue 14).

    .venv/bin/python bench/gen_upstreaminfo.py /tmp/upstreaminfo.log              # 1,000,000 lines, ~230 MB
    .venv/bin/python bench/gen_upstreaminfo.py /tmp/small.log --lines 20000 --gzip

Two hours of traffic (12:00-14:00 UTC on 2026-11-28) from 20,000 addresses and 40 API users through six ingress
upstreams, with a background of rare failures (0.3% of requests: a 502, 503, 504 or 429 now and then). The
planted incident, written to ``FILE.truth.json`` beside the log:

- from ``incident.start`` to ``incident.end`` the ``default-payments-8080`` upstream fails 70% of its requests:
  connection refused (``502`` with ``$upstream_status`` ``502, 502`` after nginx's retry), upstream timeouts
  (``504``, ``$upstream_response_time`` 60 s) and no live upstreams (``503``, no ``$upstream_addr``); other
  upstreams fail 8% of theirs (a shared dependency slowing down);
- during it the credential ``revoked.user`` (``$remote_user``) is revoked: every one of its requests is a ``401``
  from ``credential.revoked_at`` until ``credential.rotated_at``, when its owner switches to ``rotated.user``.

The same ``--seed`` always writes the same bytes. Lines are written in time order, several per second.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] '
    "$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"
)
START = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC).timestamp()
DURATION_S = 7200.0
INCIDENT = (START + 2833.4, START + 3941.7)  # 12:47:13.4 .. 13:05:41.7: not on any bucket's edge
REVOKED = (START + 3112.0, START + 3598.0)  # 12:51:52 .. 12:59:58, inside the incident
FAILING_UPSTREAM = "default-payments-8080"
UPSTREAMS = (
    ("default-payments-8080", "10.4.1.{}:8080", 0.22),
    ("default-orders-8080", "10.4.2.{}:8080", 0.30),
    ("default-users-8080", "10.4.3.{}:8080", 0.20),
    ("default-search-9000", "10.4.4.{}:9000", 0.15),
    ("default-static-80", "10.4.5.{}:80", 0.08),
    ("default-auth-8443", "10.4.6.{}:8443", 0.05),
)
ENDPOINTS = {
    "default-payments-8080": ("POST /v1/payments", "GET /v1/payments/{id}", "POST /v1/payments/{id}/capture"),
    "default-orders-8080": ("GET /v1/orders/{id}", "GET /v1/orders?page={n}", "POST /v1/orders"),
    "default-users-8080": ("GET /v1/users/{id}", "PATCH /v1/users/{id}", "GET /v1/users/{id}/settings"),
    "default-search-9000": ("GET /v1/search?q=item{n}", "GET /v1/search/suggest?q=a{n}"),
    "default-static-80": ("GET /static/app.{hex}.js", "GET /static/logo.png"),
    "default-auth-8443": ("POST /v1/token", "GET /v1/session/{uuid}"),
}
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "python-httpx/0.28.1",
    "okhttp/4.12.0",
    "Go-http-client/2.0",
    "curl/8.5.0",
)
USERS = (*tuple(f"svc-{index:02d}" for index in range(38)), "revoked.user", "-")
CLIENTS = 20_000
"""Distinct client addresses (a pool, as real traffic repeats its callers)."""
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _time_local(epoch: float) -> str:
    moment = datetime.fromtimestamp(int(epoch), UTC)
    return f"{moment.day:02d}/{MONTHS[moment.month - 1]}/{moment.year}:{moment:%H:%M:%S} +0000"


def _request(rng: random.Random, upstream: str) -> str:
    template = rng.choice(ENDPOINTS[upstream])
    path = template.format(
        id=rng.randrange(1, 200_000),
        n=rng.randrange(1, 50),
        hex=f"{rng.getrandbits(40):010x}",
        uuid=f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
        f"a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}",
    )
    return f"{path} HTTP/1.1"


def _outcome(rng: random.Random, upstream: str, user: str, t: float) -> tuple[int, str, float | None, str]:
    """(status, upstream status list, upstream seconds (None: no upstream), upstream addr shape)."""
    in_incident = INCIDENT[0] <= t < INCIDENT[1]
    if user == "revoked.user" and REVOKED[0] <= t < REVOKED[1]:
        return 401, "401", rng.uniform(0.002, 0.01), "one"
    if in_incident and upstream == FAILING_UPSTREAM and rng.random() < 0.7:
        pick = rng.random()
        if pick < 0.5:
            return 502, "502, 502", None, "two"  # refused on both peers: nginx's proxy_next_upstream
        if pick < 0.8:
            return 504, "504", 60.0 + rng.uniform(0.0, 0.004), "one"
        return 503, "-", None, "none"  # no live upstreams: no peer was tried
    if in_incident and rng.random() < 0.08:
        return 504, "504", 60.0 + rng.uniform(0.0, 0.004), "one"
    if rng.random() < 0.003:
        status = rng.choice((502, 503, 504, 429))
        return status, str(status), rng.uniform(0.001, 2.0), "one"
    status = 201 if rng.random() < 0.05 else (404 if rng.random() < 0.02 else 200)
    return status, str(status), rng.lognormvariate(-3.5, 0.9), "one"


def write_log(out: IO[str], lines: int, seed: int) -> dict[str, int]:
    """Write ``lines`` lines; the counts the truth records (statuses, planted failures)."""
    rng = random.Random(seed)
    names = [name for name, _, _ in UPSTREAMS]
    weights = [weight for _, _, weight in UPSTREAMS]
    addrs = {name: addr for name, addr, _ in UPSTREAMS}
    step = DURATION_S / lines
    counts: dict[str, int] = {"incident_failures": 0, "revoked_401": 0}
    batch: list[str] = []
    clients = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(CLIENTS)]
    for index in range(lines):
        t = START + index * step
        upstream = rng.choices(names, weights)[0]
        user = USERS[rng.randrange(len(USERS))]
        if user == "revoked.user" and t >= REVOKED[1]:
            user = "rotated.user"
        status, upstream_status, upstream_s, shape = _outcome(rng, upstream, user, t)
        counts[str(status)] = counts.get(str(status), 0) + 1
        if INCIDENT[0] <= t < INCIDENT[1] and status >= 500:
            counts["incident_failures"] += 1
        if status == 401:
            counts["revoked_401"] += 1
        addr = addrs[upstream].format(rng.randrange(1, 9))
        if shape == "two":
            addr_text, length_text, time_text = f"{addr}, {addrs[upstream].format(9)}", "0, 0", "0.001, 0.001"
            request_s = 0.002 + rng.uniform(0.0, 0.002)
        elif shape == "none":
            addr_text, length_text, time_text = "-", "-", "-"
            request_s = 0.0
        else:
            assert upstream_s is not None
            addr_text, length_text, time_text = addr, str(rng.randrange(0, 20000)), f"{upstream_s:.3f}"
            request_s = upstream_s + rng.uniform(0.0, 0.002)
        body = rng.randrange(0, 20000) if status < 300 else rng.randrange(100, 600)
        batch.append(
            f"{clients[rng.randrange(CLIENTS)]} - {user} [{_time_local(t)}] "
            f'"{_request(rng, upstream)}" {status} {body} "-" "{rng.choice(AGENTS)}" {rng.randrange(200, 900)} '
            f"{request_s:.3f} [{upstream}] [] {addr_text} {length_text} {time_text} {upstream_status} "
            f"{rng.getrandbits(128):032x}\n"
        )
        if len(batch) >= 10_000:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch))
    return counts


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def generator_version() -> str:
    """This script's own fingerprint: a log written by another version of it is written again by the bench."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    """Write the log and ``PATH.truth.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--gzip", action="store_true", help="write gzip (the path should end in .gz)")
    args = parser.parse_args(argv)
    with (
        gzip.open(args.path, "wt", encoding="ascii", compresslevel=6)
        if args.gzip
        else args.path.open("w", encoding="ascii")
    ) as out:
        counts = write_log(out, args.lines, args.seed)
    truth = {
        "path": str(args.path),
        "lines": args.lines,
        "seed": args.seed,
        "log_format": LOG_FORMAT,
        "window": {"start": _rfc3339(START), "end": _rfc3339(START + DURATION_S * (args.lines - 1) / args.lines)},
        "incident": {"start": _rfc3339(INCIDENT[0]), "end": _rfc3339(INCIDENT[1]), "upstream": FAILING_UPSTREAM},
        "credential": {"name": "revoked.user", "revoked_at": _rfc3339(REVOKED[0]), "rotated_at": _rfc3339(REVOKED[1])},
        "counts": counts,
        "generator": generator_version(),
    }
    Path(f"{args.path}.truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    sys.stderr.write(f"wrote {args.lines} lines to {args.path}, truth to {args.path}.truth.json\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
