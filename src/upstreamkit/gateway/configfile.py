"""The gateway's TOML config file, validated with pydantic into a :class:`~.config.GatewaySettings`.

::

    [gateway]                      # the process: listeners, names, envelope, log, caps
    port = 8600
    status_mode = "5xx"
    [gateway.timeouts]
    connect = "2s"                 # a duration: seconds as a number, or "250ms", "2s", "1m", "1h"
    [defaults.retry]               # every upstream's policy unless it says otherwise (the client's defaults)
    attempts = 3
    [upstreams.pay]                # a named upstream: URL, policy, credentials
    url = "http://127.0.0.1:9000/v1"
    breaker = { consecutive_failures = 5, open_for = "1s" }
    credentials = { type = "static", secret_env = "PAY_TOKEN" }
    [[routes]]                     # prefixes (longest wins, stripped) to upstreams; retry may be overridden
    prefix = "/pay"
    upstream = "pay"

Breaker, budget and rate limit belong to the upstream (its health is one thing, whatever the route); a route
may only change how it retries. A table overrides only the keys it names: ``[defaults]`` over the client's
defaults, an upstream over ``[defaults]``, a route's ``retry`` over its upstream's. Secrets are never written
in the file: credentials name an environment variable or a file. Every mistake is one :class:`ConfigError`
whose text names the key's path (``routes[1].upstream: no upstream named "pay"``) and holds no secret.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from upstreamkit.gateway.config import GatewaySettings, UpstreamSettings
from upstreamkit.gateway.configschema import _PLAIN, ConfigModel, DegradedModel, parse_duration
from upstreamkit.gateway.degrade import Fallback, fallback_from
from upstreamkit.gateway.policy import RoutePolicy
from upstreamkit.gateway.routes import Route, RouteError
from upstreamkit.gateway.server import Limits

__all__ = ["ConfigError", "load_config", "parse_config", "parse_duration"]


class ConfigError(ValueError):
    """A config file that cannot be used; ``str()`` is one line: the file, the key's path, what is wrong."""


def load_config(path: str | Path) -> GatewaySettings:
    """Read and validate the file at ``path``; every problem is one :class:`ConfigError`."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable UTF-8 text"
        raise ConfigError(f"{source}: {reason}") from None
    return parse_config(text, source_name=str(source), folder=source.parent)


def parse_config(text: str, *, source_name: str = "<config>", folder: str | Path | None = None) -> GatewaySettings:
    """Validate TOML ``text`` into settings (secrets are checked to exist, never read into messages);
    ``folder``: where a relative ``body_file`` is (the config file's folder; the current one by default)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source_name}: invalid TOML: {exc}") from None
    try:
        model = ConfigModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source_name}: {_describe(exc)}") from None
    try:
        return _settings(model, Path(folder) if folder is not None else Path())
    except ConfigError as exc:
        raise ConfigError(f"{source_name}: {exc}") from None


