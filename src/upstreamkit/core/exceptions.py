"""Exceptions from any HTTP stack mapped to the most specific kind of the taxonomy.

Exceptions are recognised by class name, so the core imports no HTTP library: the names are httpx's and
httpcore's (which share them), urllib3's, requests' and aiohttp's. The cause chain (``__cause__``,
``__context__``, urllib3's ``reason``) is walked, because httpx wraps httpcore, which wraps the socket or
ssl error that names the real problem.

Total for any exception: one whose ``__str__``, ``errno`` or ``reason`` raises, a cyclic cause chain, a
message of any size or with lone surrogates. Messages are read up to 4,096 characters each (enough for any
stack's wording, and what keeps the cache of verdicts small).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from upstreamkit.core._text import clip, well_formed
from upstreamkit.core.outcome import Outcome, make_outcome
from upstreamkit.core.redact import redact_text
from upstreamkit.errors import ErrorKind, Hop, UpstreamError
from upstreamkit.knowledge import kind_info

__all__ = ["classify_exception"]


_MESSAGE_LIMIT = 4096


_CONNECT_PHASE = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "NewConnectionError",
        "NameResolutionError",
        "ConnectTimeoutError",
        "ClientConnectorError",
        "ClientConnectorDNSError",
        "ClientConnectorCertificateError",
        "ClientConnectorSSLError",
        "ConnectionTimeoutError",
        "PoolTimeout",
        "UnsupportedProtocol",
        "InvalidURL",
        "LocalProtocolError",
        "ProxyError",
    }
)
_BY_NAME: dict[str, ErrorKind] = {
    "ConnectTimeout": ErrorKind.CONNECTION_TIMEOUT,
    "ConnectTimeoutError": ErrorKind.CONNECTION_TIMEOUT,
    "ConnectionTimeoutError": ErrorKind.CONNECTION_TIMEOUT,
    "ReadTimeout": ErrorKind.HTTP_RESPONSE_TIMEOUT,
    "ReadTimeoutError": ErrorKind.HTTP_RESPONSE_TIMEOUT,
    "ServerTimeoutError": ErrorKind.HTTP_RESPONSE_TIMEOUT,
    "SocketTimeoutError": ErrorKind.HTTP_RESPONSE_TIMEOUT,
    "WriteTimeout": ErrorKind.CONNECTION_WRITE_TIMEOUT,
    "PoolTimeout": ErrorKind.CONNECTION_LIMIT_REACHED,
    "NameResolutionError": ErrorKind.DNS_ERROR,
    "ClientConnectorDNSError": ErrorKind.DNS_ERROR,
    "ClientConnectorCertificateError": ErrorKind.TLS_CERTIFICATE_ERROR,
    "ServerDisconnectedError": ErrorKind.CONNECTION_TERMINATED,
    "ClientPayloadError": ErrorKind.HTTP_RESPONSE_INCOMPLETE,
    "ReadError": ErrorKind.CONNECTION_TERMINATED,
    "WriteError": ErrorKind.CONNECTION_TERMINATED,
    "DecodingError": ErrorKind.HTTP_RESPONSE_CONTENT_CODING,
    "ContentDecodingError": ErrorKind.HTTP_RESPONSE_CONTENT_CODING,
    "TooManyRedirects": ErrorKind.HTTP_REQUEST_ERROR,
    "UnsupportedProtocol": ErrorKind.HTTP_REQUEST_ERROR,
    "InvalidURL": ErrorKind.HTTP_REQUEST_ERROR,
    "LocalProtocolError": ErrorKind.HTTP_REQUEST_ERROR,
    "ProxyError": ErrorKind.PROXY_CONFIGURATION_ERROR,
}
# Messages of connect-phase errors, for stacks that give nothing more specific than "ConnectError".
_MESSAGES: tuple[tuple[re.Pattern[str], ErrorKind], ...] = tuple(
    (re.compile(p, re.IGNORECASE), k)
    for p, k in (
        (r"temporary failure in name resolution|EAI_AGAIN|try again", ErrorKind.DNS_TIMEOUT),
        (
            (
                r"name or service not known|nodename nor servname|getaddrinfo failed|no address associated"
                r"|name does not resolve|Errno -[25]\b|Errno 11001|NXDOMAIN"
            ),
            ErrorKind.DNS_ERROR,
        ),
        (
            (
                r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|hostname mismatch|certificate has expired"
                r"|self[- ]signed certificate|unable to get local issuer"
            ),
            ErrorKind.TLS_CERTIFICATE_ERROR,
        ),
        (
            r"tlsv1 alert|sslv3 alert|alert (?:handshake|bad certificate|unknown ca)",
            ErrorKind.TLS_ALERT_RECEIVED,
        ),
        (r"WRONG_VERSION_NUMBER|UNSUPPORTED_PROTOCOL|\[SSL|TLS|handshake", ErrorKind.TLS_PROTOCOL_ERROR),
        (r"connection refused|Errno 111\b|Errno 61\b|WinError 10061", ErrorKind.CONNECTION_REFUSED),
        (
            r"network is unreachable|no route to host|Errno 101\b|Errno 113\b",
            ErrorKind.DESTINATION_IP_UNROUTABLE,
        ),
        (r"timed out|timeout", ErrorKind.CONNECTION_TIMEOUT),
        (r"server disconnected without sending a response", ErrorKind.CONNECTION_TERMINATED),
        (
            r"peer closed connection without sending complete message body|incomplete|IncompleteRead",
            ErrorKind.HTTP_RESPONSE_INCOMPLETE,
        ),
        (
            r"connection reset|connection aborted|broken pipe|Errno 104\b|Errno 32\b|EOF occurred",
            ErrorKind.CONNECTION_TERMINATED,
        ),
    )
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and urllib3's ``reason``: outermost first, no repeats."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending and len(seen) < 16:
        current = pending.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        pending.extend(link for link in _links(current) if isinstance(link, BaseException))
    return seen


def _links(exc: BaseException) -> tuple[object, ...]:
    try:
        return (exc.__cause__, exc.__context__, getattr(exc, "reason", None))
    except Exception:  # noqa: BLE001  # a property that raises: the chain ends here, the verdict still comes
        return (exc.__cause__, exc.__context__)


def _message(exc: BaseException) -> str:
    """``str(exc)``, clipped and well formed; a placeholder when ``__str__`` itself fails."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001  # a broken __str__ must not hide the failure being classified
        return f"<{type(exc).__name__} with an unprintable message>"
    return well_formed(text[:_MESSAGE_LIMIT])


