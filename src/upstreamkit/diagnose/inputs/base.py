"""What a pasted curl command or a HAR entry turns into, and the checks every source of a request shares.

The checks (:func:`check_url`, :func:`check_method`, :func:`check_header`, :func:`read_limited`) are the one
definition of a usable URL, method, header and input file for ``--from-curl``, ``--har`` and the command
line alike: each returns the value or raises :class:`InputError`, whatever the input (any text, any size).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from upstreamkit.core.redact import redact_text, redact_url
from upstreamkit.diagnose._text import MESSAGE_LIMIT, safe_message
from upstreamkit.diagnose.model import ProbeOptions, ProbeRequest
from upstreamkit.diagnose.probes._net import host_name_problem

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_URL_LENGTH",
    "InputError",
    "ParsedInput",
    "check_header",
    "check_method",
    "check_url",
    "parse_decimal",
    "parse_integer",
    "read_limited",
    "safe_message",
    "shown_url",
]

MAX_INPUT_BYTES = 16 * 1024 * 1024
"""The most bytes read from any one input file (a body, a raw response, a header file): 16 MiB. Larger is
an :class:`InputError`, so ``/dev/zero`` or a mistaken multi-gigabyte file fails at once instead of filling
memory."""
MAX_URL_LENGTH = 16 * 1024
"""The longest URL accepted (characters). Servers and proxies refuse far shorter ones (8 KiB is common)."""

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""RFC 9110 ``token``: what a method and a header name are made of."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""Control characters a header value must not hold (RFC 9110 allows HTAB, SP, visible and non-ASCII octets)."""
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?")


class InputError(ValueError):
    """The curl command, the HAR file or an input file cannot be used; the one-line message names the problem.

    Messages go through :func:`safe_message` (redacted, one line, bounded): they quote options, URLs and
    file names, and a pasted command is full of credentials.
    """

    def __init__(self, message: str) -> None:
        super().__init__(safe_message(message))


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 2 * MESSAGE_LIMIT else value[: 2 * MESSAGE_LIMIT] + "…")


def check_url(url: str, what: str = "URL") -> str:
    """``url`` when it is an absolute http(s) URL the HTTP client can send, else :class:`InputError`.

    That is: at most :data:`MAX_URL_LENGTH` characters of valid Unicode, no space or control character, a
    host (an IP literal, or a name whose IDNA form has labels of at most 63 characters and 253 in all), and
    a port, when written, of ASCII digits from 1 to 65535.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InputError(f"{what} is longer than {MAX_URL_LENGTH} characters")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} {_quoted(url)} is not valid UTF-8 text") from None
    if _CONTROL.search(url):
        raise InputError(f"{what} {_quoted(url)} holds a control character (a tab, a line break, NUL ...)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{what} {_quoted(url)} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InputError(f"{what} {_quoted(url)} is not an http or https URL with a host (http:// or https://...)")
    if port == 0:
        raise InputError(f"{what} {_quoted(url)}: port 0 cannot be connected to (ports are 1 to 65535)")
    import httpx  # noqa: PLC0415 - every command's checks import this module; only a URL check needs httpx

    try:
        host = httpx.URL(url).raw_host.decode("ascii")
    except Exception as exc:  # noqa: BLE001 - httpx.InvalidURL, or a codec error for an IDNA host
        raise InputError(f"{what} {_quoted(url)} is not a URL the HTTP client can send ({exc})") from None
    problem = host_name_problem(host)
    if problem is not None:
        raise InputError(f"{what} {_quoted(url)}: host {_quoted(host)} is not a valid host name ({problem})")
    return url


def parse_integer(text: str) -> int:
    """An integer written in ASCII digits with an optional sign (no Arabic-Indic digits, no ``1_000``, no spaces);
    ValueError otherwise. Python's ``int()`` accepts all three, which a command line should not."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{_quoted(text)} is not a whole number in ASCII digits")
    return int(text)


