"""What an engine cannot express of the gateway's policy, as data: rendered as a comment at the top of every
exported file (never silently dropped), and checked by the tests against the rendered text.

Each entry names the policy and says what the engine does instead, so an operator reading the file knows
where nginx or HAProxy will behave differently from ``upstreamkit gateway``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENGINES", "LIMITS", "Limit", "limits_for"]

ENGINES = ("nginx", "haproxy")


@dataclass(frozen=True, slots=True)
class Limit:
    """One policy an engine cannot express as the gateway does, and what the exported file does instead."""

    engine: str
    policy: str
    instead: str

    def line(self) -> str:
        """The comment line (without the comment marker)."""
        return f"{self.policy}: {self.instead}"


_NEITHER = (
    ("degraded mode", "stale_if_error and fallback are not exported: every failure gets the envelope"),
    ("bypass switches", "the admin API's bypass does not exist: every policy always applies"),
    ("connection cap", "max_connections_per_upstream and its queue are not exported: connections are not capped"),
)
"""What neither engine is given of the gateway's own features."""

LIMITS: tuple[Limit, ...] = (
    # nginx -------------------------------------------------------------------------------------------
    Limit("nginx", "retry budget", "not expressible; retries are capped per request by proxy_next_upstream_tries only"),
    Limit(
        "nginx",
        "retry backoff and Retry-After",
        "nginx retries at once on the next peer (no backoff, no jitter); an upstream 429 is never retried",
    ),
    Limit(
        "nginx",
        "retries on one upstream",
        "nginx only retries on another peer, so the upstream is listed once per attempt; "
        "max_fails counts failures per listed peer",
    ),
    Limit(
        "nginx",
        "idempotency keys",
        "a POST/PATCH with an Idempotency-Key is not retried after it was sent "
        "(proxy_next_upstream without non_idempotent); it is retried when it never left (connect failure)",
    ),
    Limit(
        "nginx",
        "circuit breaker",
        "passive health per peer (max_fails within fail_timeout, whole seconds); no failure-rate or slow-call "
        "trigger, no growing break, and after fail_timeout one live request is the half-open probe",
    ),
    Limit(
        "nginx",
        "per-try timeout",
        "proxy_read_timeout bounds the gap between two reads, not the whole response; "
        "proxy_next_upstream_timeout stops further tries but does not cut the attempt in flight",
    ),
    Limit(
        "nginx",
        "rate limit Retry-After",
        "the gateway's own 429 carries a fixed Retry-After (one token's time), not the next slot's time",
    ),
    Limit(
        "nginx",
        "failure kinds",
        "told apart from nginx's variables only: a connect timeout and a refused connect are known, "
        "a DNS or TLS failure shows as connection_refused, a truncated body passes as the upstream sent it",
    ),
    Limit(
        "nginx",
        "hop-by-hop fields",
        "fields named in a Connection header are not removed (the fixed list is)",
    ),
    Limit(
        "nginx",
        "request ids",
        "a caller's X-Request-Id is kept when it is printable ASCII without quotes or backslashes, up to 200 "
        "characters; otherwise nginx's $request_id",
    ),
    Limit(
        "nginx",
        "access log",
        "credential and breaker are always null (nginx cannot hash a header nor show a peer's state), "
        "degraded and bypassed too (no stale-if-error, fallback body or bypass switches are exported), "
        "upstream_ms and the upstream times are the "
        "last attempt's, and a path with characters outside RFC 3986 is logged as '-'",
    ),
    Limit(
        "nginx",
        "upstream names",
        "resolved once, when nginx starts: a name that does not resolve then stops nginx from starting",
    ),
    Limit("nginx", "dot segments", "nginx normalises /a/../b before routing instead of refusing it"),
    Limit("nginx", "600 in a 200 body", "an upstream's HTTP 200 carrying a 600 body passes through unchanged"),
    *(Limit("nginx", policy, instead) for policy, instead in _NEITHER),
    # HAProxy -----------------------------------------------------------------------------------------
    Limit("haproxy", "retry budget", "not expressible; retries are capped per request by 'retries' only"),
    Limit(
        "haproxy",
        "retry backoff and Retry-After",
        "HAProxy retries at once (no backoff, no jitter); an upstream 429 is never retried",
    ),
    Limit(
        "haproxy",
        "idempotency keys",
        "retry-on conditions resend only idempotent methods once a request was sent (HAProxy's own rule); "
        "an Idempotency-Key does not make a POST retryable",
    ),
    Limit(
        "haproxy",
        "circuit breaker",
        "observe layer7 + error-limit + on-error mark-down, recovered by active TCP checks (inter = the "
        "breaker's open time, rise 1); no failure-rate or slow-call trigger, no growing break",
    ),
    Limit(
        "haproxy",
        "per-try timeout",
        "timeout server bounds inactivity while waiting for the response, not the whole response; the deadline "
        "is 'timeout queue' plus the tries, not one clock",
    ),
    Limit(
        "haproxy",
        "rate limit",
        "a per-route request rate over one second in a stick table, answered at once (no queueing up to the "
        "deadline), with a fixed Retry-After",
    ),
    Limit(
        "haproxy",
        "failure kinds",
        "HAProxy's own errors are told apart by status only: 503 (no server answered the connect) is "
        "connection_refused, or circuit_open once every server is down; 502 is connection_terminated",
    ),
    Limit(
        "haproxy",
        "hop-by-hop fields",
        "fields named in a Connection header are not removed (the fixed list is)",
    ),
    Limit(
        "haproxy",
        "access log",
        "written to stdout (or syslog), not to a file; ts is when the line was written, to the second; "
        "credential, attempts and breaker are always null, degraded and bypassed too (no stale-if-error, "
        "fallback body or bypass switches are exported); upstream times are -1 when there was none",
    ),
    *(Limit("haproxy", policy, instead) for policy, instead in _NEITHER),
    Limit("haproxy", "600 in a 200 body", "an upstream's HTTP 200 carrying a 600 body passes through unchanged"),
)


def limits_for(engine: str) -> tuple[Limit, ...]:
    """The limits of one engine, in the order they are rendered."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    return tuple(limit for limit in LIMITS if limit.engine == engine)
