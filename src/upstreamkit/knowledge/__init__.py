"""The knowledge base: what each kind of failure means, its fixes, and the vendors' error signatures.

Data, not code: ``kinds.toml`` (meaning, retry semantics, priors and ranked fixes per
:class:`~upstreamkit.errors.ErrorKind`) and ``signatures.toml`` (the real error responses of gateways, CDNs
and big APIs, each with its source). ``explain``, the classifier, ``diagnose`` and the gateway all read it
here, so a fix written once shows up everywhere.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any, Literal

from upstreamkit.errors import ErrorKind, Hop

__all__ = [
    "Fix",
    "KindInfo",
    "KnowledgeError",
    "Signature",
    "body_signatures",
    "kind_info",
    "load_signatures",
    "match_signature",
    "signatures",
    "success_screen",
]

Effort = Literal["easy", "medium", "hard"]
_EFFORTS = ("easy", "medium", "hard")
BODY_SCAN_LIMIT = 65_536
"""Signature body patterns look at this many characters of a body, no more."""


class KnowledgeError(ValueError):
    """A knowledge-base file is malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Fix:
    """One remedy, with how much work it is."""

    text: str
    effort: Effort


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What the knowledge base says about one kind of failure."""

    kind: ErrorKind
    title: str
    meaning: str
    retryable: bool
    request_sent: bool
    prior: float
    fixes: tuple[Fix, ...]


@dataclass(frozen=True, slots=True)
class Signature:
    """A vendor's recognisable error response: which conditions it shows and what it means."""

    id: str
    producer: str
    hop: Hop
    kind: ErrorKind
    explanation: str
    source: str
    statuses: frozenset[int] = frozenset()
    headers: tuple[tuple[str, re.Pattern[str]], ...] = ()
    body: re.Pattern[str] | None = None
    retryable: bool | None = None
    request_sent: bool | None = None
    fix: str | None = None

    @property
    def specificity(self) -> int:
        """How many conditions the signature checks; the more, the more it is believed."""
        return (1 if self.statuses else 0) + len(self.headers) + (1 if self.body is not None else 0)

    def matches(self, status: int | None, headers: Mapping[str, str], body: str) -> bool:
        """True when every condition holds. ``headers`` has lower-case names."""
        if self.statuses and status not in self.statuses:
            return False
        for name, pattern in self.headers:
            value = headers.get(name)
            if value is None or not pattern.search(value):
                return False
        return self.body is None or bool(self.body.search(body[:BODY_SCAN_LIMIT]))


def _read(name: str) -> dict[str, Any]:
    text = files(__package__).joinpath(name).read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{name}: {exc}") from exc


