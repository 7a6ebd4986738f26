"""Split a pasted curl command line into arguments, as bash or Windows cmd would.

Supported, because browsers and API tools paste them:

- **bash** (Chrome and Edge "Copy as cURL (bash)", Firefox "Copy as cURL (POSIX)", Postman, Insomnia):
  ``'single'`` and ``"double"`` quotes and backslash escapes (by :func:`shlex.split` in POSIX mode),
  ``\\``-newline line continuations, and ``$'...'`` ANSI-C quoting (Chrome writes bodies with quotes, newlines
  or non-ASCII text that way: ``\\n``, ``\\'``, ``\\uXXXX`` with UTF-16 surrogate pairs, ``\\xHH``, octal).
  Comments, variables (``$TOKEN``), command substitution and here-documents are not expanded: a command that
  needs a shell to mean something is left as written.
- **Windows cmd** (Chrome "Copy as cURL (cmd)", older Postman for Windows): ``^`` escapes and ``^``-newline
  continuations, then the Microsoft C runtime's argument rules that curl.exe uses (``"..."`` groups, ``\\"``
  and ``""`` are a literal quote; single quotes are plain characters).

PowerShell's ``Invoke-WebRequest`` form ("Copy as PowerShell") is not curl and is not supported.

Written by hand: :mod:`shlex` covers POSIX quoting but not ``$'...'`` nor cmd's rules, and no maintained
library parses browsers' curl output; this module only rewrites those two extensions around :mod:`shlex`.
"""

from __future__ import annotations

import re
import shlex
from typing import Literal

from upstreamkit.diagnose.inputs.base import InputError

__all__ = ["Style", "detect_style", "split_command"]

Style = Literal["auto", "posix", "cmd"]

# A caret before a line end or a quote is cmd's and never bash's; a one-line cmd command without carets
# (older tools' ``"{""a"":1}"``) reads the same in both unless it doubles quotes: pass style="cmd" for it.
_CMD_HINT = re.compile(r"\^\r?\n|\^\"")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}
_MAX_CODE_POINT = 0x10FFFF


def detect_style(command: str) -> Literal["posix", "cmd"]:
    """``cmd`` when the text shows Windows cmd's marks (``^`` continuations, ``^"`` quotes), else ``posix``."""
    return "cmd" if _CMD_HINT.search(command) else "posix"


def split_command(command: str, style: Style = "auto") -> list[str]:
    """The arguments of ``command`` (the leading ``curl`` included when present)."""
    chosen = detect_style(command) if style == "auto" else style
    if chosen == "cmd":
        return _split_cmd(command)
    try:
        return shlex.split(_rewrite_posix(command), comments=False, posix=True)
    except ValueError as exc:  # shlex says "No closing quotation" / "No escaped character"
        raise InputError(f"the command line has an unclosed quote or a trailing backslash ({exc})") from None


# --- bash ------------------------------------------------------------------------------------------------


def _rewrite_posix(text: str) -> str:
    """Turn ``\\``-newline continuations into spaces and ``$'...'`` into plain single-quoted strings.

    Everything else is left for :func:`shlex.split`, so quoting has one authority.
    """
    out: list[str] = []
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        char = text[i]
        if quote == "'":
            out.append(char)
            quote = None if char == "'" else quote
            i += 1
            continue
        if char == "\\" and i + 1 < n:
            rest = text[i + 1 : i + 3]
            if rest.startswith(("\n", "\r\n")):
                # bash drops backslash-newline entirely, inside double quotes too.
                i += 2 if rest.startswith("\n") else 3
                continue
            out.append(text[i : i + 2])
            i += 2
            continue
        if quote == '"':
            out.append(char)
            quote = None if char == '"' else quote
            i += 1
            continue
        if char == "$" and text[i + 1 : i + 2] == "'":
            decoded, i = _ansi_c(text, i + 2)
            out.append(shlex.quote(decoded) if decoded else "''")
            continue
        if char in "'\"":
            quote = char
        out.append(char)
        i += 1
    return "".join(out)


def _ansi_c(text: str, start: int) -> tuple[str, int]:
    """Decode bash's ``$'...'`` body from ``start``; return the text and the index after the closing quote."""
    out: list[str] = []
    i, n = start, len(text)
    while i < n:
        char = text[i]
        if char == "'":
            return _join_surrogates(out), i + 1
        if char != "\\" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        code = text[i + 1]
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
            i += 2
        elif code in _HEX_DIGITS:
            digits = re.match(rf"[0-9a-fA-F]{{1,{_HEX_DIGITS[code]}}}", text[i + 2 : i + 2 + _HEX_DIGITS[code]])
            if digits is None or int(digits.group(0), 16) > _MAX_CODE_POINT:
                out.append(text[i : i + 2])  # no digits, or past Unicode (\UFFFFFFFF): kept as written
                i += 2
            else:
                out.append(chr(int(digits.group(0), 16)))
                i += 2 + len(digits.group(0))
        elif code in "01234567":
            digits = re.match(r"[0-7]{1,3}", text[i + 1 : i + 4])
            assert digits is not None  # noqa: S101 - the first character is an octal digit
            out.append(chr(int(digits.group(0), 8) & 0xFF))
            i += 1 + len(digits.group(0))
        elif code == "c" and i + 2 < n:
            out.append(chr(ord(text[i + 2]) & 0x1F))
            i += 3
        else:
            out.append(text[i : i + 2])  # bash keeps an unknown escape as written
            i += 2
    raise InputError("the command line has an unclosed $'...' quote")


def _join_surrogates(parts: list[str]) -> str:
    # Chrome writes each UTF-16 code unit as \uXXXX, so an emoji arrives as two surrogates.
    text = "".join(parts)
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# --- Windows cmd -----------------------------------------------------------------------------------------


def _split_cmd(text: str) -> list[str]:
    """cmd's caret layer, then the C runtime's quoting, which is how curl.exe receives its argv."""
    unescaped: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "^" and i + 1 < n:
            following = text[i + 1]
            if following in "\r\n":
                # ^ at the end of a line continues the command; "^" and two line ends is a newline in a value
                # (Chrome writes a body's newlines that way).
                ending = "\r\n" if text[i + 1 : i + 3] == "\r\n" else "\n"
                i += 1 + len(ending)
                if text[i : i + len(ending)] == ending:
                    unescaped.append("\n")
                    i += len(ending)
                continue
            unescaped.append(following)
            i += 2
            continue
        unescaped.append(" " if char in "\r\n" else char)
        i += 1
    return _msvcrt_argv("".join(unescaped))


def _msvcrt_argv(text: str) -> list[str]:
    """Split like the Microsoft C runtime (``CommandLineToArgvW`` rules, 2008 and later)."""
    args: list[str] = []
    current: list[str] = []
    in_arg = in_quotes = False
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            end = i
            while end < n and text[end] == "\\":
                end += 1
            run = end - i
            if i + run < n and text[i + run] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    i += run + 1
                else:
                    i += run
            else:
                current.append("\\" * run)
                i += run
            in_arg = True
            continue
        if char == '"':
            if in_quotes and text[i + 1 : i + 2] == '"':
                current.append('"')  # "" inside quotes is a literal quote
                i += 2
            else:
                in_quotes = not in_quotes
                i += 1
            in_arg = True
            continue
        if char in " \t" and not in_quotes:
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
            i += 1
            continue
        current.append(char)
        in_arg = True
        i += 1
    if in_quotes:
        raise InputError('the command line has an unclosed " quote')
    if in_arg:
        args.append("".join(current))
    return args
