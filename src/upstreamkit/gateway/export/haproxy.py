"""The gateway's routes and policies as a HAProxy config (``upstreamkit gateway export --format haproxy``).

How each policy maps (and, in :mod:`.limits`, what HAProxy cannot express):

- routes: the longest matching prefix (``path`` equal to it or ``path_beg`` it + ``/``) names the route in
  ``txn.uk_rt``; ``set-path`` strips the prefix and prepends the base path; one backend per upstream, so its
  routes share its server's health and rate limit as they share the gateway's state; no match is the 404
  envelope (``destination_not_found``) answered by ``http-request return``;
- timeouts: ``timeout connect`` (connect), ``timeout server`` (per try), ``timeout queue`` (the deadline);
- retries: ``retries`` = attempts - 1 (a route with one attempt: ``disable-l7-retry``; its own per-try time:
  ``set-timeout server``) and ``retry-on conn-failure empty-response response-timeout 500 502 503
  504``; ``http-request disable-l7-retry`` for non-idempotent methods, so a sent POST is never resent (one
  that never left, a refused connect, still is);
- breaker: ``check observe layer7 error-limit N on-error mark-down`` (N = the breaker's consecutive failures),
  recovered by active TCP checks every open-for seconds (``rise 1``): the half-open probe;
- rate: a per-route stick table counting requests over one second, ``http-request deny deny_status 429``
  with the envelope and ``Retry-After``;
- envelope: ``http-error`` for HAProxy's own 502/503/504 (``lf-string`` with the request id and path,
  ``hdr Proxy-Status``) and ``http-response return`` for an upstream's 5xx or 429;
- request ids: the caller's ``X-Request-Id`` when it is sane, else ``unique-id``; sent upstream and back;
- headers: ``Host`` set, ``option forwardfor``, hop-by-hop fields deleted both ways;
- access log: ``log-format`` writing the gateway contract's fields as JSON lines (to stdout).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.accesslog import FIELDS
from upstreamkit.gateway.envelope import StatusMode, error_word
from upstreamkit.gateway.export.common import (
    RoutePlan,
    address,
    by_upstream,
    duration,
    envelope_template,
    fill,
    header_comment,
    plan_routes,
    sf_string,
)

if TYPE_CHECKING:
    from upstreamkit.gateway.config import GatewaySettings

__all__ = ["render_haproxy"]

_REQUEST_HOP_BY_HOP = ("Proxy-Authorization", "Proxy-Connection", "Keep-Alive", "TE", "Trailer", "Upgrade")
_RESPONSE_HOP_BY_HOP = ("Proxy-Authenticate", "Keep-Alive", "Trailer", "Upgrade")
_IDEMPOTENT = "GET HEAD OPTIONS PUT DELETE TRACE"
_SAFE_ID = r"'^[!#-\[\]-~]{1,200}$'"


def _lf(text: str) -> str:
    """A double-quoted HAProxy argument holding log-format text (quotes and backslashes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(text: str) -> str:
    """Text inside a log-format string: ``%`` doubled so it is not read as a variable."""
    return text.replace("%", "%%")


def _body(
    kind: ErrorKind, settings: GatewaySettings, upstream: str | None, *, retry_after: str, received: int | None = None
) -> tuple[int, str]:
    refusal = 404 if kind is ErrorKind.DESTINATION_NOT_FOUND else None
    status, template = envelope_template(
        kind, settings.status_mode, upstream=upstream, refusal_status=refusal, upstream_status=received
    )
    body = fill(
        _literal(template),
        {
            "request_id": "%[var(txn.uk_rid),json(ascii)]",
            "instance": "%[var(txn.uk_path),json(ascii)]",
            "upstream_status": "%[var(txn.uk_us,null)]" if upstream is not None else "null",
            "retry_after": retry_after,
        },
    )
    return status, body


def _headers(settings: GatewaySettings, kind: ErrorKind | str, *, received: bool, retry_after: str | None) -> str:
    proxy_status = f"{settings.name}; error={kind}; details={sf_string(str(kind))}"
    if received:
        proxy_status += "; received-status=%[var(txn.uk_us)]"
    parts = [
        "hdr Cache-Control no-store",
        f"hdr Proxy-Status {_lf(_literal(proxy_status) if not received else proxy_status)}",
        f"hdr X-Uk-Kind {kind}",
        f"hdr X-Uk-Error {error_word(ErrorKind(kind))}",
    ]
    if retry_after is not None:
        parts.append(f"hdr Retry-After {retry_after}")
    return " ".join(parts)


def _reply(
    kind: ErrorKind, settings: GatewaySettings, upstream: str | None, *, retry_after: str = "null",
    received: int | None = None,
) -> tuple[int, str]:  # fmt: skip
    """The status and the ``content-type ... lf-string ... hdr ...`` arguments of one envelope; ``received``:
    the upstream's status when the envelope replaces the upstream's answer."""
    status, body = _body(kind, settings, upstream, retry_after=retry_after, received=received)
    header_retry = None if retry_after == "null" else retry_after
    args = (
        f"content-type application/problem+json lf-string {_lf(body)} "
        f"{_headers(settings, kind, received=received is not None, retry_after=header_retry)}"
    )
    return status, args


def _frontend(settings: GatewaySettings, plans: list[RoutePlan]) -> str:
    lines = [
        "frontend uk_public",
        f"    bind {address(settings.host, settings.port)}",
        "    mode http",
        "    log global",
        "    option dontlognull",
        "    timeout client 30s",
        "    timeout http-request 10s",
        f"    log-format {_lf(_log_format(settings))}",
        "    unique-id-format %{+X}o%Ts%rt%pid%cp%fp",
        f"    http-request set-var(txn.uk_rid) req.hdr(x-request-id) if {{ req.hdr(x-request-id) -m reg {_SAFE_ID} }}",
        "    http-request set-var(txn.uk_rid) unique-id unless { var(txn.uk_rid) -m found }",
        "    http-request set-header X-Request-Id %[var(txn.uk_rid)]",
        "    http-request set-var(txn.uk_path) path",
        "    http-after-response set-var(txn.uk_kind) res.hdr(x-uk-kind)",
        "    http-after-response set-var-fmt(txn.uk_kind_json) "
        + _lf('"%[res.hdr(x-uk-kind)]"')
        + " if { res.hdr(x-uk-kind) -m found }",
        "    http-after-response set-var-fmt(txn.uk_error_json) "
        + _lf('"%[res.hdr(x-uk-error)]"')
        + " if { res.hdr(x-uk-error) -m found }",
        "    http-after-response del-header X-Uk-Kind",
        "    http-after-response del-header X-Uk-Error",
        "    http-after-response set-header X-Request-Id %[var(txn.uk_rid)]",
    ]
    if settings.status_mode.value == "5xx":
        # HAProxy's 503 without a live server is the open breaker; with one, the connect itself failed (502).
        lines.append("    http-after-response set-status 502 if { var(txn.uk_kind) -m str connection_refused }")
    ordered = sorted(plans, key=lambda plan: len(plan.route.prefix.rstrip("/")), reverse=True)
    for plan in ordered:  # the longest matching prefix names the route (txn.uk_rt)
        prefix = plan.route.prefix.rstrip("/")
        unset = "!{ var(txn.uk_rt) -m found }"
        match = f"{unset} {{ path {prefix} }} || {unset} {{ path_beg {prefix}/ }}" if prefix else unset
        lines.append(f"    http-request set-var(txn.uk_rt) str({plan.ident}) if {match}")
    if not any(plan.route.prefix.rstrip("/") == "" for plan in plans):
        status, args = _reply(ErrorKind.DESTINATION_NOT_FOUND, settings, None)
        lines.append(f"    http-request return status {status} {args} if !{{ var(txn.uk_rt) -m found }}")
    for plan in ordered:
        lines += _route_rules(plan)
    lines += [
        f"    use_backend uk_{plan.upstream_ident} if {{ var(txn.uk_rt) -m str {plan.ident} }}" for plan in ordered
    ]
    return "\n".join(lines)


def _route_rules(plan: RoutePlan) -> list[str]:
    """One route's rules in the frontend: its log fields and the prefix stripped."""
    route = plan.route
    prefix = route.prefix.rstrip("/")
    base = route.base_path
    when = f"{{ var(txn.uk_rt) -m str {plan.ident} }}"
    lines = [
        f"    http-request set-var-fmt(txn.uk_route_json) {_lf(_literal(json.dumps(route.prefix)))} if {when}",
        f"    http-request set-var-fmt(txn.uk_upstream_json) {_lf(_literal(json.dumps(route.upstream)))} if {when}",
    ]
    if prefix:
        escaped = re.escape(prefix).replace(",", "\\,")
        lines.append(f"    http-request set-path {base or '/'} if {when} {{ path {prefix} }}")
        lines.append(
            f"    http-request set-path %[path,regsub(^{escaped}/,{base}/)] if {when} {{ path_beg {prefix}/ }}"
        )
    elif base:
        lines.append(f"    http-request set-path {base}%[path] if {when}")
    return lines


def _backend(settings: GatewaySettings, routes: list[RoutePlan]) -> str:
    """One backend per upstream: the routes to it share its server's health (the breaker) and rate limit."""
    plan = routes[0]
    route = plan.route
    attempts = max(each.attempts for each in routes)
    deadline = max(each.deadline or each.per_try_timeout * each.attempts for each in routes)
    lines = [
        f"backend uk_{plan.upstream_ident}",
        "    mode http",
        f"    timeout connect {duration(plan.connect_timeout)}",
        f"    timeout server {duration(plan.per_try_timeout)}",
        f"    timeout queue {duration(deadline)}",
        f"    retries {attempts - 1}",
        "    retry-on conn-failure empty-response response-timeout 500 502 503 504",
        f"    http-request disable-l7-retry unless {{ method {_IDEMPOTENT} }}",
        "    option forwardfor",
        f"    http-request set-header Host {route.host_header}",
        *(f"    http-request del-header {header}" for header in _REQUEST_HOP_BY_HOP),
        *(f"    http-response del-header {header}" for header in _RESPONSE_HOP_BY_HOP),
    ]
    for each in routes:  # a route may change how it retries: its own per-try time, no retries at all
        when = f"{{ var(txn.uk_rt) -m str {each.ident} }}"
        if each.per_try_timeout != plan.per_try_timeout:
            lines.append(f"    http-request set-timeout server {duration(each.per_try_timeout)} if {when}")
        if each.attempts == 1 and attempts > 1:
            lines.append(f"    http-request disable-l7-retry if {when}")
    if plan.rate is not None:
        limit = max(1, math.ceil(plan.rate)) + plan.burst - 1
        status, args = _reply(ErrorKind.RATE_LIMITED, settings, route.upstream, retry_after=str(plan.rate_retry_after))
        lines += [
            "    stick-table type integer size 1 expire 10s store http_req_rate(1s)",
            "    http-request track-sc0 int(1)",
            f"    http-request deny deny_status {status} {args} if {{ sc_http_req_rate(0) gt {limit} }}",
        ]
    lines += _upstream_replies(settings, plan)
    lines += _own_errors(settings, plan)
    lines.append(_server(plan))
    return "\n".join(lines)


def _upstream_replies(settings: GatewaySettings, plan: RoutePlan) -> list[str]:
    """An upstream's 429, 5xx (and 503 with Retry-After) replaced by the envelope."""
    upstream = plan.route.upstream
    ra = "%[var(txn.uk_ra)]"
    has_ra = "{ res.hdr(retry-after) -m reg '^[0-9]{1,9}$' }"
    rules = [
        (_reply(ErrorKind.RATE_LIMITED, settings, upstream, retry_after=ra, received=429), "{ status 429 } " + has_ra),
        (_reply(ErrorKind.RATE_LIMITED, settings, upstream, received=429), "{ status 429 }"),
        # A 503 with Retry-After is load shedding: rate_limited, answered 503 with the upstream's wait.
        (_reply(ErrorKind.RATE_LIMITED, settings, upstream, retry_after=ra, received=503), "{ status 503 } " + has_ra),
        (_reply(ErrorKind.HTTP_RESPONSE_TIMEOUT, settings, upstream, received=504), "{ status 504 }"),
        (_reply(ErrorKind.UPSTREAM_OUTAGE, settings, upstream, received=503), "{ status 500:599 }"),
    ]
    # Backend rules run before the frontend's: what the log needs of the upstream's answer is kept here.
    keep = [
        "    http-response set-var(txn.uk_us) status",
        "    http-response set-var(txn.uk_ra) res.hdr(retry-after)",
        "    http-response set-var-fmt(txn.uk_urid_json) "
        + _lf('"%[res.hdr(x-request-id),json(ascii)]"')
        + " if { res.hdr(x-request-id) -m found }",
    ]
    return keep + [f"    http-response return status {status} {args} if {cond}" for (status, args), cond in rules]


def _own_errors(settings: GatewaySettings, plan: RoutePlan) -> list[str]:
    """HAProxy's own 502/503/504 for this backend as envelopes."""
    upstream = plan.route.upstream
    lines = []
    for own, kind in ((502, ErrorKind.CONNECTION_TERMINATED), (504, ErrorKind.HTTP_RESPONSE_TIMEOUT)):
        _, args = _reply(kind, settings, upstream)
        lines.append(f"    http-error status {own} {args}")
    # 503: no server took the connection. With a live server the connect failed; with none, the breaker is open.
    choose = f"%[nbsrv(uk_{plan.upstream_ident}),bool,iif({{}},{{}})]"
    _, refused = envelope_template(ErrorKind.CONNECTION_REFUSED, settings.status_mode, upstream=upstream)
    _, opened = envelope_template(ErrorKind.CIRCUIT_OPEN, settings.status_mode, upstream=upstream)
    merged = _merge(json.loads(refused), json.loads(opened), choose)
    body = fill(
        merged,
        {
            "request_id": "%[var(txn.uk_rid),json(ascii)]",
            "instance": "%[var(txn.uk_path),json(ascii)]",
            "upstream_status": "null",
            "retry_after": choose.format("null", max(1, math.ceil(plan.breaker_open_for))),
        },
    )
    chosen = choose.format("connection_refused", "circuit_open")
    proxy_status = f'{_literal(settings.name)}; error={chosen}; details="{chosen}"'
    lines.append(
        f"    http-error status 503 content-type application/problem+json lf-string {_lf(body)} "
        f"hdr Cache-Control no-store hdr Proxy-Status {_lf(proxy_status)} hdr X-Uk-Kind {chosen} "
        f"hdr X-Uk-Error {choose.format('upstream_error', 'upstream_unavailable')}"
    )
    # Backend rules run before the frontend's, which drop the X-Uk-* fields.
    wait = max(1, math.ceil(plan.breaker_open_for))
    lines.append(
        f"    http-after-response set-header Retry-After {wait} if {{ res.hdr(x-uk-kind) -m str circuit_open }}"
    )
    return lines


def _merge(refused: dict[str, object], opened: dict[str, object], choose: str) -> str:
    """One body template for both kinds of HAProxy's 503: a field that differs chooses by the live servers."""
    parts = []
    for key, value in refused.items():
        other = opened[key]
        if value == other:
            text = _literal(json.dumps(value))
        else:
            text = choose.format(_arg(value), _arg(other))
            text = f'"{text}"' if isinstance(value, str) else text
        parts.append(f"{json.dumps(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def _arg(value: object) -> str:
    text = "null" if value is None else str(value)
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", text)


def _server(plan: RoutePlan) -> str:
    route = plan.route
    where = address(route.host, route.port)
    # A name that does not resolve at start leaves the server down (the envelope answers) instead of no HAProxy.
    tls = " init-addr last,libc,none"
    if route.scheme == "https":
        tls += (
            " ssl verify required ca-file /etc/ssl/certs/ca-certificates.crt"
            f" sni str({route.host}) verifyhost {route.host}"
        )
    if plan.breaker_failures is None:
        return f"    server s1 {where}{tls}"
    every = duration(plan.breaker_open_for)
    return (
        f"    server s1 {where}{tls} check inter {every} fastinter {every} downinter {every} rise 1 fall 3"
        f" observe layer7 error-limit {plan.breaker_failures} on-error mark-down"
    )


def _log_format(settings: GatewaySettings) -> str:
    values = {
        "ts": '"%[date,utime(%Y-%m-%dT%H:%M:%SZ)]"',
        "request_id": '"%[var(txn.uk_rid),json(ascii)]"',
        "method": '"%HM"',
        "path": '"%[var(txn.uk_path),json(ascii)]"',
        "route": "%[var(txn.uk_route_json,null)]",
        "upstream": "%[var(txn.uk_upstream_json,null)]",
        "status": "%ST",
        "upstream_status": "%[var(txn.uk_us,null)]",
        "kind": "%[var(txn.uk_kind_json,null)]",
        "error": "%[var(txn.uk_error_json,null)]",
        "attempts": "null",
        "duration_ms": "%Ta",
        "upstream_ms": "%Tr",
        "upstream_connect_ms": "%Tc",
        "upstream_ttfb_ms": "%Tr",
        "bytes_in": "%U",
        "bytes_out": "%B",
        "breaker": "null",
        "client": '"%ci"',
        "credential": "null",
        "upstream_request_id": "%[var(txn.uk_urid_json,null)]",
        "gateway": _literal(json.dumps(settings.name)),
        "region": _literal(json.dumps(settings.region)) if settings.region is not None else "null",
        "degraded": "null",  # no stale copy or fallback of ours, no bypass switches (listed in LIMITS)
        "bypassed": "null",
    }
    return "{" + ",".join(f'"{name}":{values[name]}' for name in FIELDS) + "}"


def render_haproxy(settings: GatewaySettings, *, snippet: bool = False, runtime_dir: Path | None = None) -> str:
    """A complete ``haproxy.cfg`` for ``settings`` (``snippet``: only the frontend and backends).

    ``runtime_dir`` is where the pid file goes (tests, unprivileged runs); None: none is written.
    """
    notes = []
    if settings.status_mode is StatusMode.STATUS_600:
        settings = dataclasses.replace(settings, status_mode=StatusMode.STATUS_5XX)
        notes.append(
            "status mode 600: HAProxy cannot send a raw 600 status line; the envelope goes with 502/503/504/429 "
            "(its body still says code 600)"
        )
    plans = plan_routes(settings)
    sections = [_frontend(settings, plans), *(_backend(settings, routes) for routes in by_upstream(plans).values())]
    body = "\n\n".join(sections) + "\n"
    head = header_comment("haproxy", settings, notes)
    if snippet:
        return head + body
    pid = f"    pidfile {runtime_dir}/haproxy.pid\n" if runtime_dir is not None else ""
    main = f"global\n    log stdout format raw local0 info\n{pid}\ndefaults\n    mode http\n    log global\n\n"
    return head + main + body