def _settings(model: ConfigModel, folder: Path) -> GatewaySettings:
    g = model.gateway
    try:
        default = model.defaults.policy(RoutePolicy())
    except ValueError as exc:
        raise ConfigError(f"defaults: {exc}") from None
    upstreams: list[UpstreamSettings] = []
    policies: dict[str, RoutePolicy] = {}
    for name, upstream in model.upstreams.items():
        where = f"upstreams.{name}"
        try:
            Route(prefix="/", url=upstream.url, upstream=name)  # the URL rules of a route, checked once
        except RouteError as exc:
            raise ConfigError(f"{where}.url: {str(exc).removeprefix('route /: ')}") from None
        credentials = upstream.credentials.spec() if upstream.credentials is not None else None
        if credentials is not None:
            problem = credentials.missing()
            if problem is not None:
                raise ConfigError(f"{where}.credentials.{problem}")
        try:
            policies[name] = upstream.policy(default)
        except ValueError as exc:  # the core's own checks (e.g. max_open_for below open_for)
            raise ConfigError(f"{where}: {exc}") from None
        upstreams.append(
            UpstreamSettings(
                name=name, url=upstream.url, connect_timeout=upstream.timeouts.connect,
                timeout=upstream.timeouts.response, credentials=credentials,
            )
        )  # fmt: skip
    routes: list[Route] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(model.routes):
        where = f"routes[{index}]"
        target = model.upstreams.get(entry.upstream)
        if target is None:
            names = ", ".join(f'"{name}"' for name in model.upstreams)
            raise ConfigError(f'{where}.upstream: no upstream named "{entry.upstream}" (defined: {names})')
        prefix = entry.prefix.rstrip("/") if len(entry.prefix) > 1 else entry.prefix
        if prefix in seen:
            raise ConfigError(f"{where}.prefix: {prefix!r} is already the prefix of routes[{seen[prefix]}]")
        seen[prefix] = index
        policy = policies[entry.upstream]
        if entry.retry is not None:
            try:
                retry = entry.retry.policy(policy.retry)
            except ValueError as exc:
                raise ConfigError(f"{where}.retry: {exc}") from None
            policy = dataclasses.replace(policy, retry=retry)
        degraded = _degraded(entry, target, where, f"upstreams.{entry.upstream}", folder)
        try:
            routes.append(Route(prefix=prefix, url=target.url, upstream=entry.upstream, policy=policy, **degraded))
        except RouteError as exc:
            raise ConfigError(f"{where}.prefix: {exc}") from None
    limits = g.limits
    return GatewaySettings(
        routes=tuple(routes),
        host=g.host,
        port=g.port,
        admin_host=g.admin_host,
        admin_port=None if g.admin_port is False else g.admin_port,
        status_mode=g.status_mode,  # type: ignore[arg-type]  # the enum's text, converted by the settings
        access_log=g.access_log,
        name=g.name,
        region=g.region,
        connect_timeout=g.timeouts.connect if g.timeouts.connect is not None else _PLAIN.connect_timeout,
        timeout=g.timeouts.response if g.timeouts.response is not None else _PLAIN.timeout,
        policy=default,
        limits=Limits(
            max_header_bytes=limits.max_header_bytes,
            max_headers=limits.max_headers,
            max_body_bytes=limits.max_body_bytes,
            keep_alive_timeout=limits.keep_alive_timeout,
            request_read_timeout=limits.request_read_timeout,
        ),
        max_response_bytes=limits.max_response_bytes,
        stream_threshold=limits.stream_threshold or None,
        max_connections_per_upstream=limits.max_connections_per_upstream or None,
        connection_queue_timeout=limits.connection_queue_timeout,
        connection_queue_max=limits.connection_queue_max,
        stale_cache_entries=limits.stale_cache_entries,
        stale_cache_bytes=limits.stale_cache_bytes,
        drain_timeout=g.drain_timeout,
        loop=g.loop,
        upstreams=tuple(upstreams),
        state=g.state,
        workers=g.workers,
    )


def _degraded(route: DegradedModel, upstream: DegradedModel, where: str, upstream_where: str, folder: Path
              ) -> dict[str, Any]:  # fmt: skip
    """A route's degraded-mode fields: each key the route gives, else its upstream's, else off."""

    def pick(key: str) -> tuple[Any, str]:
        if key in route.model_fields_set:
            return getattr(route, key), where
        return getattr(upstream, key), upstream_where

    stale, _ = pick("stale_if_error")
    authorized, _ = pick("stale_cache_authorized")
    spec, owner = pick("fallback")
    fallback: Fallback | None = None
    if spec:
        file = None if spec.body_file is None else folder / spec.body_file
        try:
            fallback = fallback_from(spec.body, file=file, status=spec.status, content_type=spec.content_type)
        except OSError as exc:
            raise ConfigError(f"{owner}.fallback.body_file ({spec.body_file}): {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{owner}.fallback: {exc}") from None
    return {
        "stale_if_error": stale if stale is not False else None,
        "stale_cache_authorized": bool(authorized),
        "fallback": fallback,
    }


def _describe(exc: ValidationError) -> str:
    """The first problem as one line: the key's dotted path and what is wrong, never the value given."""
    error = exc.errors(include_url=False, include_input=False)[0]
    path = _path(tuple(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden":
        what = "unknown key"
    elif kind == "missing":
        what = "missing required key"
    else:
        what = str(error["msg"]).removeprefix("Value error, ")
    count = exc.error_count()
    more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    return f"{path}: {what}{more}" if path else f"{what}{more}"


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("bool", "literal[False]") or str(part).startswith(("function-", "constrained-")):
            continue  # pydantic's name for a branch of a union, not a key of the file
        elif "Model" in str(part):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text
