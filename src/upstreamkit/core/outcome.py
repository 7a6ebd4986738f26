"""The result of classifying a response or an exception: :class:`Outcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from upstreamkit.core.headers import RateLimit
from upstreamkit.core.redact import redact_text
from upstreamkit.errors import ErrorKind, Hop, UpstreamError, make_error
from upstreamkit.knowledge import kind_info

__all__ = ["Outcome"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a response or exception means. ``kind`` is None exactly when ``ok`` is True."""

    ok: bool
    kind: ErrorKind | None
    retryable: bool
    request_sent: bool
    explanation: str
    status: int | None = None
    retry_after: float | None = None
    hop: Hop = Hop.UNKNOWN
    is_600: bool = False
    """The failure reached the client as "error 600" (a raw status or a body envelope)."""
    producer: str | None = None
    """Who produced the response, when a vendor signature recognised it (e.g. "Cloudflare")."""
    signature: str | None = None
    """The id of the knowledge-base signature that matched, if any."""
    source: str | None = None
    """Where the signature's meaning is documented."""
    fix: str | None = None
    """A fix specific to the matched signature, ranked before the kind's general fixes."""
    request_id: str | None = None
    rate_limit: RateLimit | None = None
    evidence: tuple[str, ...] = field(default=())
    """Observed facts behind the verdict, one per line, already redacted."""

    def to_error(self, *, attempts: int = 1, upstream: str | None = None) -> UpstreamError:
        """The :class:`~upstreamkit.errors.UpstreamError` for this outcome (raises ValueError when ok)."""
        if self.kind is None:
            raise ValueError("a successful outcome has no error")
        return make_error(
            self.kind,
            self.explanation,
            request_sent=self.request_sent,
            attempts=attempts,
            retry_after=self.retry_after,
            request_id=self.request_id,
            upstream=upstream,
            hop=self.hop,
            status=self.status,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        limit = self.rate_limit
        return {
            "ok": self.ok,
            "kind": str(self.kind) if self.kind is not None else None,
            "retryable": self.retryable,
            "request_sent": self.request_sent,
            "explanation": self.explanation,
            "status": self.status,
            "retry_after": self.retry_after,
            "hop": str(self.hop),
            "is_600": self.is_600,
            "producer": self.producer,
            "signature": self.signature,
            "source": self.source,
            "request_id": self.request_id,
            "rate_limit": None
            if limit is None
            else {
                "limit": limit.limit,
                "remaining": limit.remaining,
                "reset_after": limit.reset_after,
                "source": limit.source,
            },
            "evidence": list(self.evidence),
        }


def make_outcome(
    kind: ErrorKind,
    explanation: str,
    *,
    hop: Hop,
    status: int | None = None,
    retryable: bool | None = None,
    request_sent: bool | None = None,
    **extra: Any,
) -> Outcome:
    info = kind_info(kind)
    return Outcome(
        ok=False,
        kind=kind,
        retryable=info.retryable if retryable is None else retryable,
        request_sent=info.request_sent if request_sent is None else request_sent,
        explanation=redact_text(explanation),
        status=status,
        hop=hop,
        **extra,
    )
