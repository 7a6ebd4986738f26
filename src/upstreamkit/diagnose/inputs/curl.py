"""``--from-curl``: a pasted curl command line → the request to probe and the options it implies.

What is understood (curl's own meaning, checked against curl 8's manual):

- the URL, positional or ``--url`` (exactly one; no scheme means ``http://``, as curl assumes);
- ``-X/--request``, ``-H/--header`` (repeatable; ``-H 'Name;'`` sends an empty header, ``-H 'Name:'``
  removes one, ``-H @file`` reads one header per line), ``-A/--user-agent``, ``-e/--referer``,
  ``-b/--cookie 'a=b; c=d'`` (a cookie string; cookie-jar files are refused), ``-u/--user user:password``
  (Basic), ``--oauth2-bearer TOKEN``;
- bodies: ``-d/--data``, ``--data-ascii`` (``@file`` reads a file and drops its line breaks, as curl does),
  ``--data-binary`` (``@file`` kept byte for byte), ``--data-raw`` (no ``@``), ``--data-urlencode``
  (``content``, ``=content``, ``name=content``, ``@file``, ``name@file``), repeated pieces joined with ``&``;
  ``--json`` (pieces concatenated; Content-Type and Accept ``application/json`` unless given; POST);
  a body without ``-X`` means POST, with ``Content-Type: application/x-www-form-urlencoded`` for ``-d``
  unless a Content-Type header is given (curl sends that too). Files are read relative to the current
  directory (or ``base_dir``);
- ``-G/--get`` (the data goes to the query string), ``-I/--head`` (HEAD);
- option hints: ``-k/--insecure``, ``--cacert``, ``-m/--max-time``, ``--connect-timeout``,
  ``--resolve HOST:PORT:ADDR[,ADDR...]``;
- combined short options (``-sSL``, ``-XPOST``, ``-H'X: y'``, ``-d@body.json``) and ``--`` (the rest are URLs).

Accepted and ignored, because they change nothing a diagnosis looks at (listed in ``ParsedInput.ignored``):
flags ``--compressed -s/--silent -S/--show-error -v/--verbose -i/--include -L/--location --location-trusted
-f/--fail --fail-with-body -g/--globoff -N/--no-buffer -#/--progress-bar --no-progress-meter --http1.1
--http2 --tr-encoding``; with a value ``-o/--output -w/--write-out -c/--cookie-jar -D/--dump-header
--max-redirs --retry --retry-delay --retry-max-time --trace --trace-ascii --stderr --output-dir``.

Anything else is an error naming the option: guessing what an unknown option meant would probe a request
nobody sent. Options curl has but diagnose cannot reproduce (``-F`` multipart forms, ``-x`` proxies,
client certificates, other auth schemes) get a message saying what to do instead.

Written by hand: no maintained library parses curl's options (the PyPI converters are abandoned, and lose
repeated headers or ``$'...'`` bodies); the shell layer is :mod:`upstreamkit.diagnose.inputs._shell`.
"""

from __future__ import annotations

from pathlib import Path

from upstreamkit.diagnose.inputs._curl_options import (
    FLAGS,
    HANDLERS,
    IGNORED_FLAGS,
    IGNORED_WITH_VALUE,
    SHELL_OPERATORS,
    SHORT,
    UNSUPPORTED,
    Command,
)
from upstreamkit.diagnose.inputs._shell import Style, split_command
from upstreamkit.diagnose.inputs.base import (
    MAX_URL_LENGTH,
    InputError,
    ParsedInput,
    check_header,
    check_url,
    shown_url,
)
from upstreamkit.diagnose.model import ProbeRequest

__all__ = ["MAX_COMMAND_LENGTH", "parse_curl"]

MAX_COMMAND_LENGTH = 1024 * 1024 + MAX_URL_LENGTH
"""The longest pasted command accepted (characters): a 1 MiB inline body plus a URL. Longer bodies belong in
a file (``--data-binary @body.json``)."""


MAX_WORDS = 10_000
"""The most words a curl command may have (a browser's "Copy as cURL" has a few dozen); more is refused, so a
hostile paste of 100,000 options costs milliseconds, not a third of a second."""


def parse_curl(command: str, *, style: Style = "auto", base_dir: Path | None = None) -> ParsedInput:
    """Parse a pasted curl command line (bash or Windows cmd style; see the module docstring).

    Raises :class:`InputError` with a one-line, redacted message on anything it cannot reproduce faithfully,
    whatever the text: a lone surrogate (text that was not UTF-8), a URL the client cannot send, a command of
    more than :data:`MAX_COMMAND_LENGTH` characters.
    """
    if len(command) > MAX_COMMAND_LENGTH:
        raise InputError(f"the curl command is longer than {MAX_COMMAND_LENGTH} characters: save the body to a file")
    try:
        command.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("the curl command is not valid UTF-8 text") from None
    args = split_command(command.strip(), style, max_words=MAX_WORDS)
    if args and (args[0].lower() in ("curl", "curl.exe") or args[0].endswith(("/curl", "\\curl.exe"))):
        args = args[1:]
    if not args:
        raise InputError("the curl command is empty: no URL")
    cmd = Command(base_dir=base_dir if base_dir is not None else Path.cwd())
    _walk(args, cmd)
    return _finish(cmd)


