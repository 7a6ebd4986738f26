"""Start-up: wall time of whole `upstreamkit` processes that do little besides starting (issue 14's benchmark
times `upstreamkit analyze FILE --json` as a whole process against a bare `python -c "import duckdb; ..."`).

Each command runs ``--runs`` times in a fresh process; the table gives the minimum wall time (the figure least
disturbed by other work on a shared machine), the median, and the minimum CPU time (user + system, every
thread: DuckDB's threads count too), which waiting for a busy core does not inflate.

``--src DIR`` puts DIR first on PYTHONPATH, to measure another tree of the sources (``git archive main src |
tar -x -C /tmp/base`` then ``--src /tmp/base/src``). Python reads bytecode from ``__pycache__`` when it is there
and writes none when PYTHONDONTWRITEBYTECODE is set: ``python -m compileall -q src`` once, or not, decides
whether the runs compile upstreamkit's sources each time (the header line says which).

    .venv/bin/python bench/startup.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TIMEOUT_S = 120.0
SCRATCH = Path(tempfile.gettempdir()) / "upstreamkit-startup"


def _commands(log: Path) -> list[tuple[str, list[str]]]:
    python, cli = str(BIN / "python"), str(BIN / "upstreamkit")
    return [
        ("python -c pass", [python, "-c", "pass"]),
        ('python -c "import duckdb"', [python, "-c", "import duckdb"]),
        ('python -c "import upstreamkit"', [python, "-c", "import upstreamkit"]),
        ("upstreamkit --help", [cli, "--help"]),
        ("upstreamkit analyze --help", [cli, "analyze", "--help"]),
        ("upstreamkit explain --help", [cli, "explain", "--help"]),
        (f"upstreamkit analyze {log.name} --json", [cli, "analyze", str(log), "--json"]),
    ]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall times and CPU times (user + system, all threads) of ``runs`` runs of ``argv``."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, start = _cpu(), time.perf_counter()
        devnull = subprocess.DEVNULL
        with subprocess.Popen(argv, env=env, stdout=devnull, stderr=devnull) as process:  # noqa: S603 - ours
            # bounded by a timer, not wait(timeout=): that one polls in steps of up to 50 ms, which the times show
            watchdog = threading.Timer(TIMEOUT_S, process.kill)
            watchdog.start()
            try:
                code = process.wait()
            finally:
                watchdog.cancel()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        if code != 0:
            raise SystemExit(f"{' '.join(argv)} exited with {code}")
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--log", type=Path, default=SCRATCH / "small.log")
    parser.add_argument("--lines", type=int, default=20_000, help="lines of the log when it is generated")
    parser.add_argument("--src", type=Path, help="measure this tree of the sources (first on PYTHONPATH)")
    args = parser.parse_args()
    if not 1 <= args.runs <= 100:
        parser.error("--runs is from 1 to 100")
    if not args.log.exists():
        args.log.parent.mkdir(parents=True, exist_ok=True)
        generate = [sys.executable, str(HERE / "gen_upstreaminfo.py"), str(args.log), "--lines", str(args.lines)]
        subprocess.run(generate, check=True, stdout=subprocess.DEVNULL, timeout=300)  # noqa: S603 - our script
    env = dict(os.environ)
    if args.src is not None:
        env["PYTHONPATH"] = str(args.src.resolve())
    tree = (args.src or HERE.parent / "src").resolve()
    cached = any(tree.glob("upstreamkit/cli/__pycache__/app.*.pyc"))
    print(
        f"python {sys.version.split()[0]}, {args.runs} runs, src {tree}, bytecode "
        + ("cached" if cached else "not cached" if env.get("PYTHONDONTWRITEBYTECODE") else "written on first run")
    )
    print("| command | wall min s | wall median s | CPU min s |\n|---|---:|---:|---:|")
    for label, argv in _commands(args.log):
        walls, cpus = _time(argv, env, args.runs)
        print(f"| `{label}` | {min(walls):.3f} | {statistics.median(walls):.3f} | {min(cpus):.3f} |", flush=True)


if __name__ == "__main__":
    main()
