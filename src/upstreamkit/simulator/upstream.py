"""The simulated upstream's behaviour: routes, the fault draw, auth, rate limits, idempotency, the ledger.

Routes:

- ``GET|POST|... /v1/<anything>`` — a protected JSON resource (auth per scenario, rate-limited when enabled);
- ``POST /v1/payments`` — creates a payment: a side effect, honouring ``Idempotency-Key`` (a repeat returns
  the stored response with ``Idempotent-Replayed: true`` and applies nothing; the same key with another body
  is a 422, as the IETF Idempotency-Key draft says);
- ``POST /oauth/token`` — OAuth2 client credentials (see :mod:`.auth`);
- ``GET /api/v2/status.json``, ``/api/v2/summary.json`` — the status page (see :mod:`.statuspage`);
- ``GET /health`` — always 200;
- ``/__sim/ledger``, ``/__sim/stats``, ``/__sim/scenario``, ``POST /__sim/reset`` — control; never faulted
  and never in the ledger.

Order for each request: the phase in force picks the route's fault mix and one seeded draw picks a fault.
A fault other than ``ok``/``latency`` short-circuits everything (it stands for a gateway or network failure
in front of the API), after applying the side effect when the fault says the upstream processed the request.
Otherwise the request goes through the real checks — credentials, token bucket, body limit, field rules —
and the route, after any drawn latency.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qs

from upstreamkit.core.redact import fingerprint
from upstreamkit.simulator import faults as f
from upstreamkit.simulator._http import Connection
from upstreamkit.simulator._wire import Reply, Request
from upstreamkit.simulator.auth import EXPIRED_CHALLENGE, INVALID_CHALLENGE, TokenIssuer, credential_of
from upstreamkit.simulator.ledger import Ledger
from upstreamkit.simulator.ratelimit import TokenBucketLimiter, retry_after_value
from upstreamkit.simulator.scenario import FieldRule, Phase, RouteSpec, Scenario
from upstreamkit.simulator.statuspage import status_document, summary_document

__all__ = ["Upstream"]

_ATTEMPT_HEADERS = ("x-upstreamkit-attempt", "x-attempt", "x-retry-attempt")
_MAX_IDEMPOTENCY_KEYS = 100_000
_MISSING = object()


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _field(document: Any, dotted: str) -> Any:
    """The value at a dotted path (``customer.email``, ``items.0.sku``), or ``_MISSING``."""
    current = document
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _violates(rule: FieldRule, value: Any) -> bool:
    if value is _MISSING:
        return False
    if rule.present:
        return True
    if rule.equals is not None and value == rule.equals:
        return True
    return rule.pattern is not None and isinstance(value, str) and re.search(rule.pattern, value) is not None


class Upstream:
    """Everything the simulated API decides; the server (``_http``) only delivers what this returns."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int,
        clock: Callable[[], float],
        time_scale: float,
        ledger: Ledger,
        base_url: Callable[[], str],
        connections: Callable[[], int],
    ) -> None:
        self.scenario = scenario
        self.ledger = ledger
        self._seed = seed
        self._rng = random.Random(seed)
        self._clock = clock
        self._time_scale = time_scale
        self._base_url = base_url
        self._connections = connections
        self.issuer = TokenIssuer(scenario.auth, clock)
        self.limiter = TokenBucketLimiter(scenario.rate_limit, clock)
        self._idempotency: OrderedDict[str, tuple[str, Reply]] = OrderedDict()
        self._payments = 0
        self._generated_ids = 0
        self._refused: Counter[str] = Counter()
        self.started_at = clock()

    # --- time ---------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since the timeline started, on the injected clock."""
        return self._clock() - self.started_at

    def phase(self) -> Phase | None:
        """The phase in force (None between phases: healthy)."""
        return self.scenario.phase_at(max(0.0, self.elapsed()), self._time_scale)

    def _phase_started(self, phase: Phase | None) -> float:
        if phase is None:
            return self.started_at
        start = phase.start * self._time_scale
        period = self.scenario.period()
        if period:
            cycle = int(max(0.0, self.elapsed()) // (period * self._time_scale))
            start += cycle * period * self._time_scale
        return self.started_at + start

    def reset(self, *, timeline: bool = False) -> None:
        """Forget the ledger, idempotency keys, payments and buckets; restart the timeline and RNG if asked."""
        self.ledger.reset()
        self._idempotency.clear()
        self._payments = 0
        self._refused.clear()
        self.limiter.reset()
        if timeline:
            self.started_at = self._clock()
            self._rng = random.Random(self._seed)

    def stats(self) -> dict[str, Any]:
        """Ledger counters plus the simulator's own state."""
        phase = self.phase()
        return {
            **self.ledger.stats(),
            "scenario": self.scenario.name,
            "phase": phase.name if phase else None,
            "elapsed": round(self.elapsed(), 3),
            "connections": self._connections(),
            "tokens_issued": self.issuer.issued,
            "payments": self._payments,
            "refused": dict(self._refused),
        }

    def refused(self, status: int) -> None:
        """Count a request the server refused before it reached :meth:`handle` (414, 431, 413, 408, 400)."""
        self._refused[str(status)] += 1

    # --- dispatch -----------------------------------------------------------------------------------

    def handle(self, request: Request, connection: Connection) -> Reply:
        """Decide the reply for one request (called on the server's event loop)."""
        del connection
        path = request.path
        if path.startswith("/__sim/"):
            return self._control(request)
        phase = self.phase()
        route = phase.route_for(path) if phase is not None else None
        fault = self._draw(route)
        headers = request.headers
        idempotency_key = headers.get("idempotency-key")
        _, credential = credential_of(headers)
        key_fingerprint = fingerprint(credential) if credential else None
        applied = replay = False
        delay = 0.0
        if fault is not None and fault.kind not in ("ok", "latency"):
            if fault.applies_side_effect() and request.method == "POST" and path == "/v1/payments":
                _, applied, replay = self._payment(request, idempotency_key)
            reply = self._fault_reply(fault, request)
        else:
            if isinstance(fault, f.LatencyFault):
                delay = fault.sample(self._rng)
            reply, applied, replay = self._serve(request, route, idempotency_key)
            reply.delay = delay
        request_id = headers.get("x-request-id")
        if request_id is None:
            self._generated_ids += 1
            reply.headers.append(("X-Request-Id", f"sim-{self._generated_ids}"))
        else:
            reply.headers.append(("X-Request-Id", request_id))
        self.ledger.record(
            time=self._clock(),
            method=request.method,
            path=path,
            request_id=request_id,
            attempt=_attempt(headers),
            key_fingerprint=key_fingerprint,
            idempotency_key=idempotency_key,
            side_effect_applied=applied,
            idempotent_replay=replay,
            fault=fault.kind if fault is not None else "ok",
            status=reply.status if reply.action in ("send", "slow", "truncate") else None,
            phase=phase.name if phase is not None else None,
        )
        return reply

    def _draw(self, route: RouteSpec | None) -> f.Fault | None:
        if route is None or not route.faults:
            return None
        draw = self._rng.random()
        cumulative = 0.0
        for fault in route.faults:
            cumulative += fault.p
            if draw < cumulative:
                return fault
        return None

    # --- the real API -------------------------------------------------------------------------------

    def _serve(
        self, request: Request, route: RouteSpec | None, idempotency_key: str | None
    ) -> tuple[Reply, bool, bool]:
        path, method = request.path, request.method
        if path.startswith("/api/v2/"):
            return self._status_page(path), False, False
        if path == "/health":
            return Reply(200, b'{"status":"ok"}'), False, False
        if path == "/oauth/token":
            if method != "POST":
                return Reply(405, b'{"error":"method_not_allowed"}', [("Allow", "POST")]), False, False
            answer = self.issuer.token_endpoint(request.headers, request.body)
            return Reply(answer.status, answer.body, [("Cache-Control", "no-store")]), False, False
        if not path.startswith("/v1/"):
            return Reply(404, _json({"error": "not_found", "path": path})), False, False
        auth = self.issuer.check(request.headers)
        if not auth.allowed:
            headers = [("WWW-Authenticate", auth.challenge)] if auth.challenge else []
            return Reply(auth.status, auth.body, headers), False, False
        extra: list[tuple[str, str]] = []
        if self.scenario.rate_limit.enabled and fnmatchcase(path, self.scenario.rate_limit.routes):
            decision = self.limiter.take(auth.key_fingerprint or request.peer.rpartition(":")[0])
            extra.extend(decision.headers)
            if not decision.allowed:
                body = _json({"error": "rate_limited", "message": "too many requests"})
                return Reply(self.scenario.rate_limit.status, body, extra), False, False
        rejected = self._check_payload(request, route)
        if rejected is not None:
            rejected.headers.extend(extra)
            return rejected, False, False
        if method == "POST" and path == "/v1/payments":
            reply, applied, replay = self._payment(request, idempotency_key)
            reply = Reply(reply.status, reply.body, [*reply.headers, *extra])
            return reply, applied, replay
        query = parse_qs(request.query) if request.query else {}
        body = _json({"ok": True, "method": method, "path": path, "query": query})
        return Reply(200, body, extra), False, False

    def _check_payload(self, request: Request, route: RouteSpec | None) -> Reply | None:
        if route is None:
            return None
        if route.max_body_bytes is not None and len(request.body) > route.max_body_bytes:
            detail = f"request body is {len(request.body)} bytes; the limit is {route.max_body_bytes}"
            return Reply(413, _json({"error": "payload_too_large", "message": detail}), close=True)
        if not route.field_rules or not request.body:
            return None
        try:
            document = json.loads(request.body)
        except ValueError:
            return Reply(400, _json({"error": "invalid_json", "message": "request body is not valid JSON"}))
        for rule in route.field_rules:
            if _violates(rule, _field(document, rule.field)):
                problem = {"error": "invalid_field", "field": rule.field, "message": rule.message}
                return Reply(rule.status, _json({**problem, "errors": [problem]}))
        return None

    def _payment(self, request: Request, idempotency_key: str | None) -> tuple[Reply, bool, bool]:
        digest = hashlib.sha256(request.body).hexdigest()
        if idempotency_key is not None and idempotency_key in self._idempotency:
            stored_digest, stored = self._idempotency[idempotency_key]
            if stored_digest != digest:
                message = "Idempotency-Key was already used with a different request body"
                return Reply(422, _json({"error": "idempotency_key_reused", "message": message})), False, False
            replayed = Reply(stored.status, stored.body, [*stored.headers, ("Idempotent-Replayed", "true")])
            return replayed, False, True
        try:
            document = json.loads(request.body) if request.body else {}
        except ValueError:
            return Reply(400, _json({"error": "invalid_json", "message": "body is not JSON"})), False, False
        self._payments += 1
        payment = {
            "id": f"pay_{self._payments:06d}",
            "status": "succeeded",
            "amount": document.get("amount") if isinstance(document, dict) else None,
            "currency": document.get("currency") if isinstance(document, dict) else None,
        }
        reply = Reply(201, _json(payment))
        if idempotency_key is not None:
            self._idempotency[idempotency_key] = (digest, reply)
            if len(self._idempotency) > _MAX_IDEMPOTENCY_KEYS:
                self._idempotency.popitem(last=False)
        return Reply(201, reply.body, list(reply.headers)), True, False

    def _status_page(self, path: str) -> Reply:
        phase, now = self.phase(), self._clock()
        if path == "/api/v2/status.json":
            return Reply(200, _json(status_document(self.scenario, phase, base_url=self._base_url(), now=now)))
        if path == "/api/v2/summary.json":
            started = self._phase_started(phase)
            document = summary_document(self.scenario, phase, base_url=self._base_url(), now=now, phase_started=started)
            return Reply(200, _json(document))
        return Reply(404, _json({"error": "not_found", "path": path}))

    # --- faults -------------------------------------------------------------------------------------

    def _fault_reply(self, fault: f.Fault, request: Request) -> Reply:
        now = self._clock()
        if isinstance(fault, f.StatusFault):
            headers = list(fault.headers.items())
            if fault.retry_after is not None:
                headers.append(("Retry-After", retry_after_value(fault.retry_after, fault.retry_after_format, now)))
            return Reply(fault.status, fault.body.encode(), headers, fault.content_type)
        if isinstance(fault, f.Status600Fault):
            return Reply(600, fault.body.encode())
        if isinstance(fault, f.Body600Fault):
            return Reply(200, f.body_600(fault.shape))
        if isinstance(fault, f.OutageFault):
            error = "bad_gateway" if fault.status == 502 else "service_unavailable"
            headers = []
            if fault.retry_after is not None:
                headers.append(("Retry-After", retry_after_value(fault.retry_after, fault.retry_after_format, now)))
            return Reply(fault.status, _json({"error": error, "message": "upstream unavailable"}), headers)
        if isinstance(fault, f.GatewayTimeoutFault):
            timeout = {"code": 504, "error": "gateway_timeout", "message": "The upstream did not respond in time"}
            return Reply(504, _json(timeout), delay=fault.delay)
        if isinstance(fault, f.RateLimitedFault):
            return self._forced_rate_limit(fault, now)
        if isinstance(fault, f.AuthExpiredFault):
            expired = _json({"error": "invalid_token", "message": "access token expired"})
            return Reply(401, expired, [("WWW-Authenticate", EXPIRED_CHALLENGE)])
        if isinstance(fault, f.AuthInvalidFault):
            if fault.status == 403:
                return Reply(403, _json({"error": "forbidden", "message": "this key may not call this route"}))
            invalid = _json({"error": "invalid_token", "message": "invalid API key or token"})
            return Reply(401, invalid, [("WWW-Authenticate", INVALID_CHALLENGE)])
        if isinstance(fault, f.HangFault):
            return Reply(200, _json({"ok": True, "path": request.path}), action="hang", at=fault.at)
        if isinstance(fault, f.ResetFault):
            return Reply(200, _json({"ok": True, "path": request.path}), action="reset", at=fault.at)
        if isinstance(fault, f.CloseFault):
            return Reply(200, action="close")
        if isinstance(fault, f.TruncateFault):
            partial = _json({"ok": True, "path": request.path, "items": list(range(32))})
            return Reply(200, partial, action="truncate", fraction=fault.fraction)
        if isinstance(fault, f.SlowBodyFault):
            filler = max(0, fault.size - len('{"data":""}'))
            slow = b'{"data":"' + b"x" * filler + b'"}'
            return Reply(200, slow, action="slow", bytes_per_second=fault.bytes_per_second, chunk=fault.chunk)
        return Reply(200, _json({"ok": True}))  # pragma: no cover - ok/latency never reach here

    def _forced_rate_limit(self, fault: f.RateLimitedFault, now: float) -> Reply:
        config = self.scenario.rate_limit
        wait = max(1, int(-(-fault.retry_after // 1)))
        headers = [
            ("Retry-After", retry_after_value(fault.retry_after, fault.retry_after_format, now)),
            ("RateLimit-Policy", f'"default";q={config.limit};w={config.window:g}'),
            ("RateLimit", f'"default";r=0;t={wait}'),
            ("X-RateLimit-Limit", str(config.limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", str(int(now) + wait) if config.x_reset == "epoch" else str(wait)),
        ]
        return Reply(fault.status, _json({"error": "rate_limited", "message": "too many requests"}), headers)

    # --- control ------------------------------------------------------------------------------------

    def _control(self, request: Request) -> Reply:
        path, query = request.path, parse_qs(request.query)
        if path == "/__sim/ledger":
            limit = int(query["limit"][0]) if query.get("limit", [""])[0].isdigit() else None
            since = int(query["since"][0]) if query.get("since", [""])[0].isdigit() else 0
            entries = [entry.as_dict() for entry in self.ledger.entries(since=since, limit=limit)]
            return Reply(200, _json({"count": len(entries), "entries": entries}))
        if path == "/__sim/stats":
            return Reply(200, _json(self.stats()))
        if path == "/__sim/scenario":
            return Reply(200, self.scenario.model_dump_json().encode())
        if path == "/__sim/reset":
            if request.method != "POST":
                return Reply(405, b'{"error":"method_not_allowed"}', [("Allow", "POST")])
            self.reset(timeline=query.get("timeline", ["0"])[0] in ("1", "true"))
            return Reply(200, b'{"reset":true}')
        return Reply(404, _json({"error": "not_found", "path": path}))


def _attempt(headers: dict[str, str]) -> int | None:
    for name in _ATTEMPT_HEADERS:
        value = headers.get(name)
        if value is not None and value.strip().isdigit():
            return int(value.strip())
    return None
