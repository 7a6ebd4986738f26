"""The knowledge base's log-line signatures (``knowledge/log_signatures.toml``): a proxy's log phrase → a kind.

``nginx: upstream timed out`` is ``http_response_timeout``, ``connect() failed (111: Connection refused)`` is
``connection_refused``; HAProxy's termination state ``SC`` is ``connection_refused``, ``sH``
``http_response_timeout``: a log that names the cause is read to the cause. First match wins (the file orders
specific entries before generic ones).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from upstreamkit.errors import ErrorKind

__all__ = ["LogSignature", "kind_of_flags", "kind_of_message", "log_signatures", "signature_of_line"]


@dataclass(frozen=True, slots=True)
class LogSignature:
    """One phrase of a proxy's log and the kind it means."""

    id: str
    producer: str
    log: str
    kind: ErrorKind
    source: str
    pattern: re.Pattern[str] | None = None
    flags: str | None = None
    statuses: frozenset[int] = frozenset()
    explanation: str | None = None
    """What the line says happened, in words (explain shows it; the kind's meaning when absent)."""
    fix: str | None = None
    """A remedy specific to this line, ranked before the kind's fixes."""


@cache
def log_signatures() -> tuple[LogSignature, ...]:
    """Every log signature, in file order."""
    text = files("upstreamkit.knowledge").joinpath("log_signatures.toml").read_text(encoding="utf-8")
    return tuple(
        LogSignature(
            id=entry["id"],
            producer=entry["producer"],
            log=entry["log"],
            kind=ErrorKind(entry["kind"]),
            source=entry["source"],
            pattern=re.compile(entry["pattern"]) if "pattern" in entry else None,
            flags=entry.get("flags"),
            statuses=frozenset(entry.get("status", ())),
            explanation=entry.get("explanation"),
            fix=entry.get("fix"),
        )
        for entry in tomllib.loads(text)["signature"]
    )


def kind_of_message(message: str) -> LogSignature | None:
    """The first signature whose phrase is in ``message``, or None."""
    for signature in log_signatures():
        if signature.pattern is not None and signature.pattern.search(message) is not None:
            return signature
    return None


def kind_of_flags(flags: str, status: int | None, log: str) -> LogSignature | None:
    """The first signature of ``log`` (``haproxy-termination``, ``envoy-response-flags``) for one of ``flags``
    (comma-separated: ``SC``, ``UF,URX`` ...) at ``status``; the same letters mean different things per proxy."""
    given = set(flags.split(",")[:16])
    for signature in log_signatures():
        if (
            signature.flags is not None
            and signature.log == log
            and signature.flags in given
            and (not signature.statuses or status in signature.statuses)
        ):
            return signature
    return None


def signature_of_line(
    message: str | None, flags: str | None, status: int | None, flags_log: str | None
) -> LogSignature | None:
    """The signature of one log line: its message's phrase first, then its flags (read with the entries of
    ``flags_log``, the format's flag log); None when neither names a cause. analyze and explain both ask here."""
    signature = kind_of_message(message) if message else None
    if signature is None and flags and flags_log:
        signature = kind_of_flags(flags, status, flags_log)
    return signature
