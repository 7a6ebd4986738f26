"""Split a pasted curl command line into arguments, as bash or Windows cmd would.

Supported, because browsers and API tools paste them:

- **bash** (Chrome and Edge "Copy as cURL (bash)", Firefox "Copy as cURL (POSIX)", Postman, Insomnia):
  ``'single'`` and ``"double"`` quotes and backslash escapes (as :func:`shlex.split` reads them in POSIX mode),
  ``\\``-newline line continuations, and ``$'...'`` ANSI-C quoting (Chrome writes bodies with quotes, newlines
  or non-ASCII text that way: ``\\n``, ``\\'``, ``\\uXXXX`` with UTF-16 surrogate pairs, ``\\xHH``, octal).
  Comments, variables (``$TOKEN``), command substitution and here-documents are not expanded: a command that
  needs a shell to mean something is left as written.
- **Windows cmd** (Chrome "Copy as cURL (cmd)", older Postman for Windows): ``^`` escapes and ``^``-newline
  continuations, then the Microsoft C runtime's argument rules that curl.exe uses (``"..."`` groups, ``\\"``
  and ``""`` are a literal quote; single quotes are plain characters).

PowerShell's ``Invoke-WebRequest`` form ("Copy as PowerShell") is not curl and is not supported.

Written by hand: :mod:`shlex` covers POSIX quoting but not ``$'...'`` nor cmd's rules, no maintained library
parses browsers' curl output, and :mod:`shlex` builds each word by string concatenation, which is quadratic (a
pasted 1 MiB body took 37 s). Both splitters here are regular-expression tokenizers: linear in the length.
"""

from __future__ import annotations

import re
from typing import Literal

from upstreamkit.diagnose.inputs.base import InputError

__all__ = ["Style", "detect_style", "split_command"]

Style = Literal["auto", "posix", "cmd"]

# A caret before a line end or a quote is cmd's and never bash's; a one-line cmd command without carets
# (older tools' ``"{""a"":1}"``) reads the same in both unless it doubles quotes: pass style="cmd" for it.
_CMD_HINT = re.compile(r"\^\r?\n|\^\"")
_POSIX_CONTINUATION = re.compile(r"(?<!\\)(?:\\\\)*+\\\r?\n")
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
_SURROGATE = re.compile("[\ud800-\udfff]")


def detect_style(command: str) -> Literal["posix", "cmd"]:
    """``cmd`` when the text shows Windows cmd's marks (``^`` continuations, ``^"`` quotes) and no bash
    line continuation (a backslash at a line's end: ``^"`` may sit inside a bash-quoted body), else ``posix``."""
    if _POSIX_CONTINUATION.search(command):
        return "posix"
    return "cmd" if _CMD_HINT.search(command) else "posix"


def split_command(command: str, style: Style = "auto", *, max_words: int | None = None) -> list[str]:
    """The arguments of ``command`` (the leading ``curl`` included when present); linear time.

    ``max_words``: raise :class:`InputError` as soon as there are more words than this.
    """
    chosen = detect_style(command) if style == "auto" else style
    try:
        words = _split_cmd(command) if chosen == "cmd" else _split_posix(command, max_words)
    except InputError as cmd_error:
        if style != "auto" or chosen == "posix":
            raise
        # A guess of cmd from a '^"' that is only text in a one-line bash command ('^"' quoted): bash then;
        # when bash cannot read it either, cmd's complaint is the one that fits what the text looked like.
        try:
            words = _split_posix(command, max_words)
        except InputError:
            raise cmd_error from None
    if max_words is not None and len(words) > max_words:
        raise InputError(f"the command has more than {max_words} words: no request needs that many options")
    return words


# --- bash ------------------------------------------------------------------------------------------------

