"""``upstreamkit analyze`` on a 1M-line ingress-nginx ``upstreaminfo`` log, beside a bare DuckDB query and GoAccess.

    .venv/bin/python bench/analyze.py                         # generates /tmp/upstreamkit-bench/upstreaminfo.log once
    .venv/bin/python bench/analyze.py --log FILE --repeat 5   # a log written by bench/gen_upstreaminfo.py

Every peer is a whole process, started fresh, timed from start to exit, its peak RSS read from ``wait4``:

- ``upstreamkit analyze FILE --json`` (the ``.venv`` entry point): the whole analysis, JSON on stdout;
- bare DuckDB, the same file: ``read_csv`` with ``delim=' '`` and ``quote='"'`` (the access log's own columns)
  and ``GROUP BY`` the status column (the reference: the goal is at most 1.5x its time); also shown: one
  VARCHAR column per line, the status cut out with ``split_part``;
- GoAccess (Debian's ``goaccess``) with the matching ``--log-format``, writing its JSON report.

Peers run in turn, ``--repeat`` times (their order rotating), and the medians are reported. The analysis's
incident is checked against the generator's truth (``FILE.truth.json``): start and end within one bucket (60 s).
Goals (issue 14): at least 1.7M lines/s, at most 1.5x the bare query, at most 300 MiB, the incident found.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCRATCH = Path(tempfile.gettempdir()) / "upstreamkit-bench"
DEFAULT_LOG = SCRATCH / "upstreaminfo.log"
BUCKET_S = 60.0
GOAL_LINES_PER_S = 1_700_000
GOAL_RATIO = 1.5
GOAL_RSS_MIB = 300

_COLUMNS = "{" + ", ".join(f"'c{index:02d}': 'VARCHAR'" for index in range(24)) + "}"
BARE_COLUMNS = """
import duckdb, sys
rows = duckdb.sql(
    "SELECT c06 AS status, count(*) FROM read_csv(?, delim = ' ', quote = '\\"', escape = '\\\\', header = false,"
    " auto_detect = false, columns = COLUMNS, null_padding = true, strict_mode = false) GROUP BY 1 ORDER BY 2 DESC",
    params=[sys.argv[1]],
).fetchall()
print(rows)
""".replace("COLUMNS", _COLUMNS)
BARE_LINE = """
import duckdb, sys
rows = duckdb.sql(
    "SELECT split_part(line, ' ', 9) AS status, count(*) FROM read_csv(?, columns = {'line': 'VARCHAR'},"
    " delim = '', quote = '', escape = '', header = false, auto_detect = false, strict_mode = false)"
    " GROUP BY 1 ORDER BY 2 DESC",
    params=[sys.argv[1]],
).fetchall()
print(rows)
"""
GOACCESS_FORMAT = '%h - %e [%d:%t %^] "%r" %s %b "%R" "%u" %^ %T [%v] %^'


@dataclass
class Peer:
    """One program under test: how to run it on the log."""

    name: str
    argv: list[str]
    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    stdout: str = ""


def _run(peer: Peer, timeout_s: float) -> None:
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull, (SCRATCH / "stdout").open("w+b") as out:  # noqa: PTH123
        process = subprocess.Popen(peer.argv, stdout=out, stderr=devnull)  # noqa: S603 - our own argv
        deadline = started + timeout_s
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                raise SystemExit(f"{peer.name}: no answer within {timeout_s} s")
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        peer.stdout = out.read().decode("utf-8", "replace")
    if process.returncode != 0:
        raise SystemExit(f"{peer.name} exited {process.returncode}: {' '.join(peer.argv)}")
    peer.seconds.append(elapsed)
    peer.rss_mib.append(usage.ru_maxrss / 1024)  # kilobytes on Linux


def _moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _incident_check(document: dict[str, object], truth: dict[str, dict[str, str]]) -> tuple[str, bool]:
    incidents = document.get("incidents")
    start, end = _moment(truth["incident"]["start"]), _moment(truth["incident"]["end"])
    if not isinstance(incidents, list) or not incidents:
        return "no incident found", False
    best = min(incidents, key=lambda item: abs(_moment(item["start"]) - start))
    found_start, found_end = _moment(best["start"]), _moment(best["end"])
    ok = abs(found_start - start) <= BUCKET_S and abs(found_end - end) <= BUCKET_S
    return (
        f"truth {truth['incident']['start']} .. {truth['incident']['end']}; found {best['start']} .. {best['end']}"
        f" ({found_start - start:+.1f} s, {found_end - end:+.1f} s; {len(incidents)} incident(s))"
    ), ok


def _stale(log: Path) -> bool:
    """Whether the generated log was written by another version of the generator (its truth says which)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_upstreaminfo import generator_version  # noqa: PLC0415 - the bench's own script

    truth = Path(f"{log}.truth.json")
    return not truth.exists() or json.loads(truth.read_text(encoding="utf-8")).get("generator") != generator_version()