def _stdlib_kind(exc_type: type[BaseException], text: str, errno: object) -> ErrorKind | None:
    """The kind a low-level (socket, ssl, OS) error names unambiguously."""
    names = {cls.__name__ for cls in exc_type.__mro__}
    if "gaierror" in names:
        return ErrorKind.DNS_TIMEOUT if errno == -3 else ErrorKind.DNS_ERROR  # -3: EAI_AGAIN
    if "SSLCertVerificationError" in names:
        return ErrorKind.TLS_CERTIFICATE_ERROR
    if "SSLError" in names:
        upper = text.upper()
        certificate = "CERTIFICATE" in upper and "VERIFY" in upper
        return ErrorKind.TLS_CERTIFICATE_ERROR if certificate else ErrorKind.TLS_PROTOCOL_ERROR
    if issubclass(exc_type, ConnectionRefusedError):
        return ErrorKind.CONNECTION_REFUSED
    if issubclass(exc_type, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return ErrorKind.CONNECTION_TERMINATED
    if issubclass(exc_type, OSError) and errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
        return ErrorKind.DESTINATION_IP_UNROUTABLE
    return None


_MORE_SPECIFIC_THAN_ROOT = frozenset(
    {
        ErrorKind.HTTP_RESPONSE_TIMEOUT,
        ErrorKind.CONNECTION_TIMEOUT,
        ErrorKind.CONNECTION_WRITE_TIMEOUT,
        ErrorKind.HTTP_RESPONSE_INCOMPLETE,
        ErrorKind.CONNECTION_LIMIT_REACHED,
    }
)
_NEVER_LEFT = frozenset(
    {
        ErrorKind.DNS_ERROR,
        ErrorKind.DNS_TIMEOUT,
        ErrorKind.CONNECTION_REFUSED,
        ErrorKind.CONNECTION_TIMEOUT,
        ErrorKind.TLS_CERTIFICATE_ERROR,
        ErrorKind.TLS_PROTOCOL_ERROR,
        ErrorKind.TLS_ALERT_RECEIVED,
        ErrorKind.DESTINATION_IP_UNROUTABLE,
        ErrorKind.CONNECTION_LIMIT_REACHED,
    }
)
_TIMEOUT_NAMES = frozenset({"TimeoutError", "TimeoutException", "Timeout", "timeout"})


def classify_exception(exc: BaseException) -> Outcome:
    """Map an exception from any HTTP stack to the most specific kind, and say whether the request left.

    Precedence: an :class:`~upstreamkit.errors.UpstreamError` keeps its kind; a timeout or truncation named
    by the HTTP library beats the socket error under it (a read timeout is more than "a socket timed out");
    otherwise the lowest-level cause that names itself (``gaierror``, ``SSLCertVerificationError``,
    ``ConnectionRefusedError``) wins, then the library's class name, then its message.
    """
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, UpstreamError):
            return make_outcome(
                item.kind,
                item.message or str(item.kind),
                hop=item.hop,
                request_sent=item.request_sent,
                retry_after=item.retry_after,
                status=item.status,
                request_id=item.request_id,
            )
    # The verdict depends only on the chain's types, messages and errnos: cached, because during an incident
    # the same few exceptions arrive thousands of times.
    key = tuple((type(item), _message(item), _errno(item)) for item in chain)
    return _classify_chain(key)


