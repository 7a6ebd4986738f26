"""Phase "tls": the handshake, the certificate the server presents, and whether a client would trust it.

Two handshakes to the first address the tcp phase reached, both with SNI = the URL's host and ALPN
``h2, http/1.1``. The first verifies nothing, so the certificate, version and ALPN are known even when
verification fails; :mod:`cryptography` reads the certificate and this module checks its dates and names
itself. The second verifies like a client does (``options.cacert``, else certifi's bundle), to learn whether
the chain is trusted and OpenSSL's own words when it is not (``verify_message``). A failed certificate fails
the phase even with ``options.insecure``, which only lets the http phase go on.

OpenSSL checks the chain first, then the host name, then the dates, and stops at the first error: a
verify error about names or dates (:data:`_CHAIN_WAS_TRUSTED`) therefore means the chain itself was trusted.

Facts (the certificate ones present once a handshake gave a certificate):

- ``tls.version`` (str): the protocol version negotiated (``"TLSv1.3"``).
- ``tls.alpn`` (str | None): the application protocol the server chose (``"h2"``, ``"http/1.1"``) or None.
- ``tls.cipher`` (str): the cipher suite.
- ``tls.subject`` (str): the leaf certificate's subject (RFC 4514).
- ``tls.sans`` (list[str]): its subject alternative names, DNS names and IP addresses.
- ``tls.issuer`` (str): its issuer (RFC 4514).
- ``tls.not_before`` / ``tls.not_after`` (str): validity bounds, ISO-8601 UTC (``2026-11-23T10:00:00Z``).
- ``tls.days_left`` (float): days until ``not_after`` (negative once expired).
- ``tls.expired`` / ``tls.not_yet_valid`` (bool): the dates exclude now.
- ``tls.hostname_match`` (bool): the URL's host is among the SANs (RFC 6125 wildcards, IP SANs for IPs).
- ``tls.trusted`` (bool): the chain leads to a trusted CA (``options.cacert`` or certifi's bundle).
- ``tls.self_signed`` (bool): the leaf is signed by its own key.
- ``tls.verify_error`` (str | None): OpenSSL's verify message, None when verification passed.
- ``tls.verify_code`` (int | None): OpenSSL's X509_V_ERR code, None when verification passed.
- ``tls.handshake_ms`` (float): the first handshake's time, TCP connect excluded.
- ``tls.expiring_soon`` (bool): fewer than :data:`EXPIRY_WARNING_DAYS` days left.
- ``tls.insecure`` (bool): ``-k`` was given (the http phase goes on despite a failed certificate).
- ``tls.error`` (str, handshake failure): what ended the handshake.
- ``tls.kind`` (str, on failure): ``"tls_certificate_error"``, ``"tls_protocol_error"`` or
  ``"tls_alert_received"``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import certifi

from upstreamkit.diagnose.model import PhaseResult, PhaseStatus, ProbeContext
from upstreamkit.diagnose.probes._net import Target, format_endpoint, target
from upstreamkit.errors import ErrorKind

if TYPE_CHECKING:
    from upstreamkit.diagnose.probes._certs import Certificate

__all__ = ["ALPN", "EXPIRY_WARNING_DAYS", "probe"]

ALPN = ("h2", "http/1.1")
"""Offered like a modern client offers them, so the ALPN fact says what such a client gets."""
EXPIRY_WARNING_DAYS = 14
"""A certificate with fewer days left is a warning: renewal has failed or is about to be late."""

_CLOSE_WAIT = 0.5
"""Seconds to wait for the server's close_notify after ours."""
_CHAIN_WAS_TRUSTED = frozenset({9, 10, 62, 63, 64})
"""X509_V_ERR codes OpenSSL reports only after building a trusted chain: not yet valid, expired, and
host name, e-mail or IP address mismatch."""


@dataclass(frozen=True, slots=True)
class _Handshake:
    version: str
    alpn: str | None
    cipher: str
    der: bytes
    ms: float


@dataclass(frozen=True, slots=True)
class _Verification:
    trusted: bool
    hostname_ok: bool | None
    """OpenSSL's verdict on the name when it got that far (None: it stopped before, at the chain)."""
    message: str | None
    code: int | None


