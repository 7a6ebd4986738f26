"""The gateway's routes and policies as an nginx config (``upstreamkit gateway export --format nginx``).

How each policy maps (and, in :mod:`.limits`, what nginx cannot express):

- routes: ``location = /pay`` and ``location /pay/`` (nginx's longest prefix wins, on segment boundaries),
  ``proxy_pass`` with the base path, so the prefix is stripped as the gateway strips it; anything else is
  ``location /`` answering the 404 envelope (``destination_not_found``);
- timeouts: ``proxy_connect_timeout`` (connect), ``proxy_send_timeout``/``proxy_read_timeout`` (per try),
  ``proxy_next_upstream_timeout`` (the deadline);
- retries: ``proxy_next_upstream error timeout http_500 http_502 http_503 http_504`` without
  ``non_idempotent`` (a sent POST is never resent) and ``proxy_next_upstream_tries`` = attempts. nginx only
  retries on another peer, so the upstream is listed once per attempt;
- breaker: ``max_fails``/``fail_timeout`` per peer (passive health), one ``upstream`` block per upstream so
  its routes share it as they share the gateway's breaker; with every peer down nginx answers "no live
  upstreams", rendered as the ``circuit_open`` envelope;
- rate: ``limit_req`` (per route, ``burst``) with ``limit_req_status 429`` and the envelope with Retry-After;
- envelope: ``proxy_intercept_errors on`` and ``error_page`` to named locations per route and status, each
  telling the kind apart from nginx's upstream variables (connect time, header time, live peer) and
  answering the RFC 9457 body with ``Proxy-Status``, ``Retry-After`` and ``X-Request-Id``;
- request ids: the caller's ``X-Request-Id`` when it is sane, else ``$request_id``; sent upstream and back;
- headers: ``Host`` set to the upstream's authority, ``X-Forwarded-For`` appended, hop-by-hop fields cleared;
- access log: ``log_format upstreamkit`` writing the gateway contract's fields
  (:data:`upstreamkit.gateway.accesslog.FIELDS`) as JSON, values guarded by maps so the line stays JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from upstreamkit.errors import ErrorKind
from upstreamkit.gateway.accesslog import FIELDS
from upstreamkit.gateway.export.common import (
    RoutePlan,
    address,
    by_upstream,
    duration,
    envelope_template,
    fill,
    header_comment,
    plan_routes,
)

if TYPE_CHECKING:
    from upstreamkit.gateway.config import GatewaySettings

__all__ = ["render_nginx"]

_HOP_BY_HOP = ("Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer", "Upgrade")
_RESPONSE_HOP_BY_HOP = ("Proxy-Authenticate", "Trailer", "Upgrade", "Keep-Alive", "X-Request-Id")

# Maps over nginx's variables, shared by every route. Regexes keep what goes into JSON to safe characters.
_MAPS = r"""
map $http_x_request_id $uk_request_id {
    "~^[!#-\[\]-~]{1,200}$" $http_x_request_id;
    default $request_id;
}
map $request_uri $uk_path {
    "~^(?<p>/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)(\?.*)?$" $p;
    default "-";
}
map $upstream_status $uk_upstream_last_status { "~(?<s>[0-9]{3})$" $s; default ""; }
map $upstream_header_time $uk_answered { "~[0-9]$" 1; default 0; }
map $upstream_connect_time $uk_connected { "~[0-9]$" 1; default 0; }
map $upstream_addr $uk_live_peer { "~:[0-9]+$" 1; "" 1; default 0; }
map "$uk_answered|$uk_upstream_last_status" $uk_upstream_status {
    "~^1\|(?<s>[0-9]{3})$" $s;
    default null;
}
map "$uk_answered|$uk_upstream_last_status" $uk_received_status {
    "~^1\|(?<s>[0-9]{3})$" "; received-status=$s";
    default "";
}
map $upstream_http_retry_after $uk_upstream_retry_after { "~^(?<s>[0-9]{1,9})$" $s; default ""; }
map $upstream_http_x_request_id $uk_upstream_request_id_json {
    "~^(?<v>[!#-\[\]-~]{1,200})$" "\"$v\"";
    default null;
}
map $uk_kind $uk_kind_json { "" null; default "\"$uk_kind\""; }
map $uk_kind $uk_error_json { "" null; default "\"$uk_error\""; }
map $uk_route $uk_route_json { "" null; default "\"$uk_route\""; }
map $uk_route $uk_upstream_json { "" null; default "\"$uk_upstream\""; }
map $upstream_addr $uk_attempts {
    "" 0;
    "~^[^,]*$" 1;
    "~^[^,]*,[^,]*$" 2;
    "~^[^,]*,[^,]*,[^,]*$" 3;
    "~^[^,]*(,[^,]*){3}$" 4;
    "~^[^,]*(,[^,]*){4}$" 5;
    "~^[^,]*(,[^,]*){5}$" 6;
    "~^[^,]*(,[^,]*){6}$" 7;
    "~^[^,]*(,[^,]*){7}$" 8;
    "~^[^,]*(,[^,]*){8}$" 9;
    default 10;
}
map $time_iso8601 $uk_ts_second { "~^(?<s>[0-9-]+T[0-9:]+)" $s; }
map $time_iso8601 $uk_ts_zone { "~(?<z>[+-][0-9:]+|Z)$" $z; default Z; }
map $msec $uk_ts_millis { "~\.(?<m>[0-9]{3})" $m; default 000; }
"""

# Seconds ("0.012", "1.500", "0.012, 0.034", "-") to whole milliseconds as a JSON number or null; the last value.
_MS_MAP = r"""map {source} {name} {{
    "~(^|[ ,])0\.0*(?<ms>[1-9][0-9]?[0-9]?)$" $ms;
    "~(^|[ ,])0\.000$" 0;
    "~(^|[ ,])(?<s>[1-9][0-9]*)\.(?<ms>[0-9]{{3}})$" $s$ms;
    default null;
}}
"""


def _ms_maps() -> str:
    sources = {
        "$request_time": "$uk_duration_ms",
        "$upstream_response_time": "$uk_upstream_ms",
        "$upstream_connect_time": "$uk_upstream_connect_ms",
        "$upstream_header_time": "$uk_upstream_ttfb_ms",
    }
    return "".join(_MS_MAP.format(source=source, name=name) for source, name in sources.items())


def _log_format(settings: GatewaySettings) -> str:
    values = {
        "ts": '"${uk_ts_second}.${uk_ts_millis}${uk_ts_zone}"',
        "request_id": '"$uk_request_id"',
        "method": '"$request_method"',
        "path": '"$uk_path"',
        "route": "$uk_route_json",
        "upstream": "$uk_upstream_json",
        "status": "$status",
        "upstream_status": "$uk_upstream_status",
        "kind": "$uk_kind_json",
        "error": "$uk_error_json",
        "attempts": "$uk_attempts",
        "duration_ms": "$uk_duration_ms",
        "upstream_ms": "$uk_upstream_ms",
        "upstream_connect_ms": "$uk_upstream_connect_ms",
        "upstream_ttfb_ms": "$uk_upstream_ttfb_ms",
        "bytes_in": "$request_length",
        "bytes_out": "$body_bytes_sent",
        "breaker": "null",
        "client": '"$remote_addr"',
        "credential": "null",
        "upstream_request_id": "$uk_upstream_request_id_json",
        "gateway": _json_literal(settings.name),
        "region": _json_literal(settings.region) if settings.region is not None else "null",
        "degraded": "null",  # nginx serves no stale copy or fallback of ours (listed in LIMITS)
        "bypassed": "null",  # and has no bypass switches
    }
    missing = set(FIELDS) - set(values)
    if missing:  # the contract grew: the export must grow with it
        raise RuntimeError(f"the nginx access log does not render {sorted(missing)}")
    body = ",".join(f'"{name}":{values[name]}' for name in FIELDS)
    return f"log_format upstreamkit escape=none '{{{body}}}';\n"


def _json_literal(text: str) -> str:
    """A JSON string for a config value, safe inside nginx's single quotes and free of ``$``."""
    return json.dumps(text, ensure_ascii=True).replace("'", "\\u0027").replace("$", "\\u0024")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _envelope_return(
    kind: ErrorKind, settings: GatewaySettings, plan: RoutePlan | None, *, retry_after: str, received: int | None = None
) -> str:
    """``set`` the log's kind and ``return`` the envelope (status, body) for ``kind``; ``received``: the
    upstream's status when the upstream answered it."""
    upstream = plan.route.upstream if plan is not None else None
    refusal = 404 if kind is ErrorKind.DESTINATION_NOT_FOUND else None
    status, template = envelope_template(
        kind, settings.status_mode, upstream=upstream, refusal_status=refusal, upstream_status=received
    )
    body = fill(
        template,
        {
            "request_id": "$uk_request_id",
            "instance": "$uk_path",
            "upstream_status": "$uk_upstream_status" if plan is not None else "null",
            "retry_after": retry_after,
        },
    )
    error = json.loads(template)["error"]
    return f"set $uk_kind {kind.value}; set $uk_error {error}; return {status} {_quote(body)};"