def _errno(exc: BaseException) -> int | None:
    try:
        errno = getattr(exc, "errno", None)
    except Exception:  # noqa: BLE001  # a property that raises: no errno to read
        return None
    return errno if isinstance(errno, int) else None


@lru_cache(maxsize=1024)
def _classify_chain(key: tuple[tuple[type[BaseException], str, object], ...]) -> Outcome:
    types = [t for t, _, _ in key]
    all_names = {cls.__name__ for t in types for cls in t.__mro__}
    connect_phase = bool(all_names & _CONNECT_PHASE)
    message = " | ".join(dict.fromkeys(text for _, text, _ in key if text))

    root = next((k for t, text, errno in key if (k := _stdlib_kind(t, text, errno)) is not None), None)
    named = next((_BY_NAME[c.__name__] for t in types for c in t.__mro__ if c.__name__ in _BY_NAME), None)
    kind = named if named in _MORE_SPECIFIC_THAN_ROOT or root is None else root
    if kind is None:
        kind = next((k for pattern, k in _MESSAGES if pattern.search(message)), None)
    if kind is None and all_names & _TIMEOUT_NAMES:
        kind = ErrorKind.CONNECTION_TIMEOUT if connect_phase else ErrorKind.HTTP_RESPONSE_TIMEOUT
    if kind is None and connect_phase:
        kind = ErrorKind.DESTINATION_UNAVAILABLE
    if kind is None and all_names & {"RemoteProtocolError", "ProtocolError"}:
        kind = ErrorKind.HTTP_PROTOCOL_ERROR
    if kind is None and issubclass(types[0], OSError):
        kind = ErrorKind.CONNECTION_TERMINATED
    unknown = kind is None
    if kind is None:  # not a network failure at all: a bug or a misuse; retrying will not fix it
        kind = ErrorKind.HTTP_REQUEST_ERROR

    sent = not connect_phase and kind not in _NEVER_LEFT and kind_info(kind).request_sent
    # Class and module names are clipped too: a class made at run time can have any name.
    explanation = f"{clip(types[0].__name__, 80)}: {clip(message) or kind_info(kind).title}"
    facts = (clip(f"exception {t.__module__}.{t.__name__}", 120) + f": {clip(text)}" for t, text, _ in key)
    return replace(
        make_outcome(kind, explanation, hop=Hop.CLIENT, request_sent=sent, retryable=False if unknown else None),
        evidence=tuple(redact_text(f) for f in facts),
    )
