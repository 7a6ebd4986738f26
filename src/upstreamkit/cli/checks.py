"""How every command checks what it is given, and how it reports a mistake: exit code 2, one line on stderr.

One rule per kind of value, so that every option of that kind obeys it (the class, not the instances):

- **numbers** (:func:`integer`, :func:`number`): ASCII digits only (no Arabic-Indic digits, no ``1_000``,
  no spaces), finite (no ``nan``, no ``inf``), inside the option's documented range;
- **ports**: 1 to 65535 wherever something is connected to (in URLs, ``--resolve``, ``--dns-server``);
  ``simulate --port`` also takes 0, documented there as "pick a free one";
- **URLs** (:func:`check_url`), **methods** (:func:`check_method`), **headers** (:func:`parse_header`):
  the checks of :mod:`upstreamkit.diagnose.inputs.base`, which ``--from-curl`` and ``--har`` use too;
- **text** (:func:`text`): valid Unicode. An argument that was not UTF-8 reaches Python with lone
  surrogates; it is refused rather than sent as something the user did not type;
- **files** (:func:`read_input`): read with a size limit,
  :data:`~upstreamkit.diagnose.inputs.base.MAX_INPUT_BYTES` (16 MiB); ``-`` reads standard input, with the
  same limit.

Every message goes through :func:`~upstreamkit.diagnose.inputs.base.safe_message`: one line, bounded, and
redacted, because the offending input is quoted and may hold a credential.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import typer

from upstreamkit.diagnose.inputs import base as inputs

__all__ = [
    "UsageError",
    "check_method",
    "check_url",
    "fail",
    "integer",
    "number",
    "parse_header",
    "parse_status",
    "path",
    "read_input",
    "text",
]


class UsageError(Exception):
    """A mistake in the command line or its input files: reported in one line, exit code 2."""


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` (one line, redacted) on stderr; return the Exit to raise (exit code 2)."""
    typer.echo(f"error: {inputs.safe_message(message)}", err=True)
    return typer.Exit(2)


def integer(low: int, high: int) -> Callable[[object], int]:
    """A typer ``parser``: a whole number in ASCII digits from ``low`` to ``high``."""

    def parse(value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            whole = value  # the option's default
        else:
            try:
                whole = inputs.parse_integer(str(value))
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
        if not low <= whole <= high:
            raise typer.BadParameter(f"{whole} is not from {low} to {high}")
        return whole

    return parse


def number(low: float, high: float = math.inf, *, above_low: bool = False) -> Callable[[object], float]:
    """A typer ``parser``: a finite number in ASCII from ``low`` (excluded with ``above_low``) to ``high``."""
    lower = f"more than {low:g}" if above_low else f"at least {low:g}"
    bounds = lower if high == math.inf else f"{lower} and at most {high:g}"

    def parse(value: object) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            result = float(value)  # the option's default
        else:
            try:
                result = inputs.parse_decimal(str(value))
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
        above = result > low if above_low else result >= low
        if not (math.isfinite(result) and above and result <= high):
            raise typer.BadParameter(f"{result:g} is not {bounds}")
        return result

    return parse


def text(value: str, what: str) -> str:
    """``value`` when it is valid Unicode without NUL; UsageError when the argument was not UTF-8 (it
    arrives with lone surrogates) or holds a NUL (no real argument can: a C string ends there)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8 text (put raw bytes in a file and pass the file)") from None
    if "\x00" in value:
        raise UsageError(f"{what} holds a NUL character")
    return value


def path(value: str, what: str) -> str:
    """A file name as given (non-UTF-8 names are fine: the OS takes them back); UsageError when empty or
    holding a NUL character, which no file name can."""
    if not value or "\x00" in value:
        raise UsageError(f"{what} {value[:80]!r} is not a file name")
    return value


def read_input(name: str, what: str) -> bytes:
    """The bytes of file ``name`` (``-``: stdin), at most 16 MiB; UsageError naming ``what`` otherwise."""
    try:
        return inputs.read_limited(path(name, what), what, stdin=sys.stdin.buffer)
    except inputs.InputError as exc:
        raise UsageError(str(exc)) from None


def check_url(url: str, what: str = "URL") -> str:
    """An absolute http(s) URL the client can send (see :func:`upstreamkit.diagnose.inputs.base.check_url`)."""
    try:
        return inputs.check_url(url, what)
    except inputs.InputError as exc:
        raise UsageError(str(exc)) from None


def check_method(method: str) -> str:
    """A non-empty RFC 9110 token, upper-cased (``-X ''`` and ``-X 'GE T'`` are mistakes)."""
    try:
        return inputs.check_method(text(method, "the method").upper())
    except inputs.InputError as exc:
        raise UsageError(str(exc)) from None


def parse_header(line: str) -> tuple[str, str]:
    """``"Name: value"`` → ``("Name", "value")``; UsageError for anything else, or a value with a line break."""
    name, colon, value = text(line, "a header").partition(":")
    if not colon or not name.strip() or any(c in name for c in " \t\r\n"):
        raise UsageError(f"header {line[:200]!r} is not of the form 'Name: value'")
    try:
        return inputs.check_header(name.strip(), value.strip())
    except inputs.InputError as exc:
        raise UsageError(str(exc)) from None


def parse_status(value: str | int) -> int:
    """A status code from 100 to 999 in ASCII digits (600 included: gateways send it)."""
    if isinstance(value, int):
        status = value
    else:
        try:
            status = inputs.parse_integer(value.strip())
        except ValueError:
            raise UsageError(f"status {value[:40]!r} is not a number in ASCII digits") from None
    if not 100 <= status <= 999:
        raise UsageError(f"status {status} is outside 100..999")
    return status
