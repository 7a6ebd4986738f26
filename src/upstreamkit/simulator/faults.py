"""The faults the simulator serves, as validated values: what each one is, never how it is written.

A fault is one entry of a route's fault mix in a scenario phase (``{kind = "outage", p = 0.5}``). Each kind
is its own pydantic model, joined in the :data:`Fault` union tagged by ``kind``, so a scenario file with a
typo'd kind or an option that kind does not take is rejected with the list of what is valid.

Two families:

- **responses** — a complete, well-formed HTTP response that says the call failed: ``status`` (any code,
  100 to 999), ``status_600`` (a raw ``HTTP/1.1 600`` status line), ``body_600`` (HTTP 200 whose JSON body says
  600, in the shapes gateways use), ``outage`` (502/503), ``gateway_timeout`` (504 with a gateway-timeout
  body, optionally after a delay), ``rate_limited`` (forced 429/503 with Retry-After and RateLimit headers),
  ``auth_expired`` and ``auth_invalid`` (401/403 with RFC 6750 ``WWW-Authenticate``);
- **connection faults** — written below HTTP by the server (``_http.py``): ``hang`` (nothing, until the
  client gives up or the simulator stops), ``reset`` (TCP RST before or in the middle of a response),
  ``close`` (FIN without a response), ``truncate`` (Content-Length larger than the bytes sent), ``slow_body``
  (a body trickled at a fixed bandwidth) and ``latency`` (a normal response after a fixed or random delay).

``processed`` says whether the upstream acted on the request before the fault: it decides whether a route
with a side effect (``POST /v1/payments``) applies it. The defaults follow production: an outage or a
reset before the response never reached the handler; a gateway timeout or a reset mid-body happened after
the upstream did the work, which is exactly when a blind retry duplicates a side effect.
"""

from __future__ import annotations

import json
import math
import random
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from upstreamkit.errors import ErrorKind

__all__ = [
    "AuthExpiredFault",
    "AuthInvalidFault",
    "Body600Fault",
    "CloseFault",
    "Fault",
    "FaultKind",
    "GatewayTimeoutFault",
    "HangFault",
    "LatencyFault",
    "OkFault",
    "OutageFault",
    "RateLimitedFault",
    "ResetFault",
    "SlowBodyFault",
    "Status600Fault",
    "StatusFault",
    "TruncateFault",
    "body_600",
    "expected_kind",
]


class FaultKind(StrEnum):
    """Every fault the simulator can serve; the ``kind`` key of a scenario's fault mix."""

    OK = "ok"
    STATUS = "status"
    STATUS_600 = "status_600"
    BODY_600 = "body_600"
    OUTAGE = "outage"
    GATEWAY_TIMEOUT = "gateway_timeout"
    RATE_LIMITED = "rate_limited"
    AUTH_EXPIRED = "auth_expired"
    AUTH_INVALID = "auth_invalid"
    HANG = "hang"
    RESET = "reset"
    CLOSE = "close"
    TRUNCATE = "truncate"
    SLOW_BODY = "slow_body"
    LATENCY = "latency"


RetryAfterFormat = Literal["seconds", "http-date"]


class _FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    p: float = Field(default=1.0, ge=0.0, le=1.0, description="Probability that a request gets this fault.")
    processed: bool | None = Field(
        default=None, description="Did the upstream act on the request? None: the kind's default."
    )

    def applies_side_effect(self) -> bool:
        """Whether a route with a side effect applies it before this fault is served."""
        return self.processed if self.processed is not None else self._processed_by_default()

    def _processed_by_default(self) -> bool:
        return False


class OkFault(_FaultBase):
    """A normal response: lets a mix say "healthy" explicitly (the remainder of a mix is healthy anyway)."""

    kind: Literal["ok"] = "ok"

    def _processed_by_default(self) -> bool:
        return True


