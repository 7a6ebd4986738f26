"""An error log's causes given to its access log's failed requests (analyze/correlate.py), on a hand-made table."""

from __future__ import annotations

import duckdb

from upstreamkit.analyze.correlate import explain_requests
from upstreamkit.analyze.engine import create_events


def _event(ts: float, kind: str, *, request: bool) -> tuple[object, ...]:
    return (ts, "/v1/orders/{id}", kind, request)


def test_the_most_frequent_cause_wins_and_a_tie_goes_to_the_first_by_name() -> None:
    con = duckdb.connect()
    create_events(con)
    rows = [
        _event(100.2, "upstream_outage", request=True),  # a 502, known by its status alone
        _event(100.4, "connection_refused", request=False),
        _event(100.5, "tls_handshake", request=False),
        _event(200.1, "upstream_outage", request=True),
        _event(200.2, "upstream_reset", request=False),
        _event(200.3, "upstream_reset", request=False),
        _event(200.4, "connection_refused", request=False),
    ]
    for ts, endpoint, kind, request in rows:
        con.execute(
            "INSERT INTO events (ts, endpoint, kind, failed, is_request, file) VALUES (?, ?, ?, true, ?, 0)",
            [ts, endpoint, kind, request],
        )
    assert explain_requests(con) == 2
    kinds = con.execute("SELECT ts, kind FROM events WHERE is_request ORDER BY ts").fetchall()
    assert kinds == [(100.2, "connection_refused"), (200.1, "upstream_reset")]
