"""Where the diagnosis ran: interpreter, OS, library versions, proxy settings, clocks; for the support bundle.

A provider's first questions are "which client, which TLS library, through which proxy, and is your clock
right?". This answers them without leaking: proxy URLs (which carry passwords) go through
:func:`~upstreamkit.core.redact.redact_url`, and nothing that names the machine or its user (host name,
user name, home or executable paths) is collected.
"""

from __future__ import annotations

import os
import platform
import ssl
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from upstreamkit._version import __version__
from upstreamkit.core.redact import redact_url
from upstreamkit.diagnose.probes.proxies import match_proxy

__all__ = ["PACKAGES", "PROXY_VARIABLES", "collect_environment"]

PACKAGES = ("httpx", "httpcore", "h11", "h2", "certifi", "cryptography", "dnspython", "PyJWT", "rich")
"""The distributions whose versions decide how a request is sent, verified and resolved."""

PROXY_VARIABLES = tuple(
    name for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY") for name in (base, base.lower())
)
"""The proxy variables httpx (``trust_env``) and curl read, in both cases."""


def collect_environment(url: str) -> dict[str, Any]:
    """A JSON-ready description of this machine's client side, and how its proxy settings route ``url``.

    Which proxy applies is decided as httpx decides it (the proxies phase's :func:`match_proxy`).
    """
    env = os.environ
    now = time.time()
    local = datetime.fromtimestamp(now).astimezone()
    offset = local.utcoffset()
    route = match_proxy(url)
    return {
        "upstreamkit": __version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "compiler": platform.python_compiler(),
        },
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "platform": platform.platform(terse=True),
            "machine": platform.machine(),
        },
        "openssl": ssl.OPENSSL_VERSION,
        "packages": {name: _version(name) for name in PACKAGES},
        "proxy": {
            "variables": {name: _proxy_value(name, env[name]) for name in PROXY_VARIABLES if env.get(name)},
            "url": redact_url(url),
            "applies": route.applies,
            "via": redact_url(route.url) if route.url else None,
            "from_variable": route.var,
            "bypassed_by": route.bypassed_by,
        },
        "time": {
            "epoch": now,
            "utc": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "utc_offset_seconds": int(offset.total_seconds()) if offset is not None else 0,
            "timezone": local.tzname(),
            "monotonic": time.monotonic(),
        },
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _proxy_value(name: str, value: str) -> str:
    # NO_PROXY is a list of hosts, not a URL; the proxy URLs may carry user:password@.
    if name.lower() == "no_proxy":
        return value
    if "://" in value:
        return redact_url(value)
    return redact_url(f"http://{value}").removeprefix("http://")  # written without a scheme: shown without
