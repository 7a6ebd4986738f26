"""The access log: one JSON object per line, per request. ``analyze`` reads it; the field names are a contract.

Fields (every line has every field; ``null`` where a value does not apply):

============================ ==============================================================================
``ts``                       when the request arrived, RFC 3339 UTC with milliseconds (``2026-11-28T14:00:00.123Z``)
``request_id``               the caller's ``X-Request-Id`` when it sent a usable one, else the one the gateway made
``method``                   request method
``path``                     the path the caller asked for; the query is dropped (it may carry secrets or PII)
``route``                    the matched route's prefix (``/pay``); null when no route matched
``upstream``                 the upstream's name; null when no route matched
``status``                   the status the caller got (600 in ``--status-mode 600``)
``upstream_status``          the status the upstream answered; null when it gave no response
``kind``                     the taxonomy's kind (``connection_refused``, ``rate_limited`` ...); null on success
``error``                    the envelope's ``error`` word (``gateway_timeout`` ...); null on success
``attempts``                 requests sent upstream for this one, retries included (0 when refused before any)
``duration_ms``              from the request's arrival (complete) to its answer
``upstream_ms``              time spent on upstream exchanges (connects included, waits between retries not);
                             null when none was made
``upstream_connect_ms``      time to open the connection of the last response; null when a pooled one was reused
``upstream_ttfb_ms``         from the request written upstream to the last response's first byte; null
                             without one
``bytes_in``                 request body bytes
``bytes_out``                response body bytes sent to the caller
``breaker``                  the upstream's circuit breaker state when the answer was given (``closed``,
                             ``open``, ``half_open``); null when the route has no breaker or matched no route
``client``                   the caller's address (the TCP peer; ``X-Forwarded-For`` is not trusted here)
``credential``               ``sha256:`` fingerprint of the credential the caller sent (Authorization,
                             Proxy-Authorization, X-Api-Key, Api-Key), never the credential; null without one
``upstream_request_id``      the request id the upstream returned in ``X-Request-Id``, when it differs
``gateway``                  this gateway instance's name
``region``                   the region from the config; null when unset
``degraded``                 ``stale`` when a failure (its ``kind`` logged) was answered with the last good
                             response (stale-if-error), ``fallback`` when with the route's fallback body;
                             null otherwise
``bypassed``                 the route's optional middleware bypassed through the admin API for this request
                             (``["retry", "breaker"]``); null when none
============================ ==============================================================================

Nothing secret is written: credentials appear only as fingerprints and the query string is never logged.
Lines are buffered and flushed at least once a second and at stop, so the hot path never waits on a disk.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["FIELDS", "AccessLog", "rfc3339_ms"]

FIELDS: tuple[str, ...] = (
    "ts",
    "request_id",
    "method",
    "path",
    "route",
    "upstream",
    "status",
    "upstream_status",
    "kind",
    "error",
    "attempts",
    "duration_ms",
    "upstream_ms",
    "upstream_connect_ms",
    "upstream_ttfb_ms",
    "bytes_in",
    "bytes_out",
    "breaker",
    "client",
    "credential",
    "upstream_request_id",
    "gateway",
    "region",
    "degraded",
    "bypassed",
)


_second: list[tuple[int, str]] = [(-1, "")]


def rfc3339_ms(epoch: float) -> str:
    """``2026-11-28T14:00:00.123Z`` for an epoch time."""
    whole = int(epoch)
    millis = int((epoch - whole) * 1000)
    cached_second, text = _second[0]
    if cached_second != whole:  # formatted once a second: strftime is most of this function's cost
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second[0] = (whole, text)
    return f"{text}.{millis:03d}Z"


# Built once; no circular check (records are flat dicts of scalars). ASCII escapes are valid JSON and cheaper.
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _line_json(record: dict[str, Any]) -> bytes:
    return (_encode(record) + "\n").encode("utf-8")


try:  # orjson (the `gateway` extra): a line in 0.4 us instead of 5 us, the log's main cost at 10k requests/s
    import orjson

    def _line(record: dict[str, Any]) -> bytes:
        try:
            return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:  # a lone surrogate (not UTF-8): json escapes it, the line is kept
            return _line_json(record)

except ImportError:  # pragma: no cover - the standard library's encoder: the same JSON, slower
    _line = _line_json


class AccessLog:
    """Writes records to a file (appended) or to stdout (``-``); buffered, flushed by :meth:`flush`."""

    def __init__(self, destination: str | Path) -> None:
        """Open ``destination`` (``-`` is stdout)."""
        self._owned = str(destination) != "-"
        # Held open for the gateway's life and closed by close(): a context manager cannot span that. Bytes: the
        # encoder writes UTF-8; stdout's byte layer after its text layer is flushed (its text layer when it has
        # no byte layer, as under a test's capture).
        self._stream: IO[Any]
        if self._owned:
            self._stream, self._bytes = Path(destination).open("ab", buffering=64 * 1024), True  # noqa: SIM115
        else:
            binary = getattr(sys.stdout, "buffer", None)
            sys.stdout.flush()
            self._stream, self._bytes = (binary, True) if binary is not None else (sys.stdout, False)

    def write(self, record: dict[str, Any]) -> None:
        """One line for one request (``record`` holds the :data:`FIELDS`)."""
        line = _line(record)
        self._stream.write(line if self._bytes else line.decode("utf-8"))

    def flush(self) -> None:
        """Push buffered lines to the file."""
        if not self._stream.closed:
            self._stream.flush()

    def close(self) -> None:
        """Flush, and close the file when this log opened it."""
        self.flush()
        if self._owned:
            self._stream.close()