class StatusFault(_FaultBase):
    """Any status code with any body and headers."""

    kind: Literal["status"] = "status"
    status: int = Field(ge=100, le=999)
    body: str = '{"error": "simulated"}'
    content_type: str = "application/json"
    headers: dict[str, str] = Field(default_factory=dict)
    retry_after: float | None = Field(default=None, ge=0)
    retry_after_format: RetryAfterFormat = "seconds"

    def _processed_by_default(self) -> bool:
        return 200 <= self.status < 300


class Status600Fault(_FaultBase):
    """A raw ``HTTP/1.1 600`` status line, as some gateways send for a failed upstream call."""

    kind: Literal["status_600"] = "status_600"
    body: str = '{"code": 600, "error": "upstream_error", "message": "upstream call failed"}'


Body600Shape = Literal["code", "nested", "status", "errorCode", "message"]


class Body600Fault(_FaultBase):
    """HTTP 200 whose JSON body says the upstream call failed with 600."""

    kind: Literal["body_600"] = "body_600"
    shape: Body600Shape = "code"


class OutageFault(_FaultBase):
    """502 Bad Gateway or 503 Service Unavailable, with Retry-After when given."""

    kind: Literal["outage"] = "outage"
    status: Literal[502, 503] = 503
    retry_after: float | None = Field(default=None, ge=0)
    retry_after_format: RetryAfterFormat = "seconds"


class GatewayTimeoutFault(_FaultBase):
    """504 with a gateway-timeout body, after ``delay`` seconds (the gateway's own timeout)."""

    kind: Literal["gateway_timeout"] = "gateway_timeout"
    delay: float = Field(default=0.0, ge=0)

    def _processed_by_default(self) -> bool:
        return True


class RateLimitedFault(_FaultBase):
    """A forced 429 (or 503) with Retry-After and RateLimit headers, whatever the token bucket says."""

    kind: Literal["rate_limited"] = "rate_limited"
    status: Literal[429, 503] = 429
    retry_after: float = Field(default=1.0, ge=0)
    retry_after_format: RetryAfterFormat = "seconds"


class AuthExpiredFault(_FaultBase):
    """401 with ``WWW-Authenticate: Bearer error="invalid_token", error_description="The access token expired"``."""

    kind: Literal["auth_expired"] = "auth_expired"


class AuthInvalidFault(_FaultBase):
    """401 (invalid key) or 403 (valid key, not allowed)."""

    kind: Literal["auth_invalid"] = "auth_invalid"
    status: Literal[401, 403] = 401


ConnectionPoint = Literal["before", "body"]


class HangFault(_FaultBase):
    """No response (``at = "before"``) or headers and half a body, then nothing (``at = "body"``)."""

    kind: Literal["hang"] = "hang"
    at: ConnectionPoint = "before"

    def _processed_by_default(self) -> bool:
        return self.at == "body"


class ResetFault(_FaultBase):
    """TCP RST (SO_LINGER 0, then close) before any response byte, or after headers and part of the body."""

    kind: Literal["reset"] = "reset"
    at: ConnectionPoint = "before"

    def _processed_by_default(self) -> bool:
        return self.at == "body"


class CloseFault(_FaultBase):
    """An orderly close (FIN) without a response: "server disconnected without sending a response"."""

    kind: Literal["close"] = "close"


class TruncateFault(_FaultBase):
    """Content-Length says N, ``fraction`` of N is sent, then the connection closes."""

    kind: Literal["truncate"] = "truncate"
    fraction: float = Field(default=0.5, ge=0.0, lt=1.0)

    def _processed_by_default(self) -> bool:
        return True


class SlowBodyFault(_FaultBase):
    """A ``size``-byte body sent in ``chunk``-byte pieces at ``bytes_per_second``."""

    kind: Literal["slow_body"] = "slow_body"
    bytes_per_second: float = Field(default=4096.0, gt=0)
    size: int = Field(default=4096, ge=1, le=64 * 1024 * 1024)
    chunk: int = Field(default=512, ge=1)

    def _processed_by_default(self) -> bool:
        return True


