"""The values diagnose passes around: what to probe, what each phase saw, and the ranked causes.

A probe is a function ``(ProbeContext) -> PhaseResult``. It reads the request, the options and what the
earlier phases saw (``ctx.facts``, ``ctx.exchanges``), does its one job, and returns a result whose
``facts`` are flat, namespaced observations (``"tls.days_left": -1``, ``"jwt.expired": True``). The
rules in ``knowledge/rules.toml`` read those facts; the report and the bundle show them. Facts hold plain
JSON values only (str, int, float, bool, None, lists of those) and never a secret: a probe that sees a
credential stores its fingerprint (:func:`upstreamkit.core.redact.fingerprint`), never the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from upstreamkit.errors import ErrorKind

__all__ = [
    "PHASES",
    "Cause",
    "Exchange",
    "PhaseResult",
    "PhaseStatus",
    "Probe",
    "ProbeContext",
    "ProbeOptions",
    "ProbeRequest",
    "Report",
]

PHASES: tuple[str, ...] = (
    "dns",
    "tcp",
    "tls",
    "http",
    "body",
    "credentials",
    "rate_limits",
    "proxies",
    "status_page",
    "payload",
)
"""The phases in the order they run; each has one module in :mod:`upstreamkit.diagnose.probes`."""

PhaseStatus = Literal["ok", "failed", "warning", "skipped"]
"""ok: nothing wrong seen; failed: this phase shows a fault; warning: works, but something is off (a
certificate expiring in 5 days, quota nearly used up); skipped: could not run or does not apply (the reason
is in ``detail``)."""


def _first(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    lower = name.lower()
    return next((value for key, value in headers if key.lower() == lower), None)


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """The request to probe, as curl, a HAR file or the command line gave it.

    ``headers`` keep their order and repeats; ``body`` is the raw bytes to send (None: no body).
    """

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _first(self.headers, name)


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """How to probe: curl-like switches plus diagnose's own."""

    timeout: float = 10.0
    """Seconds for each network step (DNS, connect, TLS handshake, the HTTP exchange)."""
    cacert: str | None = None
    """A PEM file of CA certificates to trust instead of the system's (certifi's) bundle."""
    insecure: bool = False
    """Send the HTTP request even when the certificate does not verify; the TLS phase still reports why."""
    resolve: tuple[tuple[str, int, str], ...] = ()
    """curl's ``--resolve HOST:PORT:ADDR``: connect to ADDR for HOST:PORT, skipping DNS for it."""
    dns_servers: tuple[str, ...] = ()
    """Resolvers to ask (``ADDR`` or ``ADDR:PORT``) instead of the system's; tests use a loopback one."""
    status_page: str | None = None
    """A Statuspage base URL (or its ``/api/v2/summary.json``) to read the provider's own verdict from."""
    repeat: int = 1
    """Send the request this many times (intermittent failures, rate-limit headers that drift)."""
    isolate_payload: bool = False
    """Bisect a failing JSON body's fields to find the smallest part that triggers the failure."""
    allow_unsafe: bool = False
    """Allow payload isolation (which resends) for methods that are not idempotent."""
    max_isolation_requests: int = 64
    """Payload isolation sends at most this many requests."""


@dataclass(slots=True)
class Exchange:
    """One HTTP request as sent and the response as received (raw; redacted only when it leaves)."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    status: int | None = None
    http_version: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    started: float = 0.0
    """Wall-clock time (epoch seconds) the request started."""
    ttfb_ms: float | None = None
    total_ms: float | None = None
    error: str | None = None
    """The transport error, when no response came back (its class name and message)."""
    error_kind: ErrorKind | None = None
    """The taxonomy's kind for that error (from :func:`upstreamkit.core.classify.classify_exception`)."""

    def response_header(self, name: str) -> str | None:
        """The first value of response header ``name`` (case-insensitive), or None."""
        return _first(self.response_headers, name)


