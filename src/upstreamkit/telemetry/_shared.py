"""What the Prometheus and OpenTelemetry hooks share: low-cardinality, redacted label values, and buckets.

A label value must never carry a secret and must come from a small set, or the time-series database pays
for every distinct value forever. So an upstream is reduced to ``scheme://host:port`` (no userinfo, path,
query or fragment), a method outside the standard set becomes ``OTHER``, and a kind outside the taxonomy
becomes ``other``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from upstreamkit.core.redact import redact_text
from upstreamkit.errors import ErrorKind

__all__ = [
    "BREAKER_STATE_VALUES",
    "DURATION_BUCKETS",
    "RECOVERY_BUCKETS",
    "kind_label",
    "method_label",
    "reason_label",
    "state_label",
    "upstream_label",
]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_KINDS = frozenset(kind.value for kind in ErrorKind)
# A callable's qualified name (the retry decorator's upstream) or a host: letters, digits and a little
# punctuation, nothing that could hold a space-separated credential.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:<>-]{1,100}")
_MAX_LABEL = 100

DURATION_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Attempt latency, seconds: 5 ms (a cached or loopback answer) to 30 s (a gateway's usual timeout)."""
RECOVERY_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Time-to-recover, seconds: a blip absorbed by one retry to an hour-long outage."""

BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}
"""The breaker-state gauge's values: 0 closed, 1 half-open, 2 open (higher is worse)."""


def upstream_label(upstream: str) -> str:
    """``scheme://host:port`` of a URL; anything else redacted and cut to 100 characters.

    >>> upstream_label("https://user:pw@API.example.com/v1/items?access_token=abc")
    'https://api.example.com:443'
    """
    if "://" in upstream:
        label = _origin(upstream)
        if label is not None:
            return label
    if _PLAIN_NAME.fullmatch(upstream):
        return upstream
    return redact_text(upstream)[:_MAX_LABEL]


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:  # an invalid port or a malformed IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if not host or not scheme:
        return None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}" if port is not None else f"{scheme}://{shown}"


def method_label(method: str) -> str:
    """The method in upper case when it is a standard one, else ``OTHER``."""
    upper = method.upper()
    return upper if upper in _METHODS else "OTHER"


def kind_label(kind: object) -> str:
    """The kind's value when it belongs to the taxonomy, else ``other``."""
    value = str(kind)
    return value if value in _KINDS else "other"


def reason_label(reason: str) -> str:
    """A retry reason reduced to its kind: ``"rate_limited: Retry-After 2s"`` becomes ``rate_limited``.

    Reasons carry numbers (delays, counts); as label values they would make one series per number.
    """
    return kind_label(reason.partition(":")[0].strip())


def state_label(state: str) -> str:
    """A breaker state (``closed``, ``half_open``, ``open``), else ``other``."""
    value = str(state)
    return value if value in BREAKER_STATE_VALUES else "other"
