"""Phase "http": send the request as the user would, time it, and classify what came back.

The request goes out through httpx with the user's environment (``trust_env``: proxies apply), redirects
not followed (a 302 to a login page is a finding, not a detour), ``--resolve`` honoured by connecting to the
given address while keeping the ``Host`` header and the TLS server name. With ``--repeat N`` it is sent N
times in a row, without pauses. Every send is one :class:`~upstreamkit.diagnose.model.Exchange` in
``ctx.exchanges``, raw (the report and the bundle redact on the way out). :func:`send_exchange` is the one
way diagnose sends a request: payload isolation uses it too, so both send with the same settings.

The *decisive* exchange is the first that failed, else the last: an intermittent failure among repeats is
what the engineer came for. Facts (all about the decisive exchange unless said otherwise):

- ``http.status`` (int | None): the HTTP status (None: no response).
- ``http.version`` (str | None): ``"HTTP/1.1"``, ``"HTTP/2"``.
- ``http.ttfb_ms`` (float | None): time to first byte (response headers received), ms.
- ``http.total_ms`` (float | None): until the body was read (or the error), ms.
- ``http.size`` (int): body bytes read (capped at 1 MiB).
- ``http.truncated`` (bool): the body was longer than the cap and was cut.
- ``http.kind`` (str | None): the classifier's kind of the taxonomy; None on success.
- ``http.explanation`` (str): the classifier's one-line explanation (redacted).
- ``http.evidence`` (list[str]): the classifier's evidence lines (redacted).
- ``http.retryable`` (bool): whether the same request sent again may succeed.
- ``http.request_sent`` (bool): whether the upstream may have acted on it.
- ``http.retry_after`` (float | None): seconds to wait, when known.
- ``http.request_id`` (str | None): the upstream's request id (redacted), for support.
- ``http.producer`` (str | None), ``http.signature`` (str | None): the vendor signature that matched.
- ``http.hop`` (str): who produced the failure (client, gateway, upstream, unknown).
- ``http.is_600`` (bool): the failure arrived as "error 600" (raw status or body envelope).
- ``http.error`` (str | None): the transport error (class: message, redacted), when there was one.
- ``http.error_kind`` (str | None): its kind.
- ``http.statuses`` (list[int | None]): the status of every repeat, in order.
- ``http.failures`` (int): how many repeats failed.
- ``http.repeats`` (int): how many times the request was sent.
- ``http.server`` (str | None): the Server header.
- ``http.date`` (str | None): the server's Date header.
- ``http.content_type`` (str | None): the response's Content-Type.

Status: ok when the last exchange is a success, warning when it is but an earlier repeat failed
(intermittent), failed otherwise; skipped when TCP failed (and no proxy carries the request), or when TLS
failed without ``-k``.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from upstreamkit.core.classify import Outcome, classify, classify_exception
from upstreamkit.core.headers import parse_http_date
from upstreamkit.core.redact import redact_headers, redact_text, redact_url
from upstreamkit.diagnose.model import Exchange, PhaseResult, PhaseStatus, ProbeContext, ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes.proxies import match_proxy

__all__ = ["BODY_CAP", "classify_exchange", "make_client", "probe", "send_exchange"]

BODY_CAP = 1 << 20
"""The most response body read per exchange (1 MiB): enough for any error page, bounded for any download."""

# httpx computes these from the body it sends; a stale copy from a pasted curl line would corrupt the request.
_COMPUTED_HEADERS = frozenset({"content-length", "transfer-encoding"})
_DETAIL_CLIP = 160


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def make_client(options: ProbeOptions, url: str | None = None) -> httpx.Client:
    """An httpx client with the settings every diagnose request uses (raises OSError for a bad --cacert).

    For a plain ``http://`` ``url`` with no proxy in the environment no TLS can happen, so the client skips
    loading the CA bundle (about 50 ms: most of a healthy diagnosis).
    """
    verify: ssl.SSLContext | bool
    plain = url is not None and url.startswith("http://") and not any(os.environ.get(v) for v in _PROXY_VARIABLES)
    if options.insecure or plain:
        verify = False
    elif options.cacert:
        verify = ssl.create_default_context(cafile=options.cacert)
    else:
        verify = True
    return httpx.Client(follow_redirects=False, timeout=options.timeout, verify=verify, trust_env=True)


def _target(
    request: ProbeRequest, options: ProbeOptions
) -> tuple[httpx.URL, list[tuple[bytes, bytes]], dict[str, Any]]:
    """The URL to connect to, the headers and the extensions, with ``--resolve`` applied.

    Header values go out as UTF-8 bytes, as curl sends them (httpx would refuse a non-ASCII ``str``).
    """
    url = httpx.URL(request.url)
    headers = [
        (name.encode("ascii"), value.encode("utf-8"))
        for name, value in request.headers
        if name.lower() not in _COMPUTED_HEADERS
    ]
    extensions: dict[str, Any] = {}
    port = url.port or (443 if url.scheme == "https" else 80)
    for host, resolve_port, address in options.resolve:
        if host.lower() == url.host.lower() and resolve_port == port:
            if not any(name.lower() == "host" for name, _ in request.headers):
                headers.append((b"Host", url.netloc))
            extensions["sni_hostname"] = url.host
            url = url.copy_with(host=address)
            break
    return url, headers, extensions


def _decoded(headers: httpx.Headers) -> list[tuple[str, str]]:
    encoding = headers.encoding
    return [(name.decode(encoding), value.decode(encoding)) for name, value in headers.raw]


@dataclass(slots=True)
class _Sent:
    """One send: the exchange, the verdict on its transport error (if any), whether the body was cut."""

    exchange: Exchange
    error: Outcome | None = None
    truncated: bool = False


def _send(client: httpx.Client, request: ProbeRequest, options: ProbeOptions) -> _Sent:
    """Send once and read at most :data:`BODY_CAP` bytes of the body."""
    exchange = Exchange(
        method=request.method, url=request.url, request_headers=list(request.headers), request_body=request.body
    )
    marks: dict[str, float] = {}

    def trace(name: str, info: Mapping[str, Any]) -> None:
        del info
        if name.endswith("receive_response_headers.complete"):
            marks.setdefault("headers", time.perf_counter())

    exchange.started = time.time()
    began = time.perf_counter()
    response: httpx.Response | None = None
    sent = _Sent(exchange)
    try:
        url, headers, extensions = _target(request, options)
        built = client.build_request(
            request.method, url, headers=headers, content=request.body, extensions={**extensions, "trace": trace}
        )
        exchange.request_headers = _decoded(built.headers)
        response = client.send(built, stream=True)
        exchange.ttfb_ms = (marks.get("headers", time.perf_counter()) - began) * 1000
        exchange.status = response.status_code
        exchange.http_version = response.http_version
        exchange.response_headers = _decoded(response.headers)
        body = bytearray()
        for chunk in response.iter_bytes():
            body.extend(chunk)
            if len(body) > BODY_CAP:
                sent.truncated = True
                break
        exchange.response_body = bytes(body[:BODY_CAP])
    except Exception as exc:  # noqa: BLE001 - any failure to send or read is this phase's finding
        sent.error = classify_exception(exc)
        exchange.error = redact_text(f"{type(exc).__name__}: {exc}")
        exchange.error_kind = sent.error.kind
    finally:
        if response is not None:
            response.close()
    exchange.total_ms = (time.perf_counter() - began) * 1000
    return sent


def send_exchange(client: httpx.Client, request: ProbeRequest, options: ProbeOptions) -> Exchange:
    """Send ``request`` once with ``client`` (from :func:`make_client`) and return what happened.

    Never raises for a network or protocol failure: the exchange then has ``error`` and ``error_kind``.
    """
    return _send(client, request, options).exchange


def classify_exchange(exchange: Exchange) -> Outcome:
    """The classifier's verdict on an exchange that got a response (a transport error: ``error_kind``'s).

    HTTP-dates and epoch resets are read against the server's own Date when it sends one (immune to clock
    skew), else against the time the request started.
    """
    if exchange.status is None or exchange.error is not None:
        raise ValueError("classify_exchange needs an exchange with a complete response")
    date = exchange.response_header("date")
    now = (parse_http_date(date) if date else None) or exchange.started or None
    return classify(exchange.status, exchange.response_headers, exchange.response_body, now=now)


def _clip(text: str, width: int = _DETAIL_CLIP) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _skip_reason(ctx: ProbeContext) -> str | None:
    """Why sending is pointless, or None. Absent phases are no reason: a caller may run only some."""
    dns = ctx.results.get("dns")
    tcp = ctx.failed("tcp")
    proxied = match_proxy(ctx.request.url).applies  # through a proxy, a failed direct connect proves nothing
    if not proxied and dns is not None and dns.status == "failed":
        return f"skipped: DNS failed ({_clip(dns.detail, 100)})"
    if not proxied and tcp is not None:
        verb = "failed" if tcp.status == "failed" else "did not run"
        return f"skipped: TCP {verb} ({_clip(tcp.detail, 100)})"
    tls = ctx.results.get("tls")
    if tls is not None and tls.status == "failed" and not ctx.options.insecure:
        return f"skipped: TLS failed ({_clip(tls.detail, 100)}); -k sends anyway"
    return None


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _describe(exchange: Exchange, outcome: Outcome) -> str:
    """One line: ``HTTP/1.1 401 in 12 ms (TTFB 11 ms), 87 bytes: auth_expired — explanation``."""
    if exchange.status is None:
        head = f"no response after {_ms(exchange.total_ms)} ms"
    else:
        head = (
            f"{exchange.http_version} {exchange.status} in {_ms(exchange.total_ms)} ms "
            f"(TTFB {_ms(exchange.ttfb_ms)} ms), {len(exchange.response_body)} bytes"
        )
    if outcome.kind is None:
        return head
    return f"{head}: {outcome.kind} — {outcome.explanation}"


def _facts(decisive: _Sent, outcome: Outcome, sends: list[tuple[_Sent, Outcome]]) -> dict[str, Any]:
    exchange = decisive.exchange
    return {
        "http.status": exchange.status,
        "http.version": exchange.http_version,
        "http.ttfb_ms": None if exchange.ttfb_ms is None else round(exchange.ttfb_ms, 3),
        "http.total_ms": None if exchange.total_ms is None else round(exchange.total_ms, 3),
        "http.size": len(exchange.response_body),
        "http.truncated": decisive.truncated,
        "http.kind": None if outcome.kind is None else str(outcome.kind),
        "http.explanation": outcome.explanation,
        "http.evidence": list(outcome.evidence),
        "http.retryable": outcome.retryable,
        "http.request_sent": outcome.request_sent,
        "http.retry_after": outcome.retry_after,
        "http.request_id": outcome.request_id,
        "http.producer": outcome.producer,
        "http.signature": outcome.signature,
        "http.hop": str(outcome.hop),
        "http.is_600": outcome.is_600,
        "http.error": exchange.error,
        "http.error_kind": None if exchange.error_kind is None else str(exchange.error_kind),
        "http.statuses": [sent.exchange.status for sent, _ in sends],
        "http.failures": sum(1 for _, verdict in sends if not verdict.ok),
        "http.repeats": len(sends),
        "http.server": exchange.response_header("server"),
        "http.date": exchange.response_header("date"),
        "http.content_type": exchange.response_header("content-type"),
    }


def probe(ctx: ProbeContext) -> PhaseResult:
    """Send the request (``--repeat`` times), record each exchange, classify the decisive one."""
    began = time.perf_counter()
    skip = _skip_reason(ctx)
    if skip is not None:
        return ctx.skip("http", skip)
    where = redact_url(ctx.request.url)
    try:
        client = make_client(ctx.options, ctx.request.url)
    except Exception as exc:  # noqa: BLE001 - a bad --cacert or proxy setting is the finding, not a crash
        detail = redact_text(f"could not set up the client: {type(exc).__name__}: {exc}")
        ctx.log.append(f"http: {detail}")
        facts = {"http.status": None, "http.error": detail, "http.kind": None, "http.repeats": 0}
        return PhaseResult("http", "failed", (time.perf_counter() - began) * 1000, detail, facts)
    sends: list[tuple[_Sent, Outcome]] = []
    with client:
        for attempt in range(1, max(1, ctx.options.repeat) + 1):
            sent = _send(client, ctx.request, ctx.options)
            ctx.exchanges.append(sent.exchange)  # first: the report keeps the response even if classifying fails
            outcome = sent.error if sent.error is not None else classify_exchange(sent.exchange)
            sends.append((sent, outcome))
            line = _describe(sent.exchange, outcome)
            ctx.log.append(f"http: {ctx.request.method} {where} (send {attempt}) → {line}")
    decisive, outcome = next(((s, o) for s, o in sends if not o.ok), sends[-1])
    exchange = decisive.exchange
    failures = sum(1 for _, verdict in sends if not verdict.ok)
    status: PhaseStatus = "failed" if not sends[-1][1].ok else "warning" if failures else "ok"
    detail = _describe(exchange, outcome)
    if len(sends) > 1:
        statuses = ", ".join(str(s.exchange.status) if s.exchange.status is not None else "-" for s, _ in sends)
        detail += f"; {failures} of {len(sends)} sends failed (statuses {statuses})"
    if exchange.error is not None and exchange.status is not None:
        detail += f" ({exchange.error})"
    lines = [f"{name}: {value}" for name, value in redact_headers(exchange.response_headers)]
    if decisive.truncated:
        lines.append(f"body cut at {BODY_CAP} bytes")
    facts = _facts(decisive, outcome, sends)
    return PhaseResult("http", status, (time.perf_counter() - began) * 1000, detail, facts, lines)
