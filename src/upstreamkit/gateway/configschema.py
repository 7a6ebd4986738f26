"""The schema of the gateway's TOML config file: pydantic models, one per table (:mod:`.configfile` turns a
validated :class:`ConfigModel` into :class:`~.config.GatewaySettings` and reports mistakes by their key's path).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from upstreamkit.core.backoff import Backoff
from upstreamkit.core.breaker import BreakerConfig
from upstreamkit.core.budget import BudgetConfig
from upstreamkit.core.retry import RetryPolicy
from upstreamkit.gateway.config import GatewaySettings
from upstreamkit.gateway.credentials import CredentialSpec, SecretSource
from upstreamkit.gateway.policy import RoutePolicy

__all__ = ["MAX_DURATION", "ConfigModel", "DegradedModel", "parse_duration"]

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION = 86400.0


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``"250ms"``, ``"2s"``, ``"1.5m"``, ``"1h"``."""
    if isinstance(value, bool):  # pydantic reports a ValueError as the key's problem, a TypeError it does not
        raise ValueError("a duration is a number of seconds or a string like '250ms', '2s', '1m'")  # noqa: TRY004
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"bad duration {value[:20]!r}: use a number of seconds or '250ms', '2s', '1m', '1h'")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError("a duration is a number of seconds or a string like '250ms', '2s', '1m'")  # noqa: TRY004
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DURATION:
        raise ValueError(f"a duration must be between 0 and {MAX_DURATION:g} seconds")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[Duration, Field(gt=0)]


def _only_false(value: object) -> object:
    if value is not False:  # 0 == False: without this a refused 0 would be read as "off"
        raise ValueError("use false to turn this off")
    return value