def _error_location(settings: GatewaySettings, plan: RoutePlan, status: int) -> str:
    """The named location nginx's ``error_page`` sends one route's ``status`` to: the kind, then the envelope."""
    own_retry = str(plan.rate_retry_after)
    branches: list[tuple[str | None, ErrorKind, str]] = []
    if status == 502:
        branches = [
            ("$uk_live_peer = 0", ErrorKind.CIRCUIT_OPEN, str(math.ceil(plan.breaker_open_for) or 1)),
            ("$uk_answered = 1", ErrorKind.UPSTREAM_OUTAGE, "null"),
            ("$uk_connected = 0", ErrorKind.CONNECTION_REFUSED, "null"),
            (None, ErrorKind.CONNECTION_TERMINATED, "null"),
        ]
    elif status == 504:
        branches = [
            ("$uk_answered = 1", ErrorKind.HTTP_RESPONSE_TIMEOUT, "null"),
            ("$uk_connected = 0", ErrorKind.CONNECTION_TIMEOUT, "null"),
            (None, ErrorKind.HTTP_RESPONSE_TIMEOUT, "null"),
        ]
    elif status == 429:
        branches = [
            ('$uk_upstream_retry_after != ""', ErrorKind.RATE_LIMITED, "$uk_upstream_retry_after"),
            ('$upstream_status = ""', ErrorKind.RATE_LIMITED, own_retry),
            (None, ErrorKind.RATE_LIMITED, "null"),
        ]
    elif status == 503:  # the upstream's own (nginx makes none here); with Retry-After, load shedding
        branches = [
            ('$uk_upstream_retry_after != ""', ErrorKind.RATE_LIMITED, "$uk_upstream_retry_after"),
            (None, ErrorKind.UPSTREAM_OUTAGE, "null"),
        ]
    else:  # 500, 501: the upstream's own answer
        branches = [(None, ErrorKind.UPSTREAM_OUTAGE, "null")]
    lines = [f"    location @uk_{plan.ident}_{status} {{", "        default_type application/problem+json;"]
    lines += _envelope_headers(settings)
    lines.append(f"        set $uk_route {plan.route.prefix}; set $uk_upstream {plan.route.upstream};")
    for condition, kind, retry_after in branches:
        action = _envelope_return(kind, settings, plan, retry_after=retry_after, received=status)
        if retry_after not in ("null", ""):
            action = f"set $uk_retry_after {retry_after}; {action}"
        lines.append(f"        if ({condition}) {{ {action} }}" if condition else f"        {action}")
    lines.append("    }")
    return "\n".join(lines)


