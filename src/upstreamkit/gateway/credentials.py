"""Credentials the gateway adds to the requests it sends an upstream, kept fresh.

Two kinds, per upstream:

- ``static``: a secret from an environment variable or a file, put into a header through a template
  (``Authorization: Bearer {secret}``). A file is re-read when its modification time changes (looked at most
  once a second) and whenever the upstream refuses the credential (a rotated secret is picked up at once).
- ``oauth2``: the OAuth 2.0 client-credentials grant. The token machinery is the client library's
  (:class:`~upstreamkit.adapters.httpx.auth.TokenAuth`): cached, refreshed ``skew`` seconds before expiry,
  single-flight (concurrent requests share one fetch, keyed by the token a refused request carried). The client
  secret is read from its env var or file at each fetch, so a rotated one is used on the next refresh.

The caller's own credential never reaches an upstream the gateway authenticates to (the proxy drops the
caller's ``Authorization`` and the injected header's name). A 401 to an injected credential makes the proxy
refresh it once and retry once (:meth:`Injector.refresh`); what still fails is the gateway's failure and is
answered with the envelope. Secrets appear nowhere but in the header sent upstream: the errors here name the
variable or the file, never the value, and ``repr()`` shows sources only.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from upstreamkit.adapters.httpx.auth import ClientCredentials, Token, TokenAuth
from upstreamkit.clock import Clock, get_clock
from upstreamkit.core.classify import classify_exception
from upstreamkit.errors import ErrorKind

__all__ = ["CredentialError", "CredentialSpec", "Injector", "SecretSource", "make_injector"]

_STAT_EVERY = 1.0
"""Seconds between looks at a static secret file's modification time."""


class CredentialError(Exception):
    """The gateway could not get its credential for an upstream; ``kind`` is the envelope's, ``str()`` is safe."""

    def __init__(self, kind: ErrorKind, detail: str, reason: str = "") -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.reason = reason or detail


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a secret comes from: an environment variable, a file, or (for what is not secret) a value."""

    env: str | None = None
    file: str | None = None
    value: str | None = None

    def describe(self) -> str:
        """Where it is read from (never what it is)."""
        if self.env is not None:
            return f"environment variable {self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return "the config"

    def missing(self) -> str | None:
        """Why it cannot be read now, as the key's suffix and the reason (``_env (environment variable X) is not
        set``: a shape the redaction of error lines leaves readable), or None."""
        try:
            self.read()
        except CredentialError as exc:
            if self.env is not None:
                return f"_env (environment variable {self.env}) is not set"
            return f"_file ({self.file}): {exc.reason}"
        return None

    def read(self) -> str:
        """The secret (stripped of surrounding whitespace); :class:`CredentialError` when it cannot be read."""
        if self.value is not None:
            return self.value
        if self.env is not None:
            text = os.environ.get(self.env)
            if not text or not text.strip():
                raise CredentialError(
                    ErrorKind.PROXY_CONFIGURATION_ERROR, f"environment variable {self.env} is not set"
                )
            return text.strip()
        assert self.file is not None  # noqa: S101 - one source is set (the config checks it)
        try:
            text = Path(self.file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            detail = f"cannot read {self.file}: {reason}"
            raise CredentialError(ErrorKind.PROXY_CONFIGURATION_ERROR, detail, f"cannot read it: {reason}") from None
        if not text:
            raise CredentialError(ErrorKind.PROXY_CONFIGURATION_ERROR, f"{self.file} is empty", "the file is empty")
        return text


@dataclass(frozen=True, slots=True)
class CredentialSpec:
    """One upstream's credential as configured (sources, never values)."""

    kind: Literal["static", "oauth2"]
    header: str
    template: str
    """The header's value with ``{secret}`` (static) or ``{token}`` (oauth2) in it."""
    secret: SecretSource
    """The static secret, or the OAuth2 client secret."""
    token_url: str | None = None
    client_id: SecretSource | None = None
    scope: str | None = None
    skew: float = 60.0

    def missing(self) -> str | None:
        """The first source that cannot be read now, as ``key: reason`` (for the config's error), or None."""
        prefix = "secret" if self.kind == "static" else "client_secret"
        problem = self.secret.missing()
        if problem is not None:
            return prefix + problem
        if self.client_id is not None:
            problem = self.client_id.missing()
            if problem is not None:
                return "client_id" + problem
        return None


