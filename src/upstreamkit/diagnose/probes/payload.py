"""Phase "payload": the request body's size, type and JSON validity, and (on request) the field that fails it.

With ``--isolate-payload`` and a response that rejected the payload (kind ``payload_rejected``, or status
400/413/422), the JSON body's leaf fields are bisected (:func:`._isolate.ddmin`) to the smallest set that still
fails *the same way*: the same status and, when the first answer named one, the same error code. Each test
resends the request through :func:`.http.send_exchange`, with the http phase's settings. Resending is only
done for idempotent methods (GET HEAD OPTIONS PUT DELETE) unless ``--allow-unsafe``, never more than
``--max-isolation-requests`` times, and the bound is stated before the first request is sent.

Facts:

- ``payload.size`` (int): request body bytes.
- ``payload.content_type`` (str | None): the request's Content-Type.
- ``payload.json_valid`` (bool | None): the body parses as JSON (None: not JSON by type or look).
- ``payload.json_error`` (str | None): where and why it does not parse (``line 1 column 15 (char 14): ...``).
- ``payload.fields`` (int | None): how many leaf fields the JSON body has.
- ``payload.too_large`` (bool): the upstream answered 413.
- ``payload.isolation`` (str): ``off`` (not asked), ``skipped``, ``done`` or ``incomplete`` (budget spent).
- ``payload.isolated`` (list[str]): dotted paths of the smallest failing set (``["customer.email"]``); empty
  when isolation did not run, or when the body fails even without any field.
- ``payload.isolation_requests`` (int): requests isolation sent.
- ``payload.isolation_skipped`` (str | None): why isolation did not run or did not finish (unsafe method, no
  JSON, no payload failure, cap reached).

Status: skipped without a request body; failed when the upstream answered 413, the body claims JSON but does
not parse, or isolation found the fields to blame; ok otherwise.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from upstreamkit.core.envelope import decode_json
from upstreamkit.core.redact import redact_json
from upstreamkit.diagnose.model import Exchange, PhaseResult, PhaseStatus, ProbeContext
from upstreamkit.diagnose.probes._isolate import Path, ddmin, dotted, keep_only, leaves, worst_case_tests
from upstreamkit.diagnose.probes.body import error_of
from upstreamkit.diagnose.probes.http import make_client, send_exchange

__all__ = ["inspect", "probe"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_PAYLOAD_STATUSES = frozenset({400, 413, 422})


def inspect(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Size, type and JSON validity of a request body (pure)."""
    text = body.decode("utf-8", "replace")
    looks_json = "json" in (content_type or "").lower() or text.lstrip()[:1] in ("{", "[")
    facts: dict[str, Any] = {
        "payload.size": len(body),
        "payload.content_type": content_type,
        "payload.json_valid": None,
        "payload.json_error": None,
        "payload.fields": None,
    }
    if not looks_json:
        return facts
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        facts.update({"payload.json_valid": False, "payload.json_error": f"not UTF-8 at byte {exc.start}"})
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
        facts.update({"payload.json_valid": False, "payload.json_error": f"{where}: {exc.msg}"})
    else:
        facts.update({"payload.json_valid": True, "payload.fields": len(leaves(document))})
    return facts


def _failure(ctx: ProbeContext) -> tuple[int | None, str | None]:
    """The status and error code that rejected the payload, or (None, None) when nothing did."""
    answered = [exchange for exchange in ctx.exchanges if exchange.status is not None]
    status = ctx.facts.get("http.status")
    if status is None and answered:
        status = answered[-1].status
    kind = ctx.facts.get("http.kind")
    if not isinstance(status, int) or (kind != "payload_rejected" and status not in _PAYLOAD_STATUSES):
        return None, None
    rejecting = next((e for e in reversed(answered) if e.status == status), None)
    error = error_of(decode_json(rejecting.response_body.decode("utf-8", "replace"))) if rejecting else None
    return status, error


def _same_failure(exchange: Exchange, status: int, error: str | None) -> bool:
    if exchange.status != status:
        return False
    return error is None or error_of(decode_json(exchange.response_body.decode("utf-8", "replace"))) == error


def _shown(document: Any, path: Path) -> str:
    """``customer.email = "x@example.invalid"``, the value redacted when its name is secret."""
    value: Any = document
    for part in path:
        value = value[part]
    name = str(path[-1]) if path else "value"
    return f"{dotted(path)} = {json.dumps(redact_json({name: value})[name], ensure_ascii=False)}"


