"""Log formats, read from ``formats.toml``: how to recognise a line and which of its fields is which.

A format is data (a regex with named groups, or the keys of a JSON line, plus the names of its fields), so a
new format is an entry in the file, and its tests are its sample lines. :func:`parse_line` turns one line into
a flat ``{field: text}`` mapping, or None when the line is not of the format; it never raises on any input.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, Literal

__all__ = ["LogFormat", "detect_format", "format_names", "formats", "is_request", "lookup", "parse_line"]

MAX_LINE = 64 * 1024
"""Characters of a line a reader looks at; a longer line is cut there (a log line is not a document)."""


@dataclass(frozen=True, slots=True)
class LogFormat:
    """One log format: how to match a line and map its fields to the event's columns."""

    name: str
    kind: Literal["json", "regex"]
    time_field: str
    time_format: str
    request: bool
    fields: Mapping[str, str]
    regex: re.Pattern[str] | None = None
    detect: tuple[str, ...] = ()
    submatch: tuple[tuple[str, re.Pattern[str]], ...] = ()
    message_cut: str | None = None
    flags: tuple[str, str] | None = None
    """The field holding flags, and the knowledge base's log whose flag entries read them."""
    request_when: tuple[str, str] | None = None
    scale: Mapping[str, float] = field(default_factory=dict)


def _format(name: str, entry: Mapping[str, Any]) -> LogFormat:
    kind = entry["kind"]
    if kind not in ("json", "regex"):
        raise ValueError(f"formats.toml: format {name!r} has unknown kind {kind!r}")
    return LogFormat(
        name=name,
        kind=kind,
        time_field=entry["time_field"],
        time_format=entry["time_format"],
        request=bool(entry["request"]),
        fields=dict(entry.get("fields", {})),
        regex=re.compile(entry["regex"]) if kind == "regex" else None,
        detect=tuple(entry.get("detect", ())),
        submatch=tuple((key, re.compile(pattern)) for key, pattern in entry.get("submatch", {}).items()),
        message_cut=entry.get("message_cut"),
        flags=(entry["flags"][0], entry["flags"][1]) if "flags" in entry else None,
        request_when=tuple(entry["request_when"]) if "request_when" in entry else None,
        scale={key: float(value) for key, value in entry.get("scale", {}).items()},
    )


@cache
def formats() -> dict[str, LogFormat]:
    """Every format of ``formats.toml``, by name, in file order (the order auto-detection tries them)."""
    from upstreamkit.analyze.logformat import compile_log_format  # noqa: PLC0415 - it builds on LogFormat, here

    data = tomllib.loads(files("upstreamkit.analyze").joinpath("formats.toml").read_text(encoding="utf-8"))
    return {
        name: compile_log_format(entry["log_format"], name=name) if entry["kind"] == "nginx" else _format(name, entry)
        for name, entry in data["format"].items()
    }


def format_names() -> tuple[str, ...]:
    """The names ``--format`` accepts besides ``auto``."""
    return tuple(formats())


def lookup(fields: Mapping[str, Any], name: str) -> Any:
    """``fields[name]``, where a dotted name walks nested objects (``request.uri``); None when absent."""
    if name in fields or "." not in name:
        return fields.get(name)
    value: Any = fields
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def is_request(fields: Mapping[str, Any], fmt: LogFormat) -> bool:
    """Whether this line of ``fmt`` is one request (an access-log line) rather than an error-log event."""
    if fmt.request_when is None:
        return fmt.request
    field_name, prefix = fmt.request_when
    value = lookup(fields, field_name)
    return isinstance(value, str) and value.startswith(prefix)


def _json_fields(line: str, fmt: LogFormat) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        document = json.loads(line)
    except ValueError:  # json's errors (and RecursionError's cousins on deep nesting) are ValueErrors or ...
        return None
    except RecursionError:  # ... a deeply nested line: not a log line either
        return None
    if not isinstance(document, dict) or any(key not in document for key in fmt.detect):
        return None
    return document


def parse_line(line: str, fmt: LogFormat) -> dict[str, Any] | None:
    """The fields of ``line`` in format ``fmt``, or None when the line is not of that format."""
    line = line[:MAX_LINE].rstrip("\r\n")
    if fmt.kind == "json":
        return _json_fields(line, fmt)
    assert fmt.regex is not None  # noqa: S101 - _format compiles one for every regex format
    match = fmt.regex.match(line)
    if match is None:
        return None
    found: dict[str, Any] = match.groupdict()
    message = found.get("message")
    if isinstance(message, str):
        for key, pattern in fmt.submatch:
            sub = pattern.search(message)
            if sub is not None:
                found[key] = sub.group(key)
        if fmt.message_cut is not None:
            found["message"] = message.split(fmt.message_cut, 1)[0]
    return found


def detect_format(sample: Iterable[str], custom: LogFormat | None = None) -> LogFormat | None:
    """The format that parses most of the ``sample`` lines; None when none parses any.

    Ties go to ``custom`` (``--log-format``), then to the format with more fields: a line of ingress-nginx's
    ``upstreaminfo`` starts with a whole ``combined`` line, and the longer reading is the right one."""
    lines = [line for line in sample if line.strip()]
    best: LogFormat | None = None
    best_score = (0, False, 0)
    for fmt in ([custom] if custom else []) + list(formats().values()):
        count = sum(parse_line(line, fmt) is not None for line in lines)
        fields = len(fmt.regex.groupindex) if fmt.regex is not None else len(fmt.detect)
        score = (count, fmt is custom, fields)
        if count and score > best_score:
            best, best_score = fmt, score
    return best
