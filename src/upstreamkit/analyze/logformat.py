"""An nginx ``log_format`` string compiled into a :class:`~upstreamkit.analyze.formats.LogFormat` (as GoAccess
takes a format string): each ``$variable`` becomes a named group, the text between them is matched literally.

A variable's group stops at the character that follows it in the format (``"``, ``]``, a space), so the
regex stays linear on any line. nginx's per-attempt lists (``$upstream_addr`` is ``10.0.0.1:80, 10.0.0.2:80``
after a retry) are matched whole; the steps keep the last attempt's value. Variables are read by their nginx
names: ``$remote_addr`` is the client, ``$request_time`` the duration, ``$upstream_response_time`` the
upstream time, ``$proxy_upstream_name`` (ingress-nginx) or ``$upstream_addr`` the upstream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from upstreamkit.analyze.formats import LogFormat

__all__ = ["LogFormatError", "compile_log_format"]

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
# The columns an nginx variable fills, first listed first (a format with both upstream names uses the first).
_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "client": ("remote_addr", "http_x_forwarded_for"),
    "request": ("request",),
    "endpoint": ("request_uri", "uri"),
    "method": ("request_method",),
    "status": ("status",),
    "upstream_status": ("upstream_status",),
    "duration_ms": ("request_time",),
    "upstream_ms": ("upstream_response_time",),
    "upstream": ("proxy_upstream_name", "upstream_addr"),
    "gateway": ("hostname",),
}
_TIMES: Mapping[str, str] = {
    "time_local": "%d/%b/%Y:%H:%M:%S %z",
    "time_iso8601": "rfc3339",
    "msec": "epoch",
}
_SECONDS = ("request_time", "upstream_response_time")
# nginx writes these as lists when a request tried several upstreams: "a, b" or, across internal redirects, "a : b"
_LISTS = frozenset(
    {
        "upstream_addr",
        "upstream_status",
        "upstream_response_time",
        "upstream_response_length",
        "upstream_connect_time",
        "upstream_header_time",
        "upstream_bytes_received",
    }
)


class LogFormatError(ValueError):
    """The ``log_format`` string cannot be used: no time variable, a variable twice, or no variable at all."""


def _group(name: str, stop: str) -> str:
    if name == "request" or name.startswith(("http_", "sent_http_")):
        return f"(?P<{name}>(?:[^{re.escape(stop)}\\\\]|\\\\.)*)" if stop else f"(?P<{name}>.*)"
    if name in _LISTS and stop == " ":
        return f"(?P<{name}>[^ ,]*(?:(?:, | : )[^ ,]*){{0,32}})"
    return f"(?P<{name}>[^{re.escape(stop)}]*)" if stop else f"(?P<{name}>.*)"


def compile_log_format(text: str, *, name: str = "nginx-log-format") -> LogFormat:
    """The :class:`LogFormat` for nginx ``log_format`` ``text``; raises LogFormatError when it cannot serve."""
    pieces = _VARIABLE.split(text)
    # split() yields: literal, braced name, bare name, literal, ...
    literals, names = pieces[0::3], [braced or bare for braced, bare in zip(pieces[1::3], pieces[2::3], strict=True)]
    if not names:
        raise LogFormatError("--log-format has no $variable")
    if not all(variable.isidentifier() for variable in names):
        raise LogFormatError("--log-format: a $variable must start with a letter ($1..$9 are regex captures)")
    if len(set(names)) != len(names):
        raise LogFormatError("--log-format names a $variable twice")
    time_field = next((variable for variable in names if variable in _TIMES), None)
    if time_field is None:
        raise LogFormatError("--log-format needs a time: $time_local, $time_iso8601 or $msec")
    parts = [re.escape(literals[0])]
    for index, variable in enumerate(names):
        following = literals[index + 1]
        parts.append(_group(variable, following[:1]))
        parts.append(re.escape(following))
    fields = {}
    for column, candidates in _COLUMNS.items():
        chosen = next((variable for variable in candidates if variable in names), None)
        if chosen is not None:
            fields[column] = chosen
    scale = {column: 1000.0 for column in ("duration_ms", "upstream_ms") if fields.get(column) in _SECONDS}
    return LogFormat(
        name=name,
        kind="regex",
        time_field=time_field,
        time_format=_TIMES[time_field],
        request=True,
        fields=fields,
        regex=re.compile("".join(parts)),
        scale=scale,
    )
