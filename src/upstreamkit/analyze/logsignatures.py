"""The knowledge base's log-line signatures (``knowledge/log_signatures.toml``): a proxy's log phrase → a kind.

``nginx: upstream timed out`` is ``http_response_timeout``, ``connect() failed (111: Connection refused)`` is
``connection_refused``: a log that names the cause is read to the cause. First match wins (the file orders
specific phrases before generic ones).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from upstreamkit.errors import ErrorKind

__all__ = ["LogSignature", "kind_of_message", "log_signatures"]


@dataclass(frozen=True, slots=True)
class LogSignature:
    """One phrase of a proxy's log and the kind it means."""

    id: str
    producer: str
    log: str
    pattern: re.Pattern[str]
    kind: ErrorKind
    source: str


@cache
def log_signatures() -> tuple[LogSignature, ...]:
    """Every log signature, in file order."""
    text = files("upstreamkit.knowledge").joinpath("log_signatures.toml").read_text(encoding="utf-8")
    return tuple(
        LogSignature(
            id=entry["id"],
            producer=entry["producer"],
            log=entry["log"],
            pattern=re.compile(entry["pattern"]),
            kind=ErrorKind(entry["kind"]),
            source=entry["source"],
        )
        for entry in tomllib.loads(text)["signature"]
    )


def kind_of_message(message: str) -> LogSignature | None:
    """The first signature whose phrase is in ``message``, or None."""
    for signature in log_signatures():
        if signature.pattern.search(message) is not None:
            return signature
    return None
