"""``python -m upstreamkit``: the same as the ``upstreamkit`` command."""

from upstreamkit.cli.app import main

main()
