"""Bearer tokens that refresh themselves: before sending when they expire within a skew, and once after
the upstream says ``auth_expired``. Refreshes are single-flight: concurrent requests share one refresh.

Single-flight is keyed by the token a failed request *carried*: twenty requests rejected with the same old
token cause one refresh, even when some of them learn of their 401 after another already replaced it. The
skew is ``skew`` seconds, or a quarter of the token's lifetime when that is shorter: a token that lives
30 s is refreshed with 7.5 s left, not on every call because it always lies within a 60 s skew.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import jwt

from upstreamkit.clock import get_clock

__all__ = ["ClientCredentials", "Token", "TokenAuth"]


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and, when known, when it expires (wall-clock epoch seconds)."""

    value: str
    expires_at: float | None = None

    def __repr__(self) -> str:
        from upstreamkit.core.redact import fingerprint  # noqa: PLC0415 - keep the import graph of auth small

        return f"Token({fingerprint(self.value)}, expires_at={self.expires_at!r})"

    @classmethod
    def from_value(cls, value: str, *, expires_in: float | None = None, now: float | None = None) -> Token:
        """A token whose expiry is ``now + expires_in``, else a JWT's ``exp`` claim (read, not verified)."""
        if expires_in is not None:
            return cls(value, (now if now is not None else get_clock().time()) + float(expires_in))
        try:
            claims = jwt.decode(value, options={"verify_signature": False})
        except jwt.PyJWTError:
            return cls(value)
        exp = claims.get("exp")
        return cls(value, float(exp) if isinstance(exp, int | float) else None)


FetchResult = Token | str
Fetch = Callable[[], FetchResult]
AsyncFetch = Callable[[], Awaitable[FetchResult]]


def _as_token(result: FetchResult) -> Token:
    return result if isinstance(result, Token) else Token.from_value(result)


class TokenAuth:
    """Keeps a bearer token fresh for the resilient transports.

    ``fetch`` gets a new token (a :class:`Token`, or a string whose JWT ``exp`` is read); ``afetch`` is its
    async twin (without it, the async transport runs ``fetch`` in a thread). ``skew`` seconds before expiry
    (at most ``SKEW_FRACTION`` of the token's lifetime) the token counts as expired, so it is refreshed
    before the upstream rejects it.
    """

    SKEW_FRACTION = 0.25
    """The largest share of a token's lifetime the skew may take (for short-lived tokens)."""

    def __init__(
        self,
        fetch: Fetch | None = None,
        *,
        afetch: AsyncFetch | None = None,
        skew: float = 60.0,
        header: str = "Authorization",
        scheme: str = "Bearer",
    ) -> None:
        if fetch is None and afetch is None:
            raise ValueError("TokenAuth needs fetch (sync) or afetch (async) to get tokens")
        self._fetch = fetch
        self._afetch = afetch
        self.skew = skew
        self.header = header
        self.scheme = scheme
        self._token: Token | None = None
        self._lifetime: float | None = None  # of the current token, from its fetch to its expiry
        self._lock = threading.Lock()
        self._alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self.refreshes = 0
        """How many times a token was fetched (single-flight: concurrent callers share one)."""

    @classmethod
    def client_credentials(
        cls, token_url: str, client_id: str, client_secret: str, *, scope: str | None = None, skew: float = 60.0
    ) -> TokenAuth:
        """An OAuth 2.0 client-credentials grant (RFC 6749 section 4.4) against ``token_url``."""
        grant = ClientCredentials(token_url, client_id, client_secret, scope=scope)
        return cls(grant.fetch, afetch=grant.afetch, skew=skew)

    def current(self) -> Token | None:
        """The token in use, if any."""
        return self._token

    def expiring(self, token: Token, now: float) -> bool:
        """True when ``token`` expires within the skew of wall-clock ``now``."""
        if token.expires_at is None:
            return False
        skew = self.skew
        lifetime = self._lifetime if token is self._token else None
        if lifetime is not None:
            skew = min(skew, lifetime * self.SKEW_FRACTION)
        return token.expires_at - skew <= now

    def _store(self, result: FetchResult) -> Token:
        token = _as_token(result)
        now = get_clock().time()
        self._lifetime = token.expires_at - now if token.expires_at is not None and token.expires_at > now else None
        self._token = token
        self.refreshes += 1
        return token

    def apply(self, request: httpx.Request, token: Token) -> None:
        """Put the token on the request."""
        request.headers[self.header] = f"{self.scheme} {token.value}" if self.scheme else token.value

    def _fresh(self, stale: Token | None) -> Token | None:
        token = self._token
        if token is not None and token != stale and not self.expiring(token, get_clock().time()):
            return token  # someone refreshed while we waited for the lock
        return None

    def refresh(self, stale: Token | None) -> Token:
        """A new token, unless another caller already replaced ``stale``; one fetch at a time."""
        with self._lock:
            fresh = self._fresh(stale)
            if fresh is not None:
                return fresh
            if self._fetch is None:
                raise RuntimeError("this TokenAuth has only an async fetch; use it with AsyncResilientTransport")
            return self._store(self._fetch())

    async def arefresh(self, stale: Token | None) -> Token:
        """Async :meth:`refresh`: concurrent tasks on one loop share one fetch."""
        loop = asyncio.get_running_loop()
        lock = self._alocks.get(loop)
        if lock is None:
            lock = self._alocks[loop] = asyncio.Lock()
        async with lock:
            fresh = self._fresh(stale)
            if fresh is not None:
                return fresh
            if self._afetch is not None:
                result = await self._afetch()
            else:
                assert self._fetch is not None  # noqa: S101 - the constructor requires one of the two
                result = await asyncio.to_thread(self._fetch)
            return self._store(result)


class ClientCredentials:
    """Fetches tokens with the OAuth 2.0 client-credentials grant, sync or async."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, scope: str | None = None) -> None:
        self.token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        if scope:
            self._form["scope"] = scope

    def _token(self, response: httpx.Response) -> Token:
        response.raise_for_status()
        data = response.json()
        value = data.get("access_token")
        if not isinstance(value, str):
            raise TypeError(f"the token endpoint {self.token_url} returned no access_token string")
        expires_in = data.get("expires_in")
        return Token.from_value(value, expires_in=float(expires_in) if isinstance(expires_in, int | float) else None)

    def fetch(self) -> Token:
        """Get a token (blocking)."""
        with httpx.Client(timeout=10.0) as client:
            return self._token(client.post(self.token_url, data=self._form))

    async def afetch(self) -> Token:
        """Get a token (async)."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            return self._token(await client.post(self.token_url, data=self._form))