def _isolate(ctx: ProbeContext, body: bytes, facts: dict[str, Any], lines: list[str]) -> None:
    """Bisect the JSON body's fields; fill the isolation facts."""
    options, request = ctx.options, ctx.request
    status, error = _failure(ctx)
    method = request.method.upper()

    def skip(reason: str) -> None:
        facts.update({"payload.isolation": "skipped", "payload.isolation_skipped": reason})
        lines.append(f"isolation skipped: {reason}")
        ctx.log.append(f"payload: isolation skipped: {reason}")

    if status is None:
        skip("the request did not fail with a payload error (400, 413, 422)")
        return
    if method not in IDEMPOTENT and not options.allow_unsafe:
        skip(f"{method} is not idempotent and isolation resends it; --allow-unsafe permits it")
        return
    if not facts["payload.json_valid"]:
        skip("the body is not valid JSON")
        return
    document = json.loads(body)
    fields = leaves(document)
    budget = max(0, options.max_isolation_requests)
    bound = min(budget, worst_case_tests(len(fields)))
    announced = f"isolation: bisecting {len(fields)} fields of the body; it may send up to {bound} requests"
    lines.append(announced)
    ctx.log.append(f"payload: {announced}")

    try:
        client = make_client(options, ctx.request.url)
    except Exception as exc:  # noqa: BLE001 - the http phase reports a broken client setup; say why here too
        skip(f"could not set up the client ({type(exc).__name__})")
        return
    with client:

        def still_fails(subset: list[Path]) -> bool:
            trimmed = json.dumps(keep_only(document, set(subset)), ensure_ascii=False).encode()
            exchange = send_exchange(client, replace(request, body=trimmed), options)
            ctx.exchanges.append(exchange)
            failed = _same_failure(exchange, status, error)
            names = ", ".join(dotted(path) for path in subset) or "no fields"
            verdict = "still fails" if failed else "passes"
            lines.append(f"  {len(subset)} fields ({names}) → {exchange.status or exchange.error_kind}: {verdict}")
            return failed

        result = ddmin(fields, still_fails, budget)
    facts["payload.isolated"] = [dotted(path) for path in result.found]
    facts["payload.isolation_requests"] = result.tests
    facts["payload.isolation"] = "done" if result.complete else "incomplete"
    if not result.complete:
        facts["payload.isolation_skipped"] = f"cap reached after {result.tests} requests: the set may not be minimal"
    if result.found:
        found = "; ".join(_shown(document, path) for path in result.found)
        summary = f"the failure ({status}) follows {found}"
    else:
        summary = f"the body fails ({status}) even without any field: no single field is to blame"
    lines.append(summary)
    ctx.log.append(f"payload: isolation sent {result.tests} requests: {summary}")


def probe(ctx: ProbeContext) -> PhaseResult:
    """Describe the request body; with ``--isolate-payload``, find the fields the upstream rejects."""
    began = time.perf_counter()
    body = ctx.request.body
    if not body:
        return ctx.skip("payload", "skipped: no request body")
    facts = inspect(body, ctx.request.header("content-type"))
    facts["payload.too_large"] = any(exchange.status == 413 for exchange in ctx.exchanges)
    facts.update(
        {
            "payload.isolation": "off",
            "payload.isolated": [],
            "payload.isolation_requests": 0,
            "payload.isolation_skipped": None,
        }
    )
    lines: list[str] = []
    if ctx.options.isolate_payload:
        _isolate(ctx, body, facts, lines)
    kind = (facts["payload.content_type"] or "untyped").split(";")[0]
    parts = [f"{facts['payload.size']} bytes of {kind}"]
    if facts["payload.json_valid"]:
        parts.append(f"valid JSON, {facts['payload.fields']} fields")
    elif facts["payload.json_valid"] is False:
        parts.append(f"invalid JSON: {facts['payload.json_error']}")
    if facts["payload.too_large"]:
        parts.append("the upstream answered 413: too large")
    if facts["payload.isolated"]:
        parts.append("rejected for " + ", ".join(facts["payload.isolated"]))
    if facts["payload.isolation_skipped"]:
        parts.append(f"isolation: {facts['payload.isolation_skipped']}")
    detail = "; ".join(parts)
    blamed = facts["payload.too_large"] or facts["payload.json_valid"] is False or bool(facts["payload.isolated"])
    status: PhaseStatus = "failed" if blamed else "ok"
    ctx.log.append(f"payload: {detail}")
    return PhaseResult("payload", status, (time.perf_counter() - began) * 1000, detail, facts, lines)