def probe(ctx: ProbeContext, *, now: dt.datetime | None = None) -> PhaseResult:
    """Handshake, read the certificate, verify it; ``now`` replaces the clock for the date checks."""
    where = target(ctx.request)
    if not where.https:
        return ctx.skip("tls", "skipped: not HTTPS")
    blocked = ctx.blocked_by("tcp", "tcp.kind")
    if blocked is not None:
        return ctx.skip("tls", blocked)
    address = next(iter(ctx.connected or ctx.addresses), None)
    if address is None:
        return ctx.skip("tls", "skipped: no address to connect to (the dns phase did not run)")

    endpoint = format_endpoint(address, where.port)
    facts: dict[str, Any] = {"tls.insecure": ctx.options.insecure}
    try:
        shake = _handshake(address, where, _unverified_context(), ctx.options.timeout)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        kind, error = _handshake_failure(exc, ctx.options.timeout)
        facts.update({"tls.error": error, "tls.kind": str(kind)})
        ctx.log.append(f"TLS: handshake with {endpoint} failed: {error}")
        return PhaseResult("tls", "failed", None, f"handshake with {endpoint} failed: {error}", facts=facts)

    from upstreamkit.diagnose.probes._certs import hostname_matches, inspect_certificate  # noqa: PLC0415 - cryptography

    certificate = inspect_certificate(shake.der)
    verification = _verify(address, where, ctx.options.cacert, ctx.options.timeout)
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    days_left = (certificate.not_after - moment).total_seconds() / 86400
    hostname_ok = verification.hostname_ok
    if hostname_ok is None:
        hostname_ok = hostname_matches(where.host, certificate.dns_names, certificate.ip_addresses)
    facts.update(
        {
            "tls.version": shake.version,
            "tls.alpn": shake.alpn,
            "tls.cipher": shake.cipher,
            "tls.subject": certificate.subject,
            "tls.sans": certificate.sans,
            "tls.issuer": certificate.issuer,
            "tls.not_before": _iso(certificate.not_before),
            "tls.not_after": _iso(certificate.not_after),
            "tls.days_left": round(days_left, 3),
            "tls.expired": moment > certificate.not_after,
            "tls.not_yet_valid": moment < certificate.not_before,
            "tls.hostname_match": hostname_ok,
            "tls.trusted": verification.trusted,
            "tls.self_signed": certificate.self_signed,
            "tls.verify_error": verification.message,
            "tls.verify_code": verification.code,
            "tls.handshake_ms": round(shake.ms, 3),
            "tls.expiring_soon": 0 <= days_left < EXPIRY_WARNING_DAYS,
        }
    )
    lines = [
        f"{endpoint}: {shake.version}, ALPN {shake.alpn or 'none'}, {shake.cipher}, handshake {shake.ms:.1f} ms",
        f"subject {certificate.subject}",
        *(f"SAN {name}" for name in certificate.sans),
        f"issuer {certificate.issuer}" + (" (self-signed)" if certificate.self_signed else ""),
        f"valid {_iso(certificate.not_before)} → {_iso(certificate.not_after)} ({days_left:.1f} days left)",
        f"trusted by {ctx.options.cacert or 'certifi'}: "
        + ("yes" if verification.message is None else f"no: {verification.message}"),
    ]
    problems = _problems(facts, certificate, where.host, moment)
    status: PhaseStatus
    if problems:
        status, detail = "failed", "; ".join(problems)
        facts["tls.kind"] = str(ErrorKind.TLS_CERTIFICATE_ERROR)
        if ctx.options.insecure:
            detail += " (-k given: HTTP will still be tried)"
        ctx.log.append(f"TLS: {shake.version} with {endpoint}; certificate problem: {detail}")
    else:
        status = "warning" if facts["tls.expiring_soon"] else "ok"
        expiry = f"expires {_iso(certificate.not_after)} ({days_left:.1f} days left)"
        detail = (
            f"{shake.version}, ALPN {shake.alpn or 'none'}, certificate for {', '.join(certificate.sans)} "
            f"{expiry}, issuer {certificate.issuer_name}, trusted"
        )
        if status == "warning":
            detail = f"certificate {expiry}, renew it; {shake.version}, issuer {certificate.issuer_name}"
        ctx.log.append(f"TLS: {shake.version} with {endpoint}, certificate trusted, {expiry}")
    return PhaseResult("tls", status, None, detail, facts=facts, lines=lines)


