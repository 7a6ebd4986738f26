"""What each curl option does to the request being rebuilt (the tables :mod:`.curl` walks the arguments with).

The meaning of every option follows curl 8's manual; the lists of accepted, ignored and refused options are
documented in :mod:`upstreamkit.diagnose.inputs.curl`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from upstreamkit.diagnose.inputs.base import InputError, check_method, parse_decimal, read_limited
from upstreamkit.diagnose.probes._net import parse_resolve

__all__ = [
    "FLAGS",
    "HANDLERS",
    "IGNORED_FLAGS",
    "IGNORED_WITH_VALUE",
    "SHELL_OPERATORS",
    "SHORT",
    "UNSUPPORTED",
    "Command",
]

SHORT = {
    "X": "--request", "H": "--header", "d": "--data", "u": "--user", "b": "--cookie", "A": "--user-agent",
    "e": "--referer", "m": "--max-time", "k": "--insecure", "G": "--get", "I": "--head", "s": "--silent",
    "S": "--show-error", "v": "--verbose", "i": "--include", "L": "--location", "f": "--fail", "g": "--globoff",
    "N": "--no-buffer", "#": "--progress-bar", "o": "--output", "w": "--write-out", "c": "--cookie-jar",
    "D": "--dump-header",
}  # fmt: skip
IGNORED_FLAGS = frozenset(
    {
        "--compressed", "--silent", "--show-error", "--verbose", "--include", "--location", "--location-trusted",
        "--fail", "--fail-with-body", "--globoff", "--no-buffer", "--progress-bar", "--no-progress-meter",
        "--http1.1", "--http2", "--tr-encoding",
    }
)  # fmt: skip
IGNORED_WITH_VALUE = frozenset(
    {
        "--output", "--write-out", "--cookie-jar", "--dump-header", "--max-redirs", "--retry", "--retry-delay",
        "--retry-max-time", "--trace", "--trace-ascii", "--stderr", "--output-dir",
    }
)  # fmt: skip
UNSUPPORTED = {
    "-F": "multipart forms are not supported: send the body with --data-binary @file and its Content-Type",
    "--form": "multipart forms are not supported: send the body with --data-binary @file and its Content-Type",
    "-x": "set HTTPS_PROXY/HTTP_PROXY instead: the proxies phase reads them",
    "--proxy": "set HTTPS_PROXY/HTTP_PROXY instead: the proxies phase reads them",
    "-T": "uploads are not supported: send the body with --data-binary @file",
    "--upload-file": "uploads are not supported: send the body with --data-binary @file",
    "-E": "client certificates are not supported",
    "--cert": "client certificates are not supported",
    "--key": "client certificates are not supported",
    "-K": "config files are not read: paste the command line itself",
    "--config": "config files are not read: paste the command line itself",
    "-n": ".netrc is not read: pass the credentials with -u or -H",
    "--netrc": ".netrc is not read: pass the credentials with -u or -H",
    "--digest": "Digest authentication is not supported",
    "--ntlm": "NTLM authentication is not supported",
    "--negotiate": "Negotiate authentication is not supported",
    "--aws-sigv4": "AWS SigV4 signing is not supported: paste the signed request's headers instead",
    "-4": "address families are not forced: the tcp phase tries every address",
    "-6": "address families are not forced: the tcp phase tries every address",
    "--unix-socket": "unix sockets are not supported",
}
SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "&", "2>&1"})


@dataclass(slots=True)
class Command:
    """What the options said so far."""

    base_dir: Path
    urls: list[str] = field(default_factory=list)
    method: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    implied: list[tuple[str, str]] = field(default_factory=list)
    data: list[tuple[bytes, bytes]] = field(default_factory=list)
    """(separator, piece): ``&`` for the -d family, nothing between --json pieces."""
    json: bool = False
    get: bool = False
    head: bool = False
    insecure: bool = False
    cacert: str | None = None
    max_time: float | None = None
    connect_timeout: float | None = None
    resolve: list[tuple[str, int, str]] = field(default_factory=list)
    user: str | None = None
    cookies: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def read(self, name: str, what: str) -> bytes:
        """The bytes of file ``name`` (relative to ``base_dir``), at most
        :data:`~upstreamkit.diagnose.inputs.base.MAX_INPUT_BYTES`; InputError when it cannot be read."""
        if name == "-":
            raise InputError(f"{what} @- reads standard input, which diagnose does not: save it to a file")
        if "\x00" in name:
            raise InputError(f"{what} file name {name[:80]!r} holds a NUL character")
        return read_limited(self.base_dir / name, f"{what} file", shown=name)


# --- option handlers -------------------------------------------------------------------------------------


def _header(cmd: Command, value: str) -> None:
    if value.startswith("@"):
        text = cmd.read(value[1:], "header").decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                _header(cmd, line.strip())
        return
    name, colon, rest = value.partition(":")
    if not colon:
        if value.endswith(";") and value[:-1].strip():
            cmd.headers.append((value[:-1].strip(), ""))  # curl's way of sending an empty header
            return
        raise InputError(f"header {value!r} is not of the form 'Name: value'")
    name = name.strip()
    if not name or any(c in name for c in " \t"):
        raise InputError(f"header {value!r} is not of the form 'Name: value'")
    if not rest.strip():
        cmd.removed.add(name.lower())  # "-H 'Accept:'" tells curl not to send the header at all
        cmd.headers = [(k, v) for k, v in cmd.headers if k.lower() != name.lower()]
        return
    cmd.headers.append((name, rest.strip()))


def _data(separator: bytes, kind: str) -> Callable[[Command, str], None]:
    def handler(cmd: Command, value: str) -> None:
        if kind == "raw" or not value.startswith("@"):
            piece = value.encode()
        elif kind == "ascii":
            piece = cmd.read(value[1:], "data").replace(b"\r", b"").replace(b"\n", b"")
        else:
            piece = cmd.read(value[1:], "data")
        cmd.data.append((separator, piece))
        if kind == "json":
            cmd.json = True

    return handler


def _data_urlencode(cmd: Command, value: str) -> None:
    name, content = "", value
    at = value.find("@")
    eq = value.find("=")
    if at != -1 and (eq == -1 or at < eq):
        name = value[:at]
        content = cmd.read(value[at + 1 :], "data").decode("utf-8", "replace")
    elif eq != -1:
        name, content = value[:eq], value[eq + 1 :]
    encoded = quote(content, safe="")  # curl_easy_escape: everything but ALPHA DIGIT -._~
    cmd.data.append((b"&", f"{name}={encoded}".encode() if name else encoded.encode()))


def _user(cmd: Command, value: str) -> None:
    user, colon, _password = value.partition(":")
    if not colon:
        raise InputError("-u/--user gives no password (curl would prompt for one): write -u user:password")
    cmd.user = user
    token = base64.b64encode(value.encode()).decode()
    cmd.implied.append(("Authorization", f"Basic {token}"))


def _cookie(cmd: Command, value: str) -> None:
    if "=" not in value:
        raise InputError(f"-b/--cookie {value!r} names a cookie file, which is not read: give 'name=value; ...'")
    cmd.cookies.append(value.strip().rstrip(";"))


def _seconds(option: str) -> Callable[[Command, str], float]:
    def parse(_cmd: Command, value: str) -> float:
        try:
            seconds = parse_decimal(value)
        except ValueError:
            raise InputError(f"{option} wants seconds, got {value[:80]!r}") from None
        if not seconds > 0:
            raise InputError(f"{option} wants a positive number of seconds, got {value!r}")
        return seconds

    return parse


def _max_time(cmd: Command, value: str) -> None:
    cmd.max_time = _seconds("-m/--max-time")(cmd, value)


def _connect_timeout(cmd: Command, value: str) -> None:
    cmd.connect_timeout = _seconds("--connect-timeout")(cmd, value)


def _resolve(cmd: Command, value: str) -> None:
    try:
        cmd.resolve.extend(parse_resolve(value))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _set(attribute: str, flag_value: object) -> Callable[[Command], None]:
    def handler(cmd: Command) -> None:
        setattr(cmd, attribute, flag_value)

    return handler


def _set_value(attribute: str) -> Callable[[Command, str], None]:
    def handler(cmd: Command, value: str) -> None:
        setattr(cmd, attribute, value)

    return handler


def _implied(header: str) -> Callable[[Command, str], None]:
    def handler(cmd: Command, value: str) -> None:
        cmd.implied.append((header, value))

    return handler


def _url(cmd: Command, value: str) -> None:
    cmd.urls.append(value)


def _bearer(cmd: Command, value: str) -> None:
    cmd.implied.append(("Authorization", f"Bearer {value}"))


HANDLERS: dict[str, Callable[[Command, str], None]] = {
    "--url": _url,
    "--request": lambda cmd, value: setattr(cmd, "method", check_method(value.upper())),
    "--header": _header,
    "--data": _data(b"&", "ascii"),
    "--data-ascii": _data(b"&", "ascii"),
    "--data-binary": _data(b"&", "binary"),
    "--data-raw": _data(b"&", "raw"),
    "--data-urlencode": _data_urlencode,
    "--json": _data(b"", "json"),
    "--user": _user,
    "--oauth2-bearer": _bearer,
    "--cookie": _cookie,
    "--user-agent": _implied("User-Agent"),
    "--referer": lambda cmd, value: cmd.implied.append(("Referer", value.removesuffix(";auto"))),
    "--cacert": _set_value("cacert"),
    "--max-time": _max_time,
    "--connect-timeout": _connect_timeout,
    "--resolve": _resolve,
}
FLAGS: dict[str, Callable[[Command], None]] = {
    "--insecure": _set("insecure", flag_value=True),
    "--get": _set("get", flag_value=True),
    "--head": _set("head", flag_value=True),
}