Off = Annotated[Literal[False], BeforeValidator(_only_false)]
"""``false``: the feature is off (a number 0 is not taken for it)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackoffModel(_Model):
    """The wait before retry n: ``min(max, base * multiplier**(n-1))``, jittered."""

    base: Duration = 0.2
    multiplier: float = Field(default=2.0, ge=1.0, le=100.0)
    max: Duration = 5.0
    jitter: Literal["none", "full", "equal", "decorrelated"] = "full"


class RetryModel(_Model):
    """Attempts per request and its time limits (Envoy's ``retry_policy`` and ``timeout``)."""

    attempts: int = Field(default=3, ge=1, le=100)
    per_try_timeout: PositiveDuration | None = 10.0
    deadline: PositiveDuration | None = 30.0
    backoff: BackoffModel = BackoffModel()
    max_retry_after: Duration = 60.0

    def policy(self, base: RetryPolicy) -> RetryPolicy:
        """``base`` with the keys this table gives (a route's retry changes only what it names)."""
        given = self.model_fields_set
        backoff = base.backoff
        if "backoff" in given:
            mine, named = self.backoff, self.backoff.model_fields_set
            backoff = Backoff(
                base=mine.base if "base" in named else backoff.base,
                multiplier=mine.multiplier if "multiplier" in named else backoff.multiplier,
                cap=mine.max if "max" in named else backoff.cap,
                jitter=mine.jitter if "jitter" in named else backoff.jitter,
            )
        return dataclasses.replace(
            base,
            backoff=backoff,
            **{key: getattr(self, key) for key in ("attempts", "per_try_timeout", "deadline", "max_retry_after")
               if key in given},
        )  # fmt: skip


class BreakerModel(_Model):
    """The upstream's circuit breaker (Envoy's outlier detection); ``breaker = false`` turns it off."""

    consecutive_failures: int | None = Field(default=5, ge=1)
    failure_rate: float | None = Field(default=0.5, gt=0, le=1)
    window: PositiveDuration = 30.0
    min_calls: int = Field(default=10, ge=1)
    open_for: PositiveDuration = 0.5
    max_open_for: PositiveDuration = 30.0
    half_open_probes: int = Field(default=1, ge=1)

    def config(self) -> BreakerConfig:
        values = self.model_dump()
        if "max_open_for" not in self.model_fields_set:  # a long open_for alone is not a mistake
            values["max_open_for"] = max(self.max_open_for, self.open_for)
        return BreakerConfig(**values)


class BudgetModel(_Model):
    """Retries as a share of requests (Envoy's ``retry_budget``); ``budget = false`` turns it off."""

    percent: float = Field(default=0.2, ge=0, le=10)
    min_per_second: float = Field(default=1.0, ge=0)
    ttl: PositiveDuration = 10.0

    def config(self) -> BudgetConfig:
        return BudgetConfig(ttl=self.ttl, percent=self.percent, min_per_second=self.min_per_second)


class RateLimitModel(_Model):
    """What this gateway sends the upstream at most; what the upstream's 429s teach is honoured anyway."""

    rate: float = Field(gt=0, le=1e6, description="requests per second")
    burst: int = Field(default=1, ge=1, le=1_000_000)


class CredentialsModel(_Model):
    """A credential the gateway adds to every request to the upstream (the caller's own is not forwarded)."""

    type: Literal["static", "oauth2_client_credentials"]
    header: str = Field(default="Authorization", pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
    value: str | None = None
    """The header's value: ``{secret}`` (static) or ``{token}`` (oauth2) is replaced."""
    secret_env: str | None = None
    secret_file: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    scope: str | None = None
    skew: Duration = 60.0

    @model_validator(mode="after")
    def _complete(self) -> CredentialsModel:
        static = self.type == "static"
        placeholder = "{secret}" if static else "{token}"
        if self.value is not None and (self.value.count(placeholder) != 1 or "\r" in self.value or "\n" in self.value):
            raise ValueError(f"value must hold {placeholder} once and no line breaks")
        if static:
            _one_source("secret", self.secret_env, self.secret_file)
            extra = [k for k in ("token_url", "client_id", "client_id_env", "client_secret_env", "client_secret_file",
                                 "scope") if getattr(self, k) is not None]  # fmt: skip
            if extra:
                raise ValueError(f"{extra[0]} is for type 'oauth2_client_credentials', not 'static'")
        else:
            if not self.token_url or not re.match(r"^https?://[^\s/]+", self.token_url):
                raise ValueError("oauth2_client_credentials needs token_url = 'https://...'")
            _one_source("client_id", self.client_id_env, self.client_id, what=("_env", ""))
            _one_source("client_secret", self.client_secret_env, self.client_secret_file)
            if self.secret_env is not None or self.secret_file is not None:
                raise ValueError("secret_env and secret_file are for type 'static'; use client_secret_env/_file")
        return self

    def spec(self) -> CredentialSpec:
        if self.type == "static":
            return CredentialSpec(
                kind="static", header=self.header, template=self.value or "Bearer {secret}",
                secret=SecretSource(env=self.secret_env, file=self.secret_file),
            )  # fmt: skip
        return CredentialSpec(
            kind="oauth2", header=self.header, template=self.value or "Bearer {token}",
            secret=SecretSource(env=self.client_secret_env, file=self.client_secret_file),
            token_url=self.token_url, client_id=SecretSource(env=self.client_id_env, value=self.client_id),
            scope=self.scope, skew=self.skew,
        )  # fmt: skip


def _one_source(name: str, first: str | None, second: str | None, what: tuple[str, str] = ("_env", "_file")) -> None:
    if (first is None) == (second is None):
        raise ValueError(f"give exactly one of {name}{what[0]} and {name}{what[1]}")


class TimeoutsModel(_Model):
    """Caps on one attempt: connecting, and the complete response."""

    connect: PositiveDuration | None = None
    response: PositiveDuration | None = None


class PolicyModel(_Model):
    """What protects an upstream: retries, breaker, budget, rate limit (``false`` turns one off)."""

    retry: RetryModel | None = None
    breaker: BreakerModel | bool | None = None
    budget: BudgetModel | bool | None = None
    rate_limit: RateLimitModel | None = None

    def policy(self, base: RoutePolicy) -> RoutePolicy:
        rate = self.rate_limit
        return RoutePolicy(
            retry=self.retry.policy(base.retry) if self.retry is not None else base.retry,
            breaker=_switch(self.breaker, base.breaker, BreakerConfig),
            budget=_switch(self.budget, base.budget, BudgetConfig),
            rate=rate.rate if rate is not None else base.rate,
            burst=rate.burst if rate is not None else base.burst,
        )


def _switch(value: Any, base: Any, default: type) -> Any:
    if value is None:
        return base
    if value is True:
        return base if base is not None else default()
    if value is False:
        return None
    return value.config()


class FallbackModel(_Model):
    """``fallback = { status = 503, content_type = "application/json", body = "..." }`` (or ``body_file``): the
    static answer to a failure no stale response covers (:class:`~.degrade.Fallback`)."""

    status: int = Field(default=200, ge=200, le=599)
    content_type: str = Field(default="application/json", min_length=1, max_length=256, pattern=r"^[\x20-\x7e]+$")
    body: str | None = None
    body_file: str | None = None
    """Read when the file is loaded (and at each reload); a relative path is from the config file's folder."""

    @model_validator(mode="after")
    def _one_body(self) -> FallbackModel:
        _one_source("body", self.body, self.body_file, what=("", "_file"))
        return self


class DegradedModel(_Model):
    """Degraded mode (:mod:`.degrade`): an upstream's keys are its routes' unless a route says otherwise."""

    stale_if_error: Duration | Off | None = None
    """Seconds past freshness a last good GET/HEAD response may be served on failure; ``false``: none."""
    stale_cache_authorized: bool | None = None
    fallback: FallbackModel | Off | None = None
    """``false``: the envelope (a route turning off its upstream's fallback)."""


class UpstreamModel(PolicyModel, DegradedModel):
    """``[upstreams.NAME]``: where it is, how it is protected, what credential the gateway adds."""

    url: str
    timeouts: TimeoutsModel = TimeoutsModel()
    credentials: CredentialsModel | None = None


class RouteModel(DegradedModel):
    """``[[routes]]``: a prefix forwarded to a named upstream; only its retry and degraded mode may differ."""

    prefix: str
    upstream: str
    retry: RetryModel | None = None


_PLAIN = GatewaySettings(routes=())
"""The settings' own defaults: what a key left out of the file means."""


def _stream_default() -> int | Literal[False]:
    return _PLAIN.stream_threshold if _PLAIN.stream_threshold is not None else False


class LimitsModel(_Model):
    """What one caller's request may cost (defaults: the server's)."""

    max_header_bytes: int = Field(default=_PLAIN.limits.max_header_bytes, ge=1024, le=1024 * 1024)
    max_headers: int = Field(default=_PLAIN.limits.max_headers, ge=8, le=1000)
    max_body_bytes: int = Field(default=_PLAIN.limits.max_body_bytes, ge=0, le=1024**3)
    max_response_bytes: int = Field(default=_PLAIN.max_response_bytes, ge=1024, le=1024**3)
    keep_alive_timeout: PositiveDuration = _PLAIN.limits.keep_alive_timeout
    request_read_timeout: PositiveDuration = _PLAIN.limits.request_read_timeout
    stream_threshold: Annotated[int, Field(ge=1024, le=1024**3)] | Off = _stream_default()
    """Body bytes past which a passed-through response is streamed; ``false``: every body is read whole."""
    max_connections_per_upstream: Annotated[int, Field(ge=1, le=100_000)] | Off = False
    """Connections open at once to one upstream; ``false``: no cap."""
    connection_queue_timeout: Duration = _PLAIN.connection_queue_timeout
    connection_queue_max: int = Field(default=_PLAIN.connection_queue_max, ge=0, le=1_000_000)
    stale_cache_entries: int = Field(default=_PLAIN.stale_cache_entries, ge=1, le=10_000_000)
    stale_cache_bytes: int = Field(default=_PLAIN.stale_cache_bytes, ge=1, le=64 * 1024**3)


class GatewayModel(_Model):
    """``[gateway]``: the process."""

    host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=0, le=65535)
    admin_host: str = "127.0.0.1"
    admin_port: int | Literal[False] = Field(default=8601, ge=0, le=65535)
    name: str = Field(default="upstreamkit", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    region: str | None = Field(default=None, max_length=64)
    status_mode: Literal["5xx", "200", "600"] = "5xx"
    access_log: str | None = None
    drain_timeout: Duration = 10.0
    loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    state: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://")
    """Where the per-upstream state lives (GatewaySettings.state): None per process, or a Redis URL."""
    workers: int = Field(default=1, ge=1, le=64)
    timeouts: TimeoutsModel = TimeoutsModel()
    limits: LimitsModel = LimitsModel()


class ConfigModel(_Model):
    """The whole file."""

    gateway: GatewayModel = GatewayModel()
    defaults: PolicyModel = PolicyModel()
    upstreams: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")], UpstreamModel] = Field(min_length=1)
    routes: list[RouteModel] = Field(min_length=1)