def _envelope_headers(settings: GatewaySettings) -> list[str]:
    proxy_status = f'{settings.name}; error=$uk_kind; details="$uk_error"$uk_received_status'
    return [
        '        add_header Cache-Control "no-store" always;',
        f"        add_header Proxy-Status {_quote(proxy_status)} always;",
        "        add_header Retry-After $uk_retry_after always;",
        "        add_header X-Request-Id $uk_request_id always;",
    ]


def _upstream_block(routes: list[RoutePlan]) -> str:
    """One upstream block for all the routes to one upstream: they share its passive health (the breaker)."""
    plan = routes[0]
    route = plan.route
    where = address(route.host, route.port)
    attempts = max(each.attempts for each in routes)
    peers = max(attempts, 2)  # one peer is never marked down by nginx: a second keeps max_fails working
    if plan.breaker_failures is not None:
        max_fails = max(1, math.ceil(plan.breaker_failures / attempts))
        health = f" max_fails={max_fails} fail_timeout={max(1, math.ceil(plan.breaker_open_for))}s"
    else:
        health = " max_fails=0"
    lines = [f"upstream uk_{plan.upstream_ident} {{"]
    for index in range(peers):
        down = " down" if index >= attempts else ""
        lines.append(f"    server {where}{health}{down};")
    lines += ["    keepalive 16;", "}"]
    return "\n".join(lines) + "\n"