class Injector:
    """Gives the header line to send upstream, and refreshes it when the upstream refuses it."""

    def __init__(self, spec: CredentialSpec, clock: Clock) -> None:
        """Ready for ``spec``; ``clock`` paces the look at a static secret file (nothing is read until used)."""
        self.spec = spec
        self.name = spec.header.lower().encode("ascii")
        self._clock = clock
        self._placeholder = "{secret}" if spec.kind == "static" else "{token}"
        self._static: str | None = None
        self._mtime: float | None = None
        self._next_stat = 0.0
        self._static_lock = asyncio.Lock()
        self._reads = 0
        self._rendered: tuple[str, bytes] | None = None
        """The last credential and its header line: the line is made once per credential, not per request."""
        self._auth: TokenAuth | None = None
        if spec.kind == "oauth2":
            self._auth = TokenAuth(afetch=self._fetch, skew=spec.skew, header=spec.header, scheme="")

    def __repr__(self) -> str:
        return f"Injector({self.spec.kind}, header={self.spec.header!r}, from {self.spec.secret.describe()})"

    @property
    def fetches(self) -> int:
        """Tokens fetched so far (oauth2), or times the static secret was read."""
        return self._auth.refreshes if self._auth is not None else self._reads

    async def line(self) -> tuple[bytes, str]:
        """``(b"name: value\\r\\n", credential)`` for the next request; the credential is the key to
        :meth:`refresh` when the upstream refuses it."""
        if self._auth is not None:
            token = self._auth.current()
            # Expiry is wall-clock time on upstreamkit's clock, as TokenAuth stores it.
            if token is None or self._auth.expiring(token, get_clock().time()):
                token = await self._refresh_token(token)
            secret = token.value
        else:
            secret = self._current_static()
        return self._render(secret), secret

    async def refresh(self, refused: str) -> None:
        """The upstream refused ``refused``: get a new one, unless another request already did."""
        if self._auth is not None:
            current = self._auth.current()
            await self._refresh_token(current if current is not None and current.value == refused else None)
            return
        async with self._static_lock:
            if self._static == refused:
                self._load_static()

    def _render(self, secret: str) -> bytes:
        rendered = self._rendered
        if rendered is not None and rendered[0] is secret:  # the same credential as the last request's
            return rendered[1]
        line = self._render_line(secret)
        self._rendered = (secret, line)
        return line

    def _render_line(self, secret: str) -> bytes:
        value = self.spec.template.replace(self._placeholder, secret)
        if "\r" in value or "\n" in value:
            raise CredentialError(ErrorKind.AUTH_INVALID, f"the credential from {self._where()} has a line break")
        return f"{self.spec.header}: {value}\r\n".encode("latin-1", "replace")

    def _where(self) -> str:
        return "the token endpoint" if self._auth is not None else self.spec.secret.describe()

    def _current_static(self) -> str:
        file = self.spec.secret.file
        if self._static is None:
            return self._load_static()
        if file is not None:
            now = self._clock.monotonic()
            if now >= self._next_stat:
                self._next_stat = now + _STAT_EVERY
                try:
                    mtime = Path(file).stat().st_mtime
                except OSError:
                    mtime = None
                if mtime != self._mtime:
                    return self._load_static()
        return self._static

    def _load_static(self) -> str:
        file = self.spec.secret.file
        if file is not None:
            try:
                self._mtime = Path(file).stat().st_mtime
            except OSError:
                self._mtime = None
        self._static = self.spec.secret.read()
        self._reads += 1
        return self._static

    async def _refresh_token(self, stale: Token | None) -> Token:
        assert self._auth is not None  # noqa: S101 - oauth2 only
        try:
            return await self._auth.arefresh(stale)
        except CredentialError:
            raise
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            kind = ErrorKind.HTTP_PROTOCOL_ERROR
            if status in (400, 401, 403):
                kind = ErrorKind.AUTH_INVALID
            elif status >= 500 or status == 429:
                kind = ErrorKind.DESTINATION_UNAVAILABLE
            detail = f"the token endpoint refused the gateway's client credentials (HTTP {status})"
            raise CredentialError(kind, detail) from None
        except (httpx.HTTPError, OSError) as exc:
            outcome = classify_exception(exc)
            kind = outcome.kind if outcome.kind is not None else ErrorKind.DESTINATION_UNAVAILABLE
            raise CredentialError(kind, f"the gateway could not get a token from its token endpoint ({kind})") from None
        except (ValueError, TypeError):
            raise CredentialError(
                ErrorKind.HTTP_PROTOCOL_ERROR, "the token endpoint answered without a token"
            ) from None

    async def _fetch(self) -> Token:
        spec = self.spec
        assert spec.token_url is not None  # noqa: S101 - oauth2's
        assert spec.client_id is not None  # noqa: S101 - oauth2's
        grant = ClientCredentials(spec.token_url, spec.client_id.read(), spec.secret.read(), scope=spec.scope)
        return await grant.afetch()


def make_injector(spec: CredentialSpec, clock: Clock) -> Injector:
    """An :class:`Injector` for ``spec``."""
    return Injector(spec, clock)
