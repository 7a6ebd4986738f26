"""An error log explains its access log: a failed request known only by its status takes the error log's cause.

nginx writes one 502 for a refused connection, a reset, a closed one or a failed TLS handshake; its access log
line says "502" (read as ``upstream_outage``), its error log says ``connect() failed (111: Connection refused)``
for the same request. When a run has both, each failed request whose kind came from its status alone takes
the cause the error log gave for the same endpoint within a second (its most frequent one there; of two as
frequent, the first by name, so that a run gives the same answer every time), so the
incident reads "connection refused", not "outage". One pass, linear: the error events are grouped per endpoint
and second first (each also counts for the seconds on either side: whole-second timestamps round apart).
"""

from __future__ import annotations

from typing import Any

__all__ = ["STATUS_KINDS", "explain_requests"]

STATUS_KINDS = ("upstream_outage", "http_response_timeout")
"""What a 5xx status alone is read as (502/503 and 504): the kinds an error log's line can make precise."""


def explain_requests(con: Any) -> int:
    """Give each failed request of table ``events`` whose kind is one of :data:`STATUS_KINDS` the cause the
    error events name for its endpoint within a second; the number of requests changed."""
    kinds = ", ".join(f"'{kind}'" for kind in STATUS_KINDS)  # module constants, not input
    row = con.execute(
        f"""
        UPDATE events SET kind = causes.kind
        FROM (
            SELECT endpoint, second, first(kind ORDER BY lines DESC, kind) AS kind
            FROM (
                SELECT endpoint, CAST(floor(ts) AS BIGINT) + shift AS second, kind, count(*) AS lines
                FROM events, (VALUES (-1), (0), (1)) AS shifts(shift)
                WHERE NOT is_request AND failed AND endpoint IS NOT NULL AND kind <> 'upstream_outage'
                GROUP BY ALL
            )
            GROUP BY endpoint, second
        ) AS causes
        WHERE events.is_request AND events.failed AND events.kind IN ({kinds})
          AND events.endpoint = causes.endpoint AND CAST(floor(events.ts) AS BIGINT) = causes.second
        """  # noqa: S608 - the interpolated list is this module's constant
    ).fetchone()
    return int(row[0]) if row else 0
