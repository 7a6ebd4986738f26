"""Forwarding one request: route it, rewrite its headers, exchange it upstream, judge the answer.

The steps, in order:

1. refuse what is not for a configured route (CONNECT, absolute-form or asterisk-form targets, unknown
   prefixes, dot segments): a 404 envelope of kind ``destination_not_found``, no upstream contacted;
2. keep the caller's ``X-Request-Id`` when it is a sane token, else make one;
3. rewrite the request: hop-by-hop fields (and those ``Connection`` names) dropped, ``Host`` set to the
   upstream's, ``X-Forwarded-For`` and ``Forwarded`` appended, ``X-Request-Id`` set, the body re-framed
   with ``Content-Length``;
4. exchange it under the route's policies (:mod:`.policy`: breaker, budget, limiter, retries, one deadline),
   each attempt over a pooled connection; a reused connection that dies before any response byte is
   replaced once, within the attempt, for idempotent methods (the upstream closed an idle connection as we
   wrote);
5. each answer is judged with the core's classifier (:func:`~.assess.assess_response`): a 4xx other than 429
   and a success pass through untouched (a 2xx only once it is known not to carry a 600 envelope); a 429,
   5xx, 600 or a 2xx with a 600 envelope, every exception, and every refusal of the policies (circuit open,
   budget, rate limit, deadline) become the one envelope (:mod:`.envelope`);
6. in degraded mode (:mod:`.degrade`), a failure of a route that keeps stale responses or has a fallback body
   is answered with the last good response or that body instead of the envelope (the failure is still counted
   and logged with its kind); a route's optional middleware may be bypassed at run time (:mod:`.bypass`);
7. count it (:mod:`.metrics`) and write one access-log line (:mod:`.accesslog`).

Each of the last features costs a request that does not use it one attribute check.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from functools import partial
from typing import Any

from upstreamkit.clock import get_clock
from upstreamkit.core.classify import classify
from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.accesslog import AccessLog, rfc3339_ms
from upstreamkit.gateway.assess import assess_response
from upstreamkit.gateway.bypass import OPTIONAL, BypassSwitches
from upstreamkit.gateway.config import GatewaySettings
from upstreamkit.gateway.credentials import CredentialError, Injector
from upstreamkit.gateway.degrade import DegradedMode, StaleCache
from upstreamkit.gateway.envelope import Envelope, error_word
from upstreamkit.gateway.metrics import GatewayMetrics
from upstreamkit.gateway.policy import Failure, Policies, Result
from upstreamkit.gateway.rewrite import (
    HOP_BY_HOP,
    credential_of,
    has_key,
    pass_through,
    request_id_of,
    upstream_head,
)
from upstreamkit.gateway.routes import Route, RouteTable, Target
from upstreamkit.gateway.server import Request, Response
from upstreamkit.gateway.upstream import RemoteProtocolError, UpstreamConnection, UpstreamPool, UpstreamResponse
from upstreamkit.knowledge import kind_info

__all__ = ["HOP_BY_HOP", "Proxy"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_AUTH_KINDS = frozenset({ErrorKind.AUTH_EXPIRED, ErrorKind.AUTH_INVALID, ErrorKind.AUTH_FORBIDDEN})


class Proxy:
    """The gateway's request handler: ``await proxy.handle(request)`` gives the response to write."""

    def __init__(  # noqa: PLR0917 - the gateway's parts
        self,
        settings: GatewaySettings,
        pool: UpstreamPool,
        access_log: AccessLog | None,
        policies: Policies | None = None,
        metrics: GatewayMetrics | None = None,
        injectors: dict[str, Injector] | None = None,
        *,
        bypass: BypassSwitches | None = None,
        stale_cache: StaleCache | None = None,
    ) -> None:
        """Forward to ``settings.routes`` through ``pool`` under ``policies`` (by default the settings' on
        upstreamkit's clock); log to ``access_log`` and count into ``metrics`` when given; ``injectors``: the
        credential the gateway adds for each upstream that has one (by upstream name); ``bypass`` and
        ``stale_cache``: the switches and the cache to keep using (a reload), else new ones."""
        self.settings = settings
        if policies is None:
            policies = Policies(settings.route_policies(), clock=get_clock())
        self.policies = policies
        self.metrics = metrics
        self._policy = settings.policy
        for route in settings.routes:  # every upstream's state exists from the start (/status, /readyz)
            policies.state(route.policy or settings.policy, route.upstream)
        self.routes = RouteTable(list(settings.routes))
        self.pool = pool
        self.access_log = access_log
        self._gateway = settings.name
        self._mode = settings.status_mode
        self.injectors = injectors or {}
        default_caps = (settings.connect_timeout, settings.timeout)
        self._caps: dict[str, tuple[float, float]] = {}
        for upstream in settings.upstreams:
            connect, timeout = upstream.connect_timeout, upstream.timeout
            self._caps[upstream.name] = (connect or default_caps[0], timeout or default_caps[1])
        self._default_caps = default_caps
        self._queue_wait = settings.connection_queue_timeout or None
        self.bypass = (
            bypass
            if bypass is not None
            else BypassSwitches(
                settings.routes, settings.policy, on_change=metrics.bypassed if metrics is not None else None
            )
        )
        self._bypass = self.bypass.active  # the same dict, changed in place by the admin API
        self.degraded = DegradedMode(
            settings.routes,
            max_entries=settings.stale_cache_entries,
            max_bytes=settings.stale_cache_bytes,
            clock=policies.clock,
            gateway=settings.name,
            cache=stale_cache,
        )
        self._degraded = self.degraded.routes  # empty when no route degrades: one check per request

    # --- the handler ---------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Forward ``request`` and answer it; never raises."""
        started = time.perf_counter()
        arrived = time.time()
        request_id = request_id_of(request.headers)
        log: dict[str, Any] = {"attempts": 0}
        routed, response, envelope = await self._answer(request, request_id, log)
        if self.metrics is not None:
            route = routed.route if routed is not None else None
            self.metrics.request(
                route.prefix if route is not None else None,
                route.upstream if route is not None else None,
                response.status,
                str(envelope.kind) if envelope is not None else None,
            )
        self._log(
            request=request,
            response=response,
            started=started,
            arrived=arrived,
            request_id=request_id,
            routed=routed,
            envelope=envelope,
            log=log,
        )
        return response

    async def _answer(
        self, request: Request, request_id: str, log: dict[str, Any]
    ) -> tuple[Target | None, Response, Envelope | None]:
        target = request.target
        path, _, query = target.partition(b"?")
        path_text = path.decode("latin-1")
        routed: Target | None = None
        if request.method != "CONNECT" and target[:1] == b"/":
            routed = self.routes.match(path_text, query.decode("latin-1"))
        if routed is None:
            what = "CONNECT" if request.method == "CONNECT" else "this target"
            envelope = Envelope(
                ErrorKind.DESTINATION_NOT_FOUND,
                f"no route of this gateway serves {what}; only configured routes are forwarded",
                request_id,
                path_text if target[:1] == b"/" else "",
                refusal_status=404,
            )
            return None, self._envelope_response(envelope), envelope
        route = routed.route
        method = request.method
        bypass = self._bypass.get(route.prefix) if self._bypass else None
        if bypass is not None:
            log["bypassed"] = [name for name in OPTIONAL if name in bypass]
        injector = self.injectors.get(route.upstream) if self.injectors else None
        if injector is None:
            head = upstream_head(request, routed, request_id)
            result = await self._call(route, method, request_id, head, request, log, bypass)
        else:
            called = await self._call_injecting(injector, routed, request_id, request, log, bypass)
            if isinstance(called, Envelope):
                return routed, self._envelope_response(called), called
            result = called
        log["breaker"] = result.breaker
        upstream = result.response
        if upstream is not None:
            log["upstream_status"] = upstream.status
        failure = result.failure
        if failure is None:
            assert upstream is not None  # noqa: S101 - a success has a response
            response = pass_through(upstream, request_id, method, log)
            if self._degraded and route.prefix in self._degraded:
                self.degraded.remember(route, routed.target, request, response, bypass)
            return routed, response, None
        envelope = self._from_failure(failure, upstream, request_id, path_text, route.upstream)
        if self._degraded and route.prefix in self._degraded:
            answer = self.degraded.answer(route, routed.target, request, envelope, bypass)
            if answer is not None:
                response, log["degraded"] = answer
                if self.metrics is not None:
                    self.metrics.degraded(route.prefix, route.upstream, log["degraded"], str(envelope.kind))
                return routed, response, envelope
        return routed, self._envelope_response(envelope), envelope

    def _call(  # noqa: PLR0917 - the request's parts, passed on
        self, route: Route, method: str, request_id: str, head: bytes, request: Request, log: dict[str, Any],
        bypass: frozenset[str] | None,
    ) -> Awaitable[Result]:  # fmt: skip
        caps = self._caps.get(route.upstream, self._default_caps) if self._caps else self._default_caps
        return self.policies.call(
            route.policy or self._policy,
            route.upstream,
            method,
            request_id,
            idempotency_key=partial(has_key, request.headers),
            send=partial(self._send, route.origin, caps, head, request, log),  # no coroutine of its own per request
            assess=assess_response,
            bypass=bypass,
        )

    async def _call_injecting(  # noqa: PLR0917 - the request's parts, passed on
        self, injector: Injector, routed: Target, request_id: str, request: Request, log: dict[str, Any],
        bypass: frozenset[str] | None,
    ) -> Result | Envelope:  # fmt: skip
        """The request with the gateway's credential for the upstream instead of the caller's; a 401 to it makes
        one refresh and one retry, and a refusal that remains is the gateway's failure: an envelope."""
        route = routed.route
        path = request.target.partition(b"?")[0].decode("latin-1")
        bare = upstream_head(request, routed, request_id, strip=injector.name)[:-2]  # without its last CRLF
        refused: str | None = None
        while True:  # at most twice: the second time with a refreshed credential
            try:
                if refused is not None:
                    await injector.refresh(refused)
                line, credential = await injector.line()
            except CredentialError as exc:
                return Envelope(exc.kind, exc.detail, request_id, path, upstream=route.upstream)
            result = await self._call(route, request.method, request_id, bare + line + b"\r\n", request, log, bypass)
            response = result.response
            if refused is not None or result.failure is not None or response is None or response.status != 401:
                break
            refused = credential
        if response is None:
            return result
        if result.failure is None and response.status in (401, 403):
            outcome = classify(response.status, response.headers, response.body)
            kind = outcome.kind if outcome.kind in _AUTH_KINDS else ErrorKind.AUTH_INVALID
            detail = f"the upstream refused the credential this gateway adds for it (HTTP {response.status})"
            log["upstream_status"] = response.status
            log["breaker"] = result.breaker
            return Envelope(kind, detail, request_id, path, upstream=route.upstream, upstream_status=response.status)
        return result

    async def _send(  # noqa: PLR0917 - bound by partial() once per request
        self, origin: tuple[str, str, int], caps: tuple[float, float], head: bytes, request: Request,
        log: dict[str, Any], limit: float | None,
    ) -> UpstreamResponse:  # fmt: skip
        """One attempt of the policy's, within ``limit`` seconds (connect included) and the settings' caps.

        A pooled connection that dies before any response byte is replaced once, within the same attempt, for
        idempotent methods: the upstream closed an idle connection as we wrote, the request reached no handler.
        """
        connect_timeout, timeout = caps
        pool = self.pool
        head_only = request.method == "HEAD"
        started = time.perf_counter()
        connection: UpstreamConnection | None = pool.checkout(origin)
        reused = connection is not None
        try:
            while True:
                log["attempts"] += 1
                connect_ms = None
                left = timeout if limit is None else min(timeout, limit)
                if connection is None:
                    opening = time.perf_counter()
                    connection = await pool.connect(origin, min(connect_timeout, left))
                    connect_ms = (time.perf_counter() - opening) * 1000.0
                    left = max(left - connect_ms / 1000.0, 0.001)
                try:
                    response = await connection.request(
                        head, request.body, head_only=head_only, timeout=left, connect_ms=connect_ms
                    )
                except RemoteProtocolError as exc:
                    pool.discard(connection)
                    if reused and exc.before_response and request.method in _IDEMPOTENT:
                        connection, reused = None, False
                        continue
                    raise
                except BaseException:
                    pool.discard(connection)
                    raise
                if response.stream is None:
                    pool.checkin(origin, connection, reusable=response.keep_alive)
                else:  # the connection is busy until the body has come; the stream hands it back
                    response.stream.on_release(partial(_release, pool, origin, connection))
                log["upstream_connect_ms"] = response.connect_ms
                log["upstream_ttfb_ms"] = response.ttfb_ms
                return response
        finally:
            log["upstream_ms"] = log.get("upstream_ms", 0.0) + (time.perf_counter() - started) * 1000.0

    def _from_failure(
        self, failure: Failure, upstream: UpstreamResponse | None, request_id: str, path: str, upstream_name: str
    ) -> Envelope:
        kind, last = failure.kind, failure.last
        retry_after = failure.retry_after
        if retry_after is None and kind is ErrorKind.CONNECTION_LIMIT_REACHED:
            retry_after = self._queue_wait  # the connection cap's wait: about when a connection may be free
        if failure.reason:  # the gateway's own decision (breaker, budget, limiter, deadline)
            detail = failure.reason if last is None else f"{failure.reason}; last failure: {last.kind}"
        elif upstream is not None and last is not None:
            detail = last.explanation
        else:
            # An exception's text names internal addresses; the caller gets the knowledge base's words instead.
            detail = kind_info(kind).meaning
        return Envelope(
            kind,
            detail,
            request_id,
            path,
            upstream=upstream_name,
            upstream_status=upstream.status if upstream is not None else None,
            retry_after=retry_after,
        )

    def _envelope_response(self, envelope: Envelope) -> Response:
        return Response(envelope.status(self._mode), envelope.headers(self._gateway), envelope.body(self._mode))

    def refuse(self, request: Request, status: int, kind: ErrorKind, detail: str) -> Response:
        """The answer to a request the server refused before it was complete (too large, malformed, CONNECT)."""
        started = time.perf_counter()
        request_id = request_id_of(request.headers)
        path = request.target.partition(b"?")[0].decode("latin-1")
        envelope = Envelope(kind, detail, request_id, path if path.startswith("/") else "", refusal_status=status)
        response = self._envelope_response(envelope)
        if self.metrics is not None:
            self.metrics.request(None, None, status, str(kind))
        self._log(
            request=request,
            response=response,
            started=started,
            arrived=time.time(),
            request_id=request_id,
            routed=None,
            envelope=envelope,
            log={"attempts": 0},
        )
        return response

    # --- the access log ------------------------------------------------------------------------------

    def _log(
        self,
        *,
        request: Request,
        response: Response,
        started: float,
        arrived: float,
        request_id: str,
        routed: Target | None,
        envelope: Envelope | None,
        log: dict[str, Any],
    ) -> None:
        access_log = self.access_log
        if access_log is None:
            return
        kind = envelope.kind if envelope is not None else None
        access_log.write(
            {
                "ts": rfc3339_ms(arrived),
                "request_id": request_id,
                "method": request.method,
                "path": request.target.partition(b"?")[0].decode("latin-1"),
                "route": routed.route.prefix if routed is not None else None,
                "upstream": routed.route.upstream if routed is not None else None,
                "status": response.status,
                "upstream_status": log.get("upstream_status"),
                "kind": str(kind) if kind is not None else None,
                "error": error_word(kind) if kind is not None else None,
                "attempts": log["attempts"],
                "duration_ms": round((time.perf_counter() - started) * 1000.0, 3),
                "upstream_ms": _ms(log.get("upstream_ms")),
                "upstream_connect_ms": _ms(log.get("upstream_connect_ms")),
                "upstream_ttfb_ms": _ms(log.get("upstream_ttfb_ms")),
                "bytes_in": len(request.body),
                "bytes_out": len(response.body) if response.stream is None else response.stream.length,
                "breaker": log.get("breaker"),
                "client": request.client,
                "credential": credential_of(request.headers),
                "upstream_request_id": log.get("upstream_request_id"),
                "gateway": self._gateway,
                "region": self.settings.region,
                "degraded": log.get("degraded"),
                "bypassed": log.get("bypassed"),
            }
        )


def _release(pool: UpstreamPool, origin: tuple[str, str, int], connection: UpstreamConnection, reusable: bool) -> None:
    pool.checkin(origin, connection, reusable=reusable)


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
