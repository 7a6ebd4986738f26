"""Export the gateway's routes and policies to the engines people already run: nginx and HAProxy.

``render(settings, "nginx")`` returns a complete config file (``nginx -t -c FILE`` and ``haproxy -c -f FILE``
accept it as it is); ``snippet=True`` only the part to include in an existing config. Whatever an engine
cannot express is listed, from :data:`~.limits.LIMITS`, in a comment at the top of the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.gateway.export.haproxy import render_haproxy
from upstreamkit.gateway.export.limits import ENGINES, LIMITS, Limit, limits_for
from upstreamkit.gateway.export.nginx import render_nginx

if TYPE_CHECKING:
    from upstreamkit.gateway.config import GatewaySettings

__all__ = ["ENGINES", "LIMITS", "Limit", "limits_for", "render", "render_haproxy", "render_nginx"]


def render(settings: GatewaySettings, engine: str, *, snippet: bool = False, runtime_dir: Path | None = None) -> str:
    """The config of ``engine`` (``nginx`` or ``haproxy``) for ``settings``."""
    if engine == "nginx":
        return render_nginx(settings, snippet=snippet, runtime_dir=runtime_dir)
    if engine == "haproxy":
        return render_haproxy(settings, snippet=snippet, runtime_dir=runtime_dir)
    raise ValueError(f"unknown format {engine!r}: expected one of {', '.join(ENGINES)}")