def _route_locations(settings: GatewaySettings, plan: RoutePlan) -> str:
    route = plan.route
    prefix = route.prefix.rstrip("/")
    base = route.base_path
    scheme = route.scheme
    common = [
        f"set $uk_route {route.prefix};",
        f"set $uk_upstream {route.upstream};",
        f"proxy_set_header Host {_quote(route.host_header)};",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Request-Id $uk_request_id;",
        *(f'proxy_set_header {name} "";' for name in _HOP_BY_HOP),
        *(f"proxy_hide_header {name};" for name in _RESPONSE_HOP_BY_HOP),
        "add_header X-Request-Id $uk_request_id always;",
        "proxy_http_version 1.1;",
        f"proxy_connect_timeout {duration(plan.connect_timeout)};",
        f"proxy_send_timeout {duration(plan.per_try_timeout)};",
        f"proxy_read_timeout {duration(plan.per_try_timeout)};",
        "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;",
        f"proxy_next_upstream_tries {plan.attempts};",
        f"proxy_next_upstream_timeout {duration(plan.deadline) if plan.deadline else 0};",
        "proxy_intercept_errors on;",
        *(f"error_page {status} = @uk_{plan.ident}_{status};" for status in (429, 500, 501, 502, 503, 504)),
    ]
    if scheme == "https":
        common += [
            "proxy_ssl_server_name on;",
            f"proxy_ssl_name {route.host};",
            "proxy_ssl_verify on;",
            "proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;",
        ]
    if plan.rate is not None:
        common.append(f"limit_req zone=uk_{plan.upstream_ident} burst={plan.burst};")
    body = "".join(f"        {line}\n" for line in common)
    target = f"{scheme}://uk_{plan.upstream_ident}"
    if prefix == "":
        return f"    location / {{\n{body}        proxy_pass {target}{base}/;\n    }}\n"
    return (
        f"    location = {prefix} {{\n{body}        proxy_pass {target}{base or '/'};\n    }}\n"
        f"    location {prefix}/ {{\n{body}        proxy_pass {target}{base}/;\n    }}\n"
    )


