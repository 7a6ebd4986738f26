"""``python -m upstreamkit.gateway.observability rules|grafana|path``: print a shipped file (or where they are)."""

from __future__ import annotations

import sys

from upstreamkit.gateway.observability import dashboard_text, directory, rules_text

_USAGE = "usage: python -m upstreamkit.gateway.observability rules|grafana|path"


def main(argv: list[str]) -> int:
    """Print the Prometheus rules, the Grafana dashboard, or their directory; a wrong word is exit 2."""
    if argv in (["-h"], ["--help"]):
        sys.stdout.write(_USAGE + "\n")
        return 0
    if len(argv) != 1:
        sys.stderr.write(f"error: {_USAGE}\n")
        return 2
    what = argv[0]
    if what == "rules":
        sys.stdout.write(rules_text())
    elif what == "grafana":
        sys.stdout.write(dashboard_text())
    elif what == "path":
        sys.stdout.write(f"{directory()}\n")
    else:
        sys.stderr.write(f"error: unknown file {what!r}: {_USAGE}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