# One token of a bash word at a time; a run of ordinary characters is one token, so the loop below turns over
# per quote or escape, not per character (shlex builds each word by string concatenation: quadratic).
_POSIX_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\n]+)
    |(?P<plain>[^ \t\r\n'"\\$]+)
    |(?P<empties>(?:''|"")++)
    |(?P<escapes>(?:\\[^\r\n])++)
    |'(?P<single>[^']*)'
    |"(?P<double>(?:[^"\\]|\\.)*)"
    |(?P<continuation>\\\r?\n)
    |\\(?P<escaped>.)
    |(?P<ansi>\$')
    |(?P<dollar>\$)
    |(?P<unclosed>['"\\])""",
    re.VERBOSE | re.DOTALL,
)
# Inside double quotes a backslash escapes only ", \ and a line end (bash drops backslash-newline there too).
_DOUBLE_ESCAPE = re.compile(r'\\(\r?\n|["\\])')


def _split_posix(text: str, max_words: int | None = None) -> list[str]:
    """Words as bash would split them, quotes removed: ``'single'``, ``"double"`` and backslash escapes (as
    :func:`shlex.split` in POSIX mode reads them), ``\\``-newline continuations and ``$'...'``."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    position, end = 0, len(text)
    while position < end:
        token = _POSIX_TOKEN.match(text, position)
        assert token is not None  # noqa: S101 - the last alternative matches any character the others do not
        kind = token.lastgroup
        position = token.end()
        if kind == "space":
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
                if max_words is not None and len(words) > max_words:
                    break  # the caller refuses it: no need to read the rest
            continue
        if kind == "continuation":
            continue
        if kind == "empties":  # '' and "" add nothing to the word: a run of them is one token
            in_word = True
            continue
        if kind == "escapes":  # a run of backslash escapes: each stands for the character after it
            current.append(token.group(kind)[1::2])
            in_word = True
            continue
        if kind == "unclosed":
            what = "a trailing backslash" if token.group(kind) == "\\" else f"an unclosed quote ({token.group(kind)})"
            raise InputError(f"the command line has {what}")
        if kind == "ansi":
            decoded, position = _ansi_c(text, position)
            current.append(decoded)
        elif kind == "double":
            current.append(_DOUBLE_ESCAPE.sub(lambda m: "" if m.group(1)[-1] == "\n" else m.group(1), token["double"]))
        else:
            current.append(token.group(kind or ""))
        in_word = True
    if in_word:
        words.append("".join(current))
    return words


_ANSI_BODY = re.compile(r"(?:[^'\\]|\\.)*'", re.DOTALL)
_ANSI_ESCAPE = re.compile(
    r"\\(?:x(?P<x>[0-9a-fA-F]{1,2})|u(?P<u>[0-9a-fA-F]{1,4})|U(?P<U>[0-9a-fA-F]{1,8})|(?P<octal>[0-7]{1,3})"
    r"|c(?P<control>.)|(?P<other>.))",
    re.DOTALL,
)


def _ansi_c(text: str, start: int) -> tuple[str, int]:
    """Decode bash's ``$'...'`` body from ``start``; return the text and the index after the closing quote."""
    body = _ANSI_BODY.match(text, start)
    if body is None:
        raise InputError("the command line has an unclosed $'...' quote")
    return _join_surrogates(_ANSI_ESCAPE.sub(_ansi_escape, text[start : body.end() - 1])), body.end()


def _ansi_escape(match: re.Match[str]) -> str:
    for code in ("x", "u", "U"):
        digits = match[code]
        if digits is not None:
            value = int(digits, 16)
            # Past Unicode (\UFFFFFFFF) the escape is kept as written, as bash cannot print it either.
            return chr(value) if value <= _MAX_CODE_POINT else match.group(0)
    if match["octal"] is not None:
        return chr(int(match["octal"], 8) & 0xFF)
    if match["control"] is not None:
        return chr(ord(match["control"]) & 0x1F)
    other = match["other"]
    return _SIMPLE_ESCAPES.get(other, match.group(0))  # bash keeps an unknown escape as written


def _join_surrogates(text: str) -> str:
    # Chrome writes each UTF-16 code unit as \uXXXX, so an emoji arrives as two surrogates.
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# --- Windows cmd -----------------------------------------------------------------------------------------


_CARET = re.compile(r"\^(?P<newline>\r\n\r\n|\n\n)|\^(?:\r\n|\n|\r)|\^(?P<char>.)|(?P<line_end>[\r\n])", re.DOTALL)
_MSVCRT_TOKEN = re.compile(r'(?P<plain>[^\\" \t]+)|(?P<slashes>\\+)|(?P<quote>")|(?P<space>[ \t]+)')


def _caret(match: re.Match[str]) -> str:
    # ^ at the end of a line continues the command; "^" and two line ends is a newline in a value (Chrome
    # writes a body's newlines that way); ^ before any other character escapes it; a bare line end is a space.
    if match["newline"] is not None:
        return "\n"
    if match["char"] is not None:
        return match["char"]
    return " " if match["line_end"] is not None else ""


def _split_cmd(text: str) -> list[str]:
    """cmd's caret layer, then the C runtime's quoting, which is how curl.exe receives its argv."""
    return _msvcrt_argv(_CARET.sub(_caret, text))


def _msvcrt_argv(text: str) -> list[str]:
    """Split like the Microsoft C runtime (``CommandLineToArgvW`` rules, 2008 and later)."""
    args: list[str] = []
    current: list[str] = []
    in_arg = in_quotes = False
    position, end = 0, len(text)
    while position < end:
        token = _MSVCRT_TOKEN.match(text, position)
        assert token is not None  # noqa: S101 - the four alternatives cover every character
        kind = token.lastgroup
        position = token.end()
        if kind == "space":
            if in_quotes:
                current.append(token["space"])
            elif in_arg:
                args.append("".join(current))
                current, in_arg = [], False
            continue
        in_arg = True
        if kind == "plain":
            current.append(token["plain"])
        elif kind == "slashes":
            run = len(token["slashes"])
            if text[position : position + 1] != '"':
                current.append("\\" * run)  # backslashes are literal unless a quote follows them
                continue
            current.append("\\" * (run // 2))
            if run % 2:
                current.append('"')  # an odd run escapes the quote
                position += 1
        elif in_quotes and text[position : position + 1] == '"':
            current.append('"')  # "" inside quotes is a literal quote
            position += 1
        else:
            in_quotes = not in_quotes
    if in_quotes:
        raise InputError('the command line has an unclosed " quote')
    if in_arg:
        args.append("".join(current))
    return args
