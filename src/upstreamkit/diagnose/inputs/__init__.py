"""Where a request to diagnose can come from besides the command line: a pasted curl command, a HAR file.

::

    from upstreamkit.diagnose.inputs import parse_curl, parse_har

    parsed = parse_curl("curl -sS -H 'Authorization: Bearer ...' https://api.example.com/v1/orders -k")
    report = diagnose(parsed.request, parsed.apply(ProbeOptions()))

Both raise :class:`InputError` (a ``ValueError``) with a one-line, redacted message on input they cannot
use; the CLI turns it into exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from upstreamkit._lazy import lazy_exports

if TYPE_CHECKING:
    from upstreamkit.diagnose.inputs.base import InputError, ParsedInput
    from upstreamkit.diagnose.inputs.curl import parse_curl
    from upstreamkit.diagnose.inputs.har import parse_har
else:  # loaded on first use: every command's checks (cli.checks) use .base, few read a curl command or a HAR
    __getattr__, __dir__ = lazy_exports(
        globals(),
        {
            "upstreamkit.diagnose.inputs.base": ("InputError", "ParsedInput"),
            "upstreamkit.diagnose.inputs.curl": ("parse_curl",),
            "upstreamkit.diagnose.inputs.har": ("parse_har",),
        },
    )

__all__ = ["InputError", "ParsedInput", "parse_curl", "parse_har"]
