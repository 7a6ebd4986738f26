"""What a pasted curl command or a HAR entry turns into: the request, and the options it implies."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from upstreamkit.core.redact import redact_text
from upstreamkit.diagnose.model import ProbeOptions, ProbeRequest

__all__ = ["InputError", "ParsedInput"]


class InputError(ValueError):
    """The curl command or the HAR file cannot be used; the one-line message names the problem.

    Messages are passed through :func:`~upstreamkit.core.redact.redact_text`: they quote options and
    file names, and a pasted command is full of credentials.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))


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
