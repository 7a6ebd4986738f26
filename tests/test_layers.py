"""Dependencies point one way (DESIGN.md): the core imports no I/O library and none of the outer parts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import upstreamkit.core

CORE = Path(upstreamkit.core.__file__).parent
FORBIDDEN_THIRD_PARTY = {
    "httpx", "httpcore", "h11", "anyio", "asyncio", "aiohttp", "requests", "urllib3", "redis", "duckdb",
    "typer", "rich", "socket", "ssl", "http", "urllib.request", "dns", "prometheus_client", "opentelemetry",
    "uvicorn", "starlette", "httptools", "time",
}  # fmt: skip
FORBIDDEN_OWN = {"cli", "diagnose", "analyze", "simulator", "adapters", "gateway", "state", "telemetry", "clock"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_sources_import_nothing_outward() -> None:
    files = sorted(CORE.glob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN_THIRD_PARTY, f"{path.name}: {name}"
            assert name not in FORBIDDEN_THIRD_PARTY, f"{path.name}: {name}"
            if top == "upstreamkit":
                part = name.split(".")[1] if "." in name else ""
                assert part not in FORBIDDEN_OWN, f"{path.name} imports {name}"


def test_importing_the_core_loads_no_io_library() -> None:
    code = (
        "import sys\n"
        "import upstreamkit.core.classify, upstreamkit.core.backoff, upstreamkit.core.redact\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'httpx', 'httpcore', 'anyio', 'aiohttp',"
        " 'requests', 'urllib3', 'redis', 'duckdb', 'typer', 'rich'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
