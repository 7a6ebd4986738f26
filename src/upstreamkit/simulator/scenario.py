"""Scenarios: a timeline of phases, each with a fault mix per route, read from TOML and validated.

A scenario file::

    name = "incident"
    description = "healthy, then an outage, then partial recovery, then healthy"
    tls = "valid"                       # optional: the TLS variant this scenario is about
    loop = false                        # true: the timeline repeats (flapping)

    [auth]                              # optional, see AuthConfig
    mode = "optional"                   # none | optional | required

    [rate_limit]                        # optional, see RateLimitConfig
    enabled = true
    limit = 10
    window = 1

    [[phases]]
    name = "outage"
    start = 2.0                         # seconds after the simulator starts (times time_scale)
    end = 4.0                           # omitted: until the simulator stops
    [phases.routes."/v1/*"]             # glob on the path; the first matching glob wins
    faults = [{ kind = "outage", p = 0.9, retry_after = 2 }]

Between phases, and on paths no glob matches, the upstream is healthy. A malformed file raises
:class:`ScenarioError` whose message is one line naming the file, the phase and what is valid, so the CLI
can print it without a traceback. The built-in scenarios are TOML files in ``scenarios/`` inside the
package, loaded through :mod:`importlib.resources`.
"""

from __future__ import annotations

import functools
import itertools
import tomllib
import types
import typing
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from upstreamkit.simulator.faults import Fault
from upstreamkit.simulator.tls import TLSVariant

__all__ = [
    "AuthConfig",
    "FieldRule",
    "Phase",
    "RateLimitConfig",
    "RouteSpec",
    "Scenario",
    "ScenarioError",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
]

_EPSILON = 1e-9


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; ``str()`` is one line naming the file, the phase and what is valid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(_Model):
    """Credentials the protected routes (``/v1/*``) accept.

    ``optional`` (default): a request without credentials passes, but a presented token or key is checked,
    so an expired JWT gets a real 401. ``required``: no credentials is a 401 too. ``none``: nothing checked.
    """

    mode: Literal["none", "optional", "required"] = "optional"
    token_lifetime: float = Field(default=3600.0, gt=0, description="Seconds a JWT from /oauth/token lives.")
    clients: dict[str, str] = Field(
        default_factory=lambda: {"sim-client": "sim-secret"}, description="client_id -> client_secret."
    )
    api_keys: list[str] = Field(default_factory=lambda: ["sim-key-valid"])


class RateLimitConfig(_Model):
    """A per-key token bucket on the routes matching ``routes``: ``limit`` requests per ``window`` seconds."""

    enabled: bool = False
    limit: int = Field(default=10, ge=1)
    window: float = Field(default=1.0, gt=0)
    status: Literal[429, 503] = 429
    retry_after_format: Literal["seconds", "http-date"] = "seconds"
    x_reset: Literal["epoch", "delta"] = Field(
        default="epoch", description="X-RateLimit-Reset as epoch seconds (GitHub) or a delta (others)."
    )
    routes: str = "/v1/*"


class FieldRule(_Model):
    """Reject a JSON body whose ``field`` (dotted path) is present, equals a value or matches a regex."""

    field: str = Field(min_length=1)
    equals: str | int | float | bool | None = None
    pattern: str | None = None
    present: bool = False
    status: Literal[400, 422] = 422
    message: str = "invalid value"

    @model_validator(mode="after")
    def _one_condition(self) -> Self:
        if self.equals is None and self.pattern is None and not self.present:
            raise ValueError("a field rule needs one of: equals, pattern, present = true")
        return self