def _walk(args: list[str], cmd: Command) -> None:
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            cmd.urls.extend(args[i:])
            return
        if arg in SHELL_OPERATORS:
            raise InputError(f"the command goes on after curl with {arg!r}: paste the curl command alone")
        if arg.startswith("--"):
            name, value, i = _long_value(arg, args, i)
            _apply(cmd, name, value)
        elif arg.startswith("-") and len(arg) > 1:
            i = _shorts(arg, args, i, cmd)
        else:
            cmd.urls.append(arg)


def _takes_value(name: str) -> bool:
    return name in HANDLERS or name in IGNORED_WITH_VALUE


def _long_value(arg: str, args: list[str], i: int) -> tuple[str, str | None, int]:
    if arg in UNSUPPORTED:
        raise InputError(f"curl option {arg} is not supported: {UNSUPPORTED[arg]}")
    if arg in IGNORED_FLAGS or arg in FLAGS:
        return arg, None, i
    if not _takes_value(arg):
        hint = " (curl takes an option's value as the next argument)" if "=" in arg else ""
        raise InputError(f"unknown or unsupported curl option {arg.split('=', 1)[0]}{hint}")
    if i >= len(args):
        raise InputError(f"curl option {arg} needs a value")
    return arg, args[i], i + 1


def _shorts(arg: str, args: list[str], i: int, cmd: Command) -> int:
    """Combined short options: ``-sSL``, ``-XPOST``, ``-H'X: y'`` (the rest of the word is the value)."""
    for pos in range(1, len(arg)):
        letter = arg[pos]
        if f"-{letter}" in UNSUPPORTED:
            raise InputError(f"curl option -{letter} is not supported: {UNSUPPORTED[f'-{letter}']}")
        name = SHORT.get(letter)
        if name is None:
            raise InputError(f"unknown or unsupported curl option -{letter}")
        if not _takes_value(name):
            _apply(cmd, name, None)
            continue
        rest = arg[pos + 1 :]
        if rest:
            _apply(cmd, name, rest)
            return i
        if i >= len(args):
            raise InputError(f"curl option -{letter} ({name}) needs a value")
        _apply(cmd, name, args[i])
        return i + 1
    return i


def _apply(cmd: Command, name: str, value: str | None) -> None:
    if name in IGNORED_FLAGS or name in IGNORED_WITH_VALUE:
        cmd.ignored.append(name)
    elif value is None:
        FLAGS[name](cmd)
    else:
        HANDLERS[name](cmd, value)


# --- the request -----------------------------------------------------------------------------------------


def _body(cmd: Command) -> bytes | None:
    if not cmd.data:
        return None
    out = bytearray(cmd.data[0][1])
    for separator, piece in cmd.data[1:]:
        out += separator + piece
    return bytes(out)


def _full_url(cmd: Command) -> str:
    if not cmd.urls:
        raise InputError("the curl command has no URL")
    if len(cmd.urls) > 1:
        raise InputError(f"the curl command has {len(cmd.urls)} URLs; diagnose probes one: keep the one that fails")
    url = cmd.urls[0].strip()
    if "://" not in url:
        url = f"http://{url}"  # what curl assumes
    return check_url(url.split("#", 1)[0], "the curl command's URL")  # a fragment is never sent


def _finish(cmd: Command) -> ParsedInput:
    url = _full_url(cmd)
    body = _body(cmd)
    if cmd.head and body is not None and not cmd.get:
        raise InputError("-I/--head and a body (-d/--json) cannot be combined: curl refuses it too")
    if cmd.get and body is not None:
        url = f"{url}{'&' if '?' in url else '?'}{body.decode('utf-8', 'replace')}"
        body = None
    method = cmd.method or ("HEAD" if cmd.head else "POST" if body is not None else "GET")
    given = {name.lower() for name, _ in cmd.headers}
    implied = list(cmd.implied)
    if cmd.cookies:
        implied.append(("Cookie", "; ".join(cmd.cookies)))
    if cmd.json:
        implied += [("Content-Type", "application/json"), ("Accept", "application/json")]
    elif body is not None:
        implied.append(("Content-Type", "application/x-www-form-urlencoded"))
    headers = list(cmd.headers)
    for name, value in implied:
        lower = name.lower()
        if lower not in given and lower not in cmd.removed:
            headers.append((name, value))
            given.add(lower)
    checked = tuple(check_header(name, value) for name, value in headers)  # -A, -e, -b, -u make headers too
    request = ProbeRequest(url=url, method=method, headers=checked, body=body)
    return ParsedInput(
        request=request,
        insecure=cmd.insecure,
        cacert=cmd.cacert,
        max_time=cmd.max_time,
        connect_timeout=cmd.connect_timeout,
        resolve=tuple(cmd.resolve),
        user=cmd.user,
        source=f"curl: {method} {shown_url(url)}",
        ignored=tuple(dict.fromkeys(cmd.ignored)),
    )