@dataclass(slots=True)
class PhaseResult:
    """What one phase did and saw."""

    name: str
    status: PhaseStatus
    ms: float | None
    """Wall time of the phase in milliseconds (None when skipped)."""
    detail: str
    """One line for the phase table: what was seen, or why the phase was skipped."""
    facts: dict[str, Any] = field(default_factory=dict)
    """Namespaced observations for the rules (``"dns.error": "NXDOMAIN"``); plain JSON, no secrets."""
    lines: list[str] = field(default_factory=list)
    """More lines for the full report (every address, every certificate field, every header read)."""
    error: str | None = None
    """Set when the probe itself raised and so could not finish its check: the exception's class and its
    redacted message (``"RecursionError: maximum recursion depth exceeded"``). The phase is then ``failed``:
    an unfinished check never counts as a pass."""

    @property
    def ok(self) -> bool | None:
        """True when nothing wrong was seen (ok or warning), False when failed, None when skipped."""
        if self.status == "skipped":
            return None
        return self.status != "failed"


@dataclass(slots=True)
class ProbeContext:
    """What a probe may read: the request, the options, and every earlier phase's results."""

    request: ProbeRequest
    options: ProbeOptions
    results: dict[str, PhaseResult] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    """Every earlier phase's facts, merged."""
    exchanges: list[Exchange] = field(default_factory=list)
    """The HTTP exchanges made so far (the http phase's, then payload isolation's)."""
    addresses: list[str] = field(default_factory=list)
    """Addresses the dns phase found (or ``--resolve`` gave), in connect order."""
    connected: list[str] = field(default_factory=list)
    """Addresses the tcp phase reached."""
    log: list[str] = field(default_factory=list)
    """The checklist: one line per step taken and its result, for the report and the bundle."""

    def failed(self, name: str) -> PhaseResult | None:
        """Phase ``name``'s result when it failed or was skipped, else None (for ``requires`` checks)."""
        result = self.results.get(name)
        if result is None or result.status in ("failed", "skipped"):
            return result
        return None

    def blocked_by(self, earlier: str, fact: str) -> str | None:
        """``"skipped: TCP failed (connection_refused)"`` when phase ``earlier`` failed or was skipped (the
        reason read from its ``fact``, else its detail), else None."""
        result = self.failed(earlier)
        if result is None:
            return None
        verb = "failed" if result.status == "failed" else "was skipped"
        reason = result.facts.get(fact) or result.detail.removeprefix("skipped: ")
        return f"skipped: {earlier.upper()} {verb} ({reason})"

    def skip(self, name: str, detail: str) -> PhaseResult:
        """Phase ``name`` skipped, ``detail`` saying why (``"skipped: ..."``), with its line in the checklist."""
        self.log.append(f"{name}: {detail}")
        return PhaseResult(name, "skipped", None, detail)


Probe = Callable[[ProbeContext], PhaseResult]


@dataclass(frozen=True, slots=True)
class Cause:
    """One ranked cause: a kind of the taxonomy, how likely, why we think so, and what to do."""

    kind: ErrorKind
    likelihood: float
    evidence: tuple[str, ...]
    fix: str
    effort: str
    title: str = ""
    more_fixes: tuple[tuple[str, str], ...] = ()
    """Further fixes as (text, effort), most effective first."""

    def to_json(self) -> dict[str, Any]:
        """The cause as the ``--json`` report shows it."""
        return {
            "kind": str(self.kind),
            "title": self.title,
            "likelihood": round(self.likelihood, 3),
            "evidence": list(self.evidence),
            "fix": self.fix,
            "effort": self.effort,
            "more_fixes": [{"fix": text, "effort": effort} for text, effort in self.more_fixes],
        }


@dataclass(slots=True)
class Report:
    """A finished diagnosis."""

    url: str
    method: str
    started: float
    """Epoch seconds when the diagnosis started."""
    phases: list[PhaseResult]
    causes: list[Cause]
    exchanges: list[Exchange]
    checklist: list[str]
    request_id: str | None = None
    total_ms: float = 0.0

    @property
    def unfinished(self) -> list[str]:
        """The names of the phases that could not finish their check (their probe raised), in run order."""
        return [phase.name for phase in self.phases if phase.error is not None]

    @property
    def incomplete(self) -> bool:
        """Some phase could not finish its check: see its ``error``."""
        return bool(self.unfinished)

    @property
    def healthy(self) -> bool:
        """Every phase finished its check and no cause was found."""
        return not self.causes and not self.incomplete
