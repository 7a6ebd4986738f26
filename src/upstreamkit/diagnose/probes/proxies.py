"""Phase "proxies": which proxy environment variables apply to this URL, as httpx itself decides.

The http phase sends with ``trust_env=True``, so ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` and ``NO_PROXY``
(either case; the lower-case one wins, as in :func:`urllib.request.getproxies`) route the request exactly as
they route the user's own httpx calls. The verdict comes from httpx's own tables
(``httpx._utils.get_environment_proxies`` and ``URLPattern``, private but the only way to agree with httpx
exactly); only the attribution of a bypass to one ``NO_PROXY`` entry mirrors httpx's mapping of an entry to a
pattern, because httpx keeps no record of which entry made which pattern.

Facts:

- ``proxy.url`` (str | None): the proxy the request goes through, redacted (proxy URLs carry passwords).
- ``proxy.var`` (str | None): the environment variable it came from (``HTTPS_PROXY``, ``http_proxy`` ...).
- ``proxy.applies`` (bool): the request goes through a proxy.
- ``proxy.bypassed_by`` (str | None): the ``NO_PROXY`` entry that sends it direct although a proxy is set
  (``*`` when ``NO_PROXY=*``).
- ``proxy.vars`` (list[str]): every proxy variable set in the environment (names only).

Status: failed when a proxy applies and the tcp or http phase failed ("the request goes through proxy X:
check it"); warning when a proxy applies; ok otherwise.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from urllib.request import getproxies

import httpx
from httpx._utils import URLPattern, get_environment_proxies, is_ipv4_hostname, is_ipv6_hostname

from upstreamkit.core.redact import redact_url
from upstreamkit.diagnose.model import PhaseResult, PhaseStatus, ProbeContext

__all__ = ["ProxyMatch", "match_proxy", "probe"]

_SCHEMES = ("http", "https", "all")


@dataclass(frozen=True, slots=True)
class ProxyMatch:
    """How the environment routes one URL: through ``url`` (raw: redact before showing) or direct."""

    url: str | None
    var: str | None
    bypassed_by: str | None
    variables: tuple[str, ...]

    @property
    def applies(self) -> bool:
        """True when the request goes through a proxy."""
        return self.url is not None


def _variable(scheme: str) -> str | None:
    """The environment variable that set the proxy for ``scheme``: the lower-case one wins, as in urllib."""
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        if os.environ.get(name):
            return name
    return None


def _no_proxy_pattern(entry: str) -> str:
    """The URLPattern key httpx builds for one NO_PROXY entry (mirrors ``get_environment_proxies``)."""
    if "://" in entry:
        return entry
    if is_ipv4_hostname(entry) or entry.lower() == "localhost":
        return f"all://{entry}"
    if is_ipv6_hostname(entry):
        return f"all://[{entry}]"
    return f"all://*{entry}"


def _matches(pattern: str, url: httpx.URL) -> bool:
    try:
        return URLPattern(pattern).matches(url)
    except (ValueError, httpx.InvalidURL):  # an entry httpx could not parse either
        return False


def match_proxy(url: str) -> ProxyMatch:
    """Which proxy (if any) httpx with ``trust_env=True`` uses for ``url``, and why."""
    variables = tuple(sorted(name for name in os.environ if name.lower().endswith("_proxy") and os.environ[name]))
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL:
        return ProxyMatch(None, None, None, variables)
    proxies = getproxies()
    configured = [scheme for scheme in _SCHEMES if proxies.get(scheme)]
    entries = [entry.strip() for entry in proxies.get("no", "").split(",") if entry.strip()]
    wanted = [scheme for scheme in configured if scheme in ("all", target.scheme)]
    if not wanted:
        return ProxyMatch(None, None, None, variables)
    if "*" in entries:
        return ProxyMatch(None, None, "*", variables)
    mounts = get_environment_proxies()
    # httpx tries its mounts most specific first; the first pattern that matches decides.
    for pattern in sorted(URLPattern(key) for key in mounts):
        if not pattern.matches(target):
            continue
        proxy = mounts[pattern.pattern]
        if proxy is None:
            entry = next((e for e in entries if _matches(_no_proxy_pattern(e), target)), pattern.pattern)
            return ProxyMatch(None, None, entry, variables)
        scheme = pattern.pattern.partition("://")[0]
        return ProxyMatch(proxy, _variable(scheme), None, variables)
    return ProxyMatch(None, None, None, variables)


def probe(ctx: ProbeContext) -> PhaseResult:
    """Say which proxy variables route this request, and blame the proxy when the connection failed."""
    began = time.perf_counter()
    found = match_proxy(ctx.request.url)
    shown = redact_url(found.url) if found.url is not None else None
    facts = {
        "proxy.url": shown,
        "proxy.var": found.var,
        "proxy.applies": found.applies,
        "proxy.bypassed_by": found.bypassed_by,
        "proxy.vars": list(found.variables),
    }
    lines = [f"{name} is set" for name in found.variables] or ["no proxy variables are set"]
    status: PhaseStatus
    if found.applies:
        broken = [name for name in ("tcp", "http") if (r := ctx.results.get(name)) is not None and r.status == "failed"]
        if broken:
            status = "failed"
            detail = f"the request goes through proxy {shown} ({found.var}) and {' and '.join(broken)} failed: check it"
        else:
            status, detail = "warning", f"the request goes through proxy {shown} ({found.var})"
    elif found.bypassed_by is not None:
        status, detail = "ok", f"direct: NO_PROXY entry {found.bypassed_by!r} bypasses the proxy"
    elif found.variables:
        status, detail = "ok", "direct: no proxy variable applies to this URL"
    else:
        status, detail = "ok", "direct: no proxy variables set"
    lines.append(detail)
    ctx.log.append(f"proxies: {detail}")
    return PhaseResult("proxies", status, (time.perf_counter() - began) * 1000, detail, facts, lines)