class RouteSpec(_Model):
    """What one route does in a phase: its fault mix, a body size limit and JSON field rules."""

    faults: list[Fault] = Field(default_factory=list)
    max_body_bytes: int | None = Field(default=None, ge=0)
    field_rules: list[FieldRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _probabilities(self) -> Self:
        total = sum(fault.p for fault in self.faults)
        if total > 1.0 + _EPSILON:
            raise ValueError(f"fault probabilities sum to {total:g}; they must sum to at most 1")
        return self

    def failure_probability(self) -> float:
        """Probability that a request on this route gets a fault that is a failure (not ok/latency/slow)."""
        return sum(fault.p for fault in self.faults if fault.kind not in ("ok", "latency", "slow_body"))

    def degraded(self) -> bool:
        """True when some requests are slowed down (latency or slow body)."""
        return any(fault.kind in ("latency", "slow_body") and fault.p > 0 for fault in self.faults)


StatusIndicator = Literal["none", "minor", "major", "critical"]


class Phase(_Model):
    """One stretch of the timeline: ``[start, end)`` seconds after the simulator starts."""

    name: str = Field(min_length=1)
    start: float = Field(default=0.0, ge=0)
    end: float | None = None
    routes: dict[str, RouteSpec] = Field(default_factory=dict)
    status: StatusIndicator | None = Field(
        default=None, description="Status page indicator; None: derived from the fault mix."
    )
    description: str | None = None
    incident: str | None = Field(default=None, description="Name of the incident shown on the status page.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end:g}) must be greater than start ({self.start:g})")
        return self

    def route_for(self, path: str) -> RouteSpec | None:
        """The spec of the first glob matching ``path``, or None (healthy)."""
        return _match(self, path)


@functools.lru_cache(maxsize=4096)
def _match_cached(patterns: tuple[str, ...], path: str) -> int:
    for index, pattern in enumerate(patterns):
        if fnmatchcase(path, pattern):
            return index
    return -1


def _match(phase: Phase, path: str) -> RouteSpec | None:
    if not phase.routes:
        return None
    patterns = tuple(phase.routes)
    index = _match_cached(patterns, path)
    return None if index < 0 else phase.routes[patterns[index]]


class Scenario(_Model):
    """A named timeline of phases plus the auth, rate-limit and TLS settings of the simulated upstream."""

    name: str = Field(min_length=1)
    description: str = ""
    tls: TLSVariant | None = None
    loop: bool = False
    auth: AuthConfig = Field(default_factory=AuthConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    phases: list[Phase] = Field(min_length=1)

    @model_validator(mode="after")
    def _timeline(self) -> Self:
        ordered = sorted(self.phases, key=lambda phase: phase.start)
        for before, after in itertools.pairwise(ordered):
            if before.end is None or before.end > after.start + _EPSILON:
                until = "the end" if before.end is None else f"{before.end:g}"
                raise ValueError(
                    f"phase {before.name!r} ({before.start:g}..{until}) overlaps phase {after.name!r} "
                    f"(starts at {after.start:g}); phases must not overlap"
                )
        names = [phase.name for phase in self.phases]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"phase names must be unique; repeated: {', '.join(duplicates)}")
        if self.loop and ordered[-1].end is None:
            raise ValueError(f"loop = true needs an end on the last phase ({ordered[-1].name!r})")
        return self

    def period(self) -> float | None:
        """Length of one pass of the timeline when it loops, else None."""
        if not self.loop:
            return None
        return max(phase.end or 0.0 for phase in self.phases)

    def phase_at(self, elapsed: float, time_scale: float = 1.0) -> Phase | None:
        """The phase in force ``elapsed`` real seconds after start, with phase times multiplied by
        ``time_scale``; None between phases (healthy)."""
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        position = elapsed / time_scale
        period = self.period()
        if period is not None and period > 0:
            position %= period
        for phase in self.phases:
            if phase.start <= position and (phase.end is None or position < phase.end):
                return phase
        return None


# --- loading -------------------------------------------------------------------------------------------


@functools.cache
def builtin_scenarios() -> tuple[str, ...]:
    """Names of the scenarios shipped in the package, sorted."""
    folder = resources.files("upstreamkit.simulator").joinpath("scenarios")
    return tuple(sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml")))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a scenario from a TOML file; :class:`ScenarioError` otherwise."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in builtin_scenarios():
        return _load_builtin(text)
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in text:
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror or exc}") from exc
        return parse_scenario(source, source_name=str(path))
    raise ScenarioError(
        f"unknown scenario {text!r}; valid names: {', '.join(builtin_scenarios())} (or a path to a .toml file)"
    )


@functools.cache
def _load_builtin(name: str) -> Scenario:
    resource = resources.files("upstreamkit.simulator").joinpath("scenarios", f"{name}.toml")
    return parse_scenario(resource.read_text(encoding="utf-8"), source_name=f"built-in scenario {name}")


def parse_scenario(text: str, *, source_name: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML; every problem becomes a one-line :class:`ScenarioError`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source_name}: invalid TOML: {exc}") from exc
    if "name" not in raw and source_name.endswith(".toml"):
        raw["name"] = Path(source_name).stem
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{source_name}: {_describe(exc, raw)}") from exc


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    """The first validation error as one line: where (phase by name), what is wrong, what is valid."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    where = _where(loc, raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1], raw)
        what = f"unknown key {loc[-1]!r}" + (f"; valid keys: {', '.join(valid)}" if valid else "")
    elif kind == "union_tag_invalid":
        tags = error.get("ctx", {}).get("expected_tags", "")
        given = error.get("ctx", {}).get("tag", "?")
        what = f"unknown fault kind {given!r}; valid kinds: {str(tags).replace(chr(39), '')}"
    elif kind == "union_tag_not_found":
        what = "a fault needs a 'kind'"
    elif kind == "missing":
        what = f"missing required key {loc[-1]!r}" if loc else "missing required key"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        field = _fields_only(loc)
        what = f"{_dotted(field)}: {message}" if field else message
    count = exc.error_count()
    more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    return f"{where}{what}{more}"


def _fields_only(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the phase prefix (named separately) and fold the tag pydantic inserts after a fault's index
    into that index: ``faults[0](outage).status``."""
    if len(loc) >= 2 and loc[0] == "phases" and isinstance(loc[1], int):
        loc = loc[2:]
    parts: list[Any] = []
    for index, part in enumerate(loc):
        if index >= 2 and loc[index - 2] == "faults" and isinstance(loc[index - 1], int) and part in _FAULT_TAGS:
            parts[-1] = f"{parts[-1]}]({part})"
            continue
        parts.append(part)
    return tuple(parts)


def _where(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "phases" and isinstance(loc[1], int):
        phases = raw.get("phases")
        name = None
        if isinstance(phases, list) and loc[1] < len(phases) and isinstance(phases[loc[1]], dict):
            name = phases[loc[1]].get("name")
        return f"phase {name!r} (phases[{loc[1]}]): " if name else f"phases[{loc[1]}]: "
    return ""


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif isinstance(part, str) and "](" in part:
            parts.append(f"[{part}")
        else:
            text = str(part)
            name = text if text.isidentifier() else f'"{text}"'
            parts.append(name if not parts else f".{name}")
    return "".join(parts) or "scenario"


def _valid_keys(loc: tuple[Any, ...], raw: dict[str, Any]) -> list[str]:
    """Field names of the model at ``loc`` (walking the type annotations), for "valid keys: ..."."""
    annotation: Any = Scenario
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _unwrap(annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _step(annotation: Any, part: Any) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return None if field is None else field.annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict:
        return args[1]
    if origin in (typing.Union, types.UnionType):
        members = [_unwrap(arg) for arg in args]
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                kind = member.model_fields.get("kind")
                if kind is not None and kind.default == part:
                    return member
        non_none = [member for member in members if member is not type(None)]
        return _step(non_none[0], part) if len(non_none) == 1 else None
    return None


_FAULT_TAGS = frozenset(
    member.model_fields["kind"].default
    for member in typing.get_args(_unwrap(Fault))
    if isinstance(member, type) and issubclass(member, BaseModel)
)
