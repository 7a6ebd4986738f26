"""How the gateway judges an upstream's answer (step 5 of :mod:`.proxy`), with the core's classifier: what it
teaches the policies (:mod:`.policy`), and whether the caller gets it or the envelope instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from upstreamkit.core.classify import classify, is_plain_success
from upstreamkit.core.outcome import Outcome
from upstreamkit.errors import Hop

if TYPE_CHECKING:
    from upstreamkit.gateway.connection import UpstreamResponse

__all__ = ["assess_response"]


def assess_response(upstream: UpstreamResponse) -> tuple[Outcome, bool]:
    """What a response teaches the policies, and whether the caller gets the envelope instead of it.

    A success passes through (a 2xx or 3xx only once it is known not to carry a 600 envelope), and so does a
    4xx other than 429: the caller's problem, which neither trips nor heals a breaker. A 429, 5xx, 600 or a
    success carrying a 600 envelope is a failure.
    """
    status = upstream.status
    if upstream.stream is not None:  # streamed: a status that passes through, too large to be an envelope
        return (_success(status), False) if status < 400 else (classify(status, upstream.headers, b""), False)
    if 200 <= status < 400:
        names = [name.lower().decode("latin-1") for name, _ in upstream.headers]
        if not is_plain_success(status, names, upstream.body):
            outcome = classify(status, upstream.headers, upstream.body)
            if outcome.is_600:
                return outcome, True
        return _success(status), False
    outcome = classify(status, upstream.headers, upstream.body)
    return outcome, not (400 <= status < 500) or status == 429


_SUCCESSES: dict[int, Outcome] = {}


def _success(status: int) -> Outcome:
    outcome = _SUCCESSES.get(status)
    if outcome is None:
        outcome = _SUCCESSES[status] = Outcome(
            ok=True, kind=None, retryable=False, request_sent=True, explanation=f"HTTP {status}: not a failure.",
            status=status, hop=Hop.UPSTREAM,
        )  # fmt: skip
    return outcome