def main(argv: list[str] | None = None) -> int:
    """Run the peers, print the table and the checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run before giving up")
    parser.add_argument("--no-goaccess", action="store_true")
    parser.add_argument("--credential-field", help="also pass --credential-field to analyze ($remote_user)")
    args = parser.parse_args(argv)
    SCRATCH.mkdir(exist_ok=True)
    if not args.log.exists() or (args.log == DEFAULT_LOG and _stale(args.log)):
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_upstreaminfo.py"), str(args.log)], check=True)  # noqa: S603
    truth = json.loads(Path(f"{args.log}.truth.json").read_text(encoding="utf-8"))
    lines, size = truth["lines"], args.log.stat().st_size

    analyze = [str(BIN / "upstreamkit"), "analyze", str(args.log), "--json"]
    if args.credential_field:
        analyze += ["--credential-field", args.credential_field]
    peers = [
        Peer("upstreamkit analyze --json", analyze),
        Peer("bare DuckDB: read_csv columns + GROUP BY status", [sys.executable, "-c", BARE_COLUMNS, str(args.log)]),
        Peer("bare DuckDB: one column, split_part + GROUP BY", [sys.executable, "-c", BARE_LINE, str(args.log)]),
    ]
    goaccess = shutil.which("goaccess")
    if not args.no_goaccess:
        if goaccess is None:
            raise SystemExit("goaccess is missing: apt-get install goaccess (or --no-goaccess)")
        peers.append(
            Peer(
                "GoAccess --log-format ... -o report.json",
                [
                    goaccess,
                    str(args.log),
                    f"--log-format={GOACCESS_FORMAT}",
                    "--date-format=%d/%b/%Y",
                    "--time-format=%T",
                    "--no-progress",
                    "-o",
                    str(SCRATCH / "goaccess.json"),
                ],
            )
        )
    document: dict[str, object] = {}
    for round_index in range(args.repeat):
        for offset in range(len(peers)):
            peer = peers[(round_index + offset) % len(peers)]
            _run(peer, args.timeout)
            if peer is peers[0]:
                document = json.loads(peer.stdout)
    reference = statistics.median(peers[1].seconds)
    print(f"log: {args.log} ({lines:,} lines, {size / 1e6:.0f} MB); {args.repeat} runs each, medians")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print()
    print("| peer | seconds | lines/s | peak RSS MiB | time vs bare columns |")
    print("|---|---:|---:|---:|---:|")
    for peer in peers:
        seconds = statistics.median(peer.seconds)
        print(
            f"| {peer.name} | {seconds:.2f} | {lines / seconds / 1e6:.2f}M | {max(peer.rss_mib):.0f} |"
            f" {seconds / reference:.2f}x |"
        )
    ours = statistics.median(peers[0].seconds)
    check, found = _incident_check(document, truth)
    print()
    print(f"incident: {check}")
    print(
        f"goals: lines/s {lines / ours / 1e6:.2f}M (>= {GOAL_LINES_PER_S / 1e6}M: "
        f"{'met' if lines / ours >= GOAL_LINES_PER_S else 'NOT met'}); "
        f"vs bare {ours / reference:.2f}x (<= {GOAL_RATIO}x: "
        f"{'met' if ours / reference <= GOAL_RATIO else 'NOT met'}); "
        f"RSS {max(peers[0].rss_mib):.0f} MiB (<= {GOAL_RSS_MIB}: "
        f"{'met' if max(peers[0].rss_mib) <= GOAL_RSS_MIB else 'NOT met'}); "
        f"incident {'found' if found else 'NOT found'} within one bucket"
    )
    print(f"analyze: lines {document.get('lines')}, parsed {document.get('parsed')}, kinds {document.get('kinds')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