def _rate_zone(plan: RoutePlan) -> str:
    per_minute = plan.rate * 60 if plan.rate is not None else 0
    # nginx takes whole requests per second or per minute.
    rate = f"{round(plan.rate)}r/s" if plan.rate and plan.rate >= 1 else f"{max(1, round(per_minute))}r/m"
    return (
        f'map $request_method $uk_rate_key_{plan.upstream_ident} {{ default "{plan.upstream_ident}"; }}\n'
        f"limit_req_zone $uk_rate_key_{plan.upstream_ident} zone=uk_{plan.upstream_ident}:1m rate={rate};\n"
    )


def _notes(plans: list[RoutePlan]) -> list[str]:
    notes = []
    for plan in plans:
        if plan.breaker_open_for and plan.breaker_open_for != math.ceil(plan.breaker_open_for):
            notes.append(
                f"{plan.route.prefix}: the breaker's {plan.breaker_open_for:g}s break is fail_timeout="
                f"{math.ceil(plan.breaker_open_for)}s (nginx takes whole seconds)"
            )
        if plan.rate is not None and (plan.rate < 1 or plan.rate != round(plan.rate)):
            notes.append(f"{plan.route.prefix}: rate {plan.rate:g}/s is rounded to whole requests per second or minute")
    return notes


def render_nginx(settings: GatewaySettings, *, snippet: bool = False, runtime_dir: Path | None = None) -> str:
    """A complete ``nginx.conf`` for ``settings`` (``snippet``: only what goes inside ``http {}``).

    ``runtime_dir`` keeps the pid file, temp paths and error log in one folder (tests, unprivileged runs);
    None: Debian's defaults.
    """
    plans = plan_routes(settings)
    groups = by_upstream(plans)
    access = settings.access_log if settings.access_log not in (None, "-") else "/dev/stdout"
    http: list[str] = [
        "# --- upstreamkit: maps, upstreams and log format (inside http {}) ---",
        _MAPS.strip(),
        _ms_maps().strip(),
        _log_format(settings).strip(),
        "limit_req_status 429;",
        *(_rate_zone(routes[0]).strip() for routes in groups.values() if routes[0].rate is not None),
        *(_upstream_block(routes).strip() for routes in groups.values()),
    ]
    server = [
        "server {",
        f"    listen {address(settings.host, settings.port)};",
        f"    access_log {access} upstreamkit;",
        "    server_tokens off;",
        "    proxy_buffering on;",
        '    set $uk_kind ""; set $uk_error ""; set $uk_retry_after ""; set $uk_route ""; set $uk_upstream "";',
    ]
    server += [_route_locations(settings, plan).rstrip() for plan in plans]
    if not any(plan.route.prefix.rstrip("/") == "" for plan in plans):
        not_found = _envelope_return(ErrorKind.DESTINATION_NOT_FOUND, settings, None, retry_after="null")
        server += [
            "    location / {",
            "        default_type application/problem+json;",
            *_envelope_headers(settings),
            f"        {not_found}",
            "    }",
        ]
    for plan in plans:
        server += [_error_location(settings, plan, status) for status in (429, 500, 501, 502, 503, 504)]
    server.append("}")
    inner = "\n".join(http) + "\n" + "\n".join(server) + "\n"
    head = header_comment("nginx", settings, _notes(plans))
    if snippet:
        return head + inner
    return head + _main(runtime_dir, inner)


def _main(runtime_dir: Path | None, http: str) -> str:
    if runtime_dir is None:
        head = "pid /run/nginx-upstreamkit.pid;\nerror_log stderr warn;\n"
        temp = ""
    else:
        head = (
            f"daemon off;\nmaster_process off;\npid {runtime_dir}/nginx.pid;\nerror_log {runtime_dir}/error.log warn;\n"
        )
        temp = "".join(
            # Directly in DIR, which must exist: nginx makes a temp path's last folder, never its parents.
            f"{name}_temp_path {runtime_dir}/{name}_temp;\n"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
    indented = "".join(f"    {line}\n" if line else "\n" for line in (temp + http).splitlines())
    return f"{head}events {{ worker_connections 1024; }}\nhttp {{\n{indented}}}\n"