def parse_decimal(text: str) -> float:
    """A finite number written in ASCII (``1``, ``-0.5``, ``2e3``); ValueError for ``nan``, ``inf``,
    ``1_000``, non-ASCII digits or anything else (Python's ``float()`` accepts all of those)."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{_quoted(text)} is not a finite number in ASCII digits")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{_quoted(text)} is too large")
    return value


def shown_url(url: str) -> str:
    """``url`` for a one-line description (``ParsedInput.source``): secret parameters redacted, and token
    shapes anywhere in it, also once %-decoded (a query value may carry a whole encoded URL and its key)."""
    return redact_text(redact_url(unquote(url)))


def check_method(method: str) -> str:
    """``method`` when it is an RFC 9110 token (``GET``, ``PURGE``), else :class:`InputError`."""
    if not method:
        raise InputError("the HTTP method is empty")
    if len(method) > 64 or not _TOKEN.fullmatch(method):
        raise InputError(f"method {_quoted(method)} is not an HTTP method name (letters, digits, !#$%&'*+-.^_`|~)")
    return method


def check_header(name: str, value: str) -> tuple[str, str]:
    """``(name, value)`` when the name is a token and the value holds no line break or control character."""
    if not _TOKEN.fullmatch(name):
        raise InputError(f"header name {_quoted(name)} is not a token (no spaces, colons or quotes)")
    if _FIELD_VALUE_BAD.search(value):
        raise InputError(f"the value of header {_quoted(name)} holds a line break or a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"the value of header {_quoted(name)} is not valid UTF-8 text") from None
    return name, value


def read_limited(
    path: str | Path,
    what: str,
    limit: int = MAX_INPUT_BYTES,
    *,
    stdin: BinaryIO | None = None,
    shown: str | None = None,
) -> bytes:
    """The bytes of file ``path`` (``"-"`` with ``stdin`` given: that stream), at most ``limit`` of them.

    :class:`InputError` naming ``what`` and the file (``shown``, else ``path``) when the file cannot be read
    or is larger than ``limit``: a device that never ends (``/dev/zero``) is read only up to the limit.
    """
    name = _quoted(shown if shown is not None else str(path))
    try:
        if str(path) == "-" and stdin is not None:
            data = stdin.read(limit + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise InputError(f"cannot read {what} {name}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > limit:
        raise InputError(f"{what} {name} is larger than {limit // (1024 * 1024)} MiB")
    return data


@dataclass(frozen=True, slots=True)
class ParsedInput:
    """The request to probe plus the hints the source carried (curl's ``-k``, ``--cacert``, ``-m`` ...)."""

    request: ProbeRequest
    insecure: bool = False
    """curl's ``-k``/``--insecure``."""
    cacert: str | None = None
    """curl's ``--cacert FILE`` (as written: relative paths stay relative to the caller's directory)."""
    max_time: float | None = None
    """curl's ``-m``/``--max-time`` in seconds."""
    connect_timeout: float | None = None
    """curl's ``--connect-timeout`` in seconds."""
    resolve: tuple[tuple[str, int, str], ...] = ()
    """curl's ``--resolve HOST:PORT:ADDR`` entries, one per address."""
    user: str | None = None
    """The user name of ``-u user:password`` (the password is only in the Authorization header)."""
    source: str = ""
    """Where the request came from, for the report (``HAR entry 2 of 3: POST https://... → 401``); redacted."""
    ignored: tuple[str, ...] = ()
    """Options that were accepted but have no effect on a diagnosis (``--compressed``, ``-s``, ``-o``)."""

    @property
    def timeout(self) -> float | None:
        """The per-step timeout the hints ask for: ``--max-time``, else ``--connect-timeout``, else None."""
        return self.max_time if self.max_time is not None else self.connect_timeout

    def apply(self, options: ProbeOptions | None = None) -> ProbeOptions:
        """``options`` (or the defaults) with this input's hints applied on top.

        Hints only ever add: an ``insecure`` already set stays set, ``resolve`` entries are appended.
        """
        base = options if options is not None else ProbeOptions()
        timeout = self.timeout
        return dataclasses.replace(
            base,
            insecure=base.insecure or self.insecure,
            cacert=self.cacert if self.cacert is not None else base.cacert,
            timeout=timeout if timeout is not None else base.timeout,
            resolve=base.resolve + self.resolve,
        )