def _problems(facts: dict[str, Any], certificate: Certificate, host: str, moment: dt.datetime) -> list[str]:
    """Each certificate problem as a phrase naming the observed fact, most decisive first."""
    problems: list[str] = []
    if facts["tls.expired"]:
        ago = _span(moment - certificate.not_after)
        problems.append(
            f"certificate expired {_iso(certificate.not_after)} ({ago} ago); issuer {certificate.issuer_name}"
        )
    if facts["tls.not_yet_valid"]:
        ahead = _span(certificate.not_before - moment)
        problems.append(f"certificate not valid before {_iso(certificate.not_before)} (in {ahead})")
    if not facts["tls.hostname_match"]:
        names = ", ".join(certificate.sans) or f"no SANs (subject {certificate.subject})"
        problems.append(f"hostname mismatch: certificate is for {names}, not {host}")
    if not facts["tls.trusted"]:
        why = facts["tls.verify_error"] or "not verified"
        signer = "self-signed" if certificate.self_signed else f"issuer {certificate.issuer_name}"
        problems.append(f"certificate not trusted ({signer}): {why}")
    return problems


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # on purpose: read even a bad certificate
    context.set_alpn_protocols(list(ALPN))
    return context


def _handshake(address: str, where: Target, context: ssl.SSLContext, timeout: float) -> _Handshake:
    """Connect, handshake with SNI = the URL's host, and read what was negotiated; the socket is closed."""
    with socket.create_connection((address, where.port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        began = time.perf_counter()
        with context.wrap_socket(raw, server_hostname=where.host) as tls:
            ms = (time.perf_counter() - began) * 1000
            der = tls.getpeercert(binary_form=True)
            cipher = tls.cipher()
            if not der:
                raise ValueError("the server sent no certificate")
            shake = _Handshake(
                version=tls.version() or "unknown",
                alpn=tls.selected_alpn_protocol(),
                cipher=cipher[0] if cipher else "unknown",
                der=der,
                ms=ms,
            )
            _close_politely(tls, timeout)
            return shake


def _close_politely(tls: ssl.SSLSocket, timeout: float) -> None:
    """Send close_notify and wait briefly for the server's, so it logs a clean close, not an aborted one.

    Bounded by :data:`_CLOSE_WAIT` seconds: a server that neither answers nor closes costs at most that.
    """
    tls.settimeout(min(timeout, _CLOSE_WAIT))
    with contextlib.suppress(OSError, ValueError):  # a server that just closes the TCP connection is fine too
        tls.unwrap()


def _verify(address: str, where: Target, cacert: str | None, timeout: float) -> _Verification:
    """A handshake that verifies chain and host name like a client does; what OpenSSL said."""
    try:
        context = ssl.create_default_context(cafile=cacert or certifi.where())
    except (OSError, ValueError) as exc:  # the --cacert file is missing or holds no certificate
        return _Verification(trusted=False, hostname_ok=None, message=f"cannot use CA file {cacert}: {exc}", code=None)
    context.set_alpn_protocols(list(ALPN))
    try:
        _handshake(address, where, context, timeout)
    except ssl.SSLCertVerificationError as exc:
        code = exc.verify_code if isinstance(exc.verify_code, int) else None
        trusted = code in _CHAIN_WAS_TRUSTED
        hostname_ok = False if code in (62, 63, 64) else None
        message = str(exc.verify_message or exc.reason or exc)
        return _Verification(trusted=trusted, hostname_ok=hostname_ok, message=message, code=code)
    except (OSError, ValueError) as exc:
        failure = f"verifying handshake failed: {_text(exc)}"
        return _Verification(trusted=False, hostname_ok=None, message=failure, code=None)
    return _Verification(trusted=True, hostname_ok=True, message=None, code=None)


def _handshake_failure(exc: BaseException, timeout: float) -> tuple[ErrorKind, str]:
    """The kind and text of a handshake that failed before any certificate was seen.

    An alert's name is in OpenSSL's reason (``TLSV1_ALERT_PROTOCOL_VERSION``): read here, because the
    exception classifier folds every stdlib ``SSLError`` that is not a verify failure into protocol errors.
    """
    if isinstance(exc, TimeoutError):
        return ErrorKind.TLS_PROTOCOL_ERROR, f"no handshake within {timeout:g} s"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and "ALERT" in reason.upper():
        return ErrorKind.TLS_ALERT_RECEIVED, f"alert received: {reason}"
    return ErrorKind.TLS_PROTOCOL_ERROR, _text(exc)


def _text(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ssl.SSLError) and isinstance(reason, str):
        return f"{reason} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(delta: dt.timedelta) -> str:
    """``3 days``, ``1 day``, ``5 hours``: how long, for a person."""
    days = delta.total_seconds() / 86400 + 1 / 1440  # a minute short of a day still reads as "1 day"
    if days >= 1:
        whole = int(days)
        return f"{whole} day" if whole == 1 else f"{whole} days"
    hours = max(1, round(days * 24))
    return "1 hour" if hours == 1 else f"{hours} hours"