class LatencyFault(_FaultBase):
    """A normal response after a delay: ``fixed`` (``delay``), ``uniform`` (``delay``..``high``),
    ``exponential`` (mean ``delay``) or ``lognormal`` (median ``delay``, shape ``sigma``); capped at ``cap``."""

    kind: Literal["latency"] = "latency"
    distribution: Literal["fixed", "uniform", "exponential", "lognormal"] = "fixed"
    delay: float = Field(default=0.1, ge=0)
    high: float | None = Field(default=None, ge=0)
    sigma: float = Field(default=0.5, gt=0)
    cap: float = Field(default=60.0, gt=0)

    def _processed_by_default(self) -> bool:
        return True

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds, drawn from ``rng`` so a seeded run repeats."""
        if self.distribution == "uniform":
            value = rng.uniform(self.delay, self.high if self.high is not None else self.delay * 2)
        elif self.distribution == "exponential":
            value = rng.expovariate(1.0 / self.delay) if self.delay > 0 else 0.0
        elif self.distribution == "lognormal":
            value = rng.lognormvariate(math.log(self.delay), self.sigma) if self.delay > 0 else 0.0
        else:
            value = self.delay
        return min(max(value, 0.0), self.cap)


Fault = Annotated[
    OkFault
    | StatusFault
    | Status600Fault
    | Body600Fault
    | OutageFault
    | GatewayTimeoutFault
    | RateLimitedFault
    | AuthExpiredFault
    | AuthInvalidFault
    | HangFault
    | ResetFault
    | CloseFault
    | TruncateFault
    | SlowBodyFault
    | LatencyFault,
    Field(discriminator="kind"),
]
"""One entry of a fault mix; pydantic picks the model from ``kind``."""


def body_600(shape: Body600Shape) -> bytes:
    """The JSON body of an HTTP 200 that says 600, in one of the shapes gateways use."""
    document: dict[str, object]
    if shape == "nested":
        document = {"error": {"code": 600, "message": "upstream_error", "detail": "upstream call failed"}}
    elif shape == "status":
        document = {"status": 600, "message": "upstream call failed"}
    elif shape == "errorCode":
        document = {"errorCode": "600", "errorMessage": "upstream call failed"}
    elif shape == "message":
        document = {"success": False, "error": "gateway_timeout", "message": "gateway_timeout"}
    else:
        document = {"code": 600, "error": "upstream_error", "message": "upstream call failed"}
    return json.dumps(document).encode()


_EXPECTED: dict[str, ErrorKind | None] = {
    "ok": None,
    "status_600": ErrorKind.UPSTREAM_600,
    "body_600": ErrorKind.UPSTREAM_600,
    "outage": ErrorKind.UPSTREAM_OUTAGE,
    "gateway_timeout": ErrorKind.UPSTREAM_OUTAGE,
    "rate_limited": ErrorKind.RATE_LIMITED,
    "auth_expired": ErrorKind.AUTH_EXPIRED,
    "auth_invalid": ErrorKind.AUTH_INVALID,
    "hang": ErrorKind.HTTP_RESPONSE_TIMEOUT,
    "reset": ErrorKind.CONNECTION_TERMINATED,
    "close": ErrorKind.CONNECTION_TERMINATED,
    "truncate": ErrorKind.HTTP_RESPONSE_INCOMPLETE,
    "slow_body": None,
    "latency": None,
}


def expected_kind(fault: Fault) -> ErrorKind | None:
    """The taxonomy kind a well-behaved client should report for this fault (None: it is not a failure).

    ``status`` depends on the code, so it is left to the classifier (None here).
    """
    if fault.kind == "auth_invalid" and fault.status == 403:
        return ErrorKind.AUTH_FORBIDDEN
    if fault.kind == "gateway_timeout":
        return ErrorKind.UPSTREAM_OUTAGE
    return _EXPECTED.get(fault.kind)