@cache
def _kinds() -> dict[ErrorKind, KindInfo]:
    data = _read("kinds.toml")
    table: dict[ErrorKind, KindInfo] = {}
    for key, entry in data.items():
        try:
            kind = ErrorKind(key)
            fixes = tuple(Fix(text=str(f["text"]), effort=_effort(f["effort"])) for f in entry["fixes"])
            table[kind] = KindInfo(
                kind=kind,
                title=str(entry["title"]),
                meaning=str(entry["meaning"]),
                retryable=bool(entry["retryable"]),
                request_sent=bool(entry["request_sent"]),
                prior=float(entry["prior"]),
                fixes=fixes,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise KnowledgeError(f"kinds.toml [{key}]: {exc}") from exc
    return table


def _effort(value: object) -> Effort:
    if value == "easy":
        return "easy"
    if value == "medium":
        return "medium"
    if value == "hard":
        return "hard"
    raise ValueError(f"effort must be one of {_EFFORTS}, got {value!r}")


def kind_info(kind: ErrorKind | str) -> KindInfo:
    """The knowledge base's entry for ``kind``."""
    return _kinds()[ErrorKind(kind)]


def load_signatures(text: str, origin: str = "signatures.toml") -> tuple[Signature, ...]:
    """Parse and validate signatures from TOML text (the format of the package's ``signatures.toml``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{origin}: {exc}") from exc
    out: list[Signature] = []
    seen: set[str] = set()
    for index, entry in enumerate(data.get("signature", [])):
        ident = str(entry.get("id", f"#{index + 1}"))
        try:
            signature = _signature(entry)
        except (KeyError, ValueError, TypeError, re.error) as exc:
            raise KnowledgeError(f"{origin}: signature {ident}: {exc}") from exc
        if signature.id in seen:
            raise KnowledgeError(f"{origin}: signature id {signature.id!r} appears twice")
        seen.add(signature.id)
        out.append(signature)
    return tuple(out)


def _signature(entry: Mapping[str, Any]) -> Signature:
    statuses = frozenset(int(s) for s in entry.get("status", []))
    if any(not 100 <= s <= 999 for s in statuses):
        raise ValueError(f"status codes must be within 100..999, got {sorted(statuses)}")
    headers = tuple(
        (str(name).lower(), re.compile(str(pattern), re.IGNORECASE))
        for name, pattern in entry.get("headers", {}).items()
    )
    body = entry.get("body")
    signature = Signature(
        id=str(entry["id"]),
        producer=str(entry["producer"]),
        hop=Hop(entry["hop"]),
        kind=ErrorKind(entry["kind"]),
        explanation=str(entry["explanation"]),
        source=str(entry["source"]),
        statuses=statuses,
        headers=headers,
        body=re.compile(str(body), re.IGNORECASE) if body is not None else None,
        retryable=entry.get("retryable"),
        request_sent=entry.get("request_sent"),
        fix=entry.get("fix"),
    )
    if signature.specificity == 0:
        raise ValueError("a signature needs at least one of status, headers, body")
    return signature


@cache
def signatures() -> tuple[Signature, ...]:
    """The package's signatures, most specific first (file order among equals)."""
    text = files(__package__).joinpath("signatures.toml").read_text(encoding="utf-8")
    loaded = load_signatures(text)
    return tuple(sorted(loaded, key=lambda s: -s.specificity))


@cache
def body_signatures() -> tuple[Signature, ...]:
    """The signatures that may turn a success status into a failure: a body condition and a listed 1xx-3xx."""
    return tuple(s for s in signatures() if s.body is not None and any(code < 400 for code in s.statuses))


@cache
def success_screen() -> re.Pattern[str]:
    """One pattern that matches wherever a body signature for a 1xx-3xx status might: a cheap first pass.

    A signature turns a success status into a failure only when it lists that status (Slack's
    ``{"ok": false, "error": "token_expired"}`` lists 200); one without statuses applies to error statuses.
    """
    patterns = [_scoped(s.body.pattern) for s in body_signatures() if s.body is not None]
    return re.compile("|".join(patterns) or r"(?!)", re.IGNORECASE)


@cache
def success_hints() -> tuple[str, ...] | None:
    """Lower-case literals one of which every success-status body signature needs (each pattern's leading
    literal), or None when some pattern starts otherwise. A body holding none of them matches no such
    signature: the client's hot path then skips :func:`success_screen`'s regular expression."""
    hints = []
    for signature in body_signatures():
        literal = _leading_literal(signature.body.pattern if signature.body is not None else "")
        if not literal:
            return None
        hints.append(literal.lower())
    return tuple(dict.fromkeys(hints))


_META = set("\\.^$*+?{}[]()|")


def _leading_literal(pattern: str) -> str:
    """The characters a pattern must start with (``\\A`` skipped), up to its first operator; a character made
    optional by a quantifier after it is not included."""
    if pattern.startswith("\\A"):
        pattern = pattern[2:]
    if pattern.startswith("(?") or _top_level_alternation(pattern):  # no single literal every match starts with
        return ""
    out: list[str] = []
    for index, char in enumerate(pattern):
        if char in _META:
            if char in "?*{" and out:
                out.pop()  # the character before an optional quantifier is not required
            break
        out.append(char)
        if index + 1 == len(pattern):
            break
    return "".join(out)


def _top_level_alternation(pattern: str) -> bool:
    depth, escaped, in_class = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


_GLOBAL_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


def _scoped(pattern: str) -> str:
    # "(?s)abc" becomes "(?s:abc)": global flags are only allowed at the start of a whole pattern.
    flags = _GLOBAL_FLAGS.match(pattern)
    if flags:
        return f"(?{flags.group(1)}:{pattern[flags.end() :]})"
    return f"(?:{pattern})"


def match_signature(
    status: int | None,
    headers: Mapping[str, str],
    body: str,
    candidates: Sequence[Signature] | None = None,
) -> Signature | None:
    """The most specific signature whose conditions all hold, or None. ``headers``: lower-case names."""
    body = body[:BODY_SCAN_LIMIT]  # once: each signature's own cut of a shorter text is then free
    for signature in _for_status(status) if candidates is None else candidates:
        if signature.matches(status, headers, body):
            return signature
    return None


@lru_cache(maxsize=1024)
def _for_status(status: int | None) -> tuple[Signature, ...]:
    """The signatures a response of ``status`` can match, in :func:`signatures`' order: those that list it and
    those that list no status (most list a few: a 503 is tried against 51 of the 197 today, not all of them)."""
    return tuple(signature for signature in signatures() if not signature.statuses or status in signature.statuses)
