"""OAuth2 client credentials and API keys for the simulated upstream, with real expiry.

``POST /oauth/token`` (RFC 6749 section 4.4) takes ``grant_type=client_credentials`` with the client's id and
secret in the form body or in HTTP Basic auth, and returns a JWT (HS256, signed with a per-simulator
secret) that lives ``token_lifetime`` seconds. Protected routes accept ``Authorization: Bearer <jwt>``,
``Authorization: Bearer <api key>`` or ``X-Api-Key: <api key>``.

Expiry is checked against the injected clock, not by PyJWT (which reads the real time), so a test moves
the clock past ``exp`` and gets the 401 a production client gets, without sleeping. Failures answer as
RFC 6750 section 3 says: ``WWW-Authenticate: Bearer error="invalid_token", error_description="..."``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl

import jwt

from upstreamkit.core.redact import fingerprint
from upstreamkit.simulator.scenario import AuthConfig

__all__ = ["AuthOutcome", "AuthResult", "TokenIssuer", "TokenResponse", "credential_of"]

EXPIRED_CHALLENGE = 'Bearer error="invalid_token", error_description="The access token expired"'
INVALID_CHALLENGE = 'Bearer error="invalid_token", error_description="The access token is invalid"'
MISSING_CHALLENGE = 'Bearer realm="upstreamkit-sim"'


class AuthOutcome(StrEnum):
    """What the credential check concluded."""

    OK = "ok"
    ANONYMOUS = "anonymous"
    MISSING = "missing"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome, the fingerprint of the presented credential, and the response to send when refused."""

    outcome: AuthOutcome
    key_fingerprint: str | None
    status: int = 200
    challenge: str | None = None
    body: bytes = b""

    @property
    def allowed(self) -> bool:
        """True when the request may go on."""
        return self.outcome in (AuthOutcome.OK, AuthOutcome.ANONYMOUS)


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """The token endpoint's answer: status and JSON body."""

    status: int
    body: bytes


def credential_of(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The credential a request presents and where: ``("bearer", token)``, ``("api_key", key)`` or Nones."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return "bearer", value.strip()
        return "other", authorization
    api_key = headers.get("x-api-key")
    if api_key:
        return "api_key", api_key
    return None, None


class TokenIssuer:
    """Issues and checks the simulator's tokens and keys; ``clock`` is wall-clock seconds (time.time)."""

    def __init__(self, config: AuthConfig, clock: Callable[[], float], *, secret: str | None = None) -> None:
        self.config = config
        self._clock = clock
        self._secret = secret or secrets.token_urlsafe(32)
        self._issued = 0

    @property
    def issued(self) -> int:
        """How many tokens the endpoint has issued."""
        return self._issued

    def issue(self, client_id: str, *, lifetime: float | None = None) -> str:
        """A JWT for ``client_id`` expiring ``lifetime`` (default: the configured lifetime) seconds from now."""
        now = self._clock()
        self._issued += 1
        claims = {
            "iss": "upstreamkit-simulator",
            "sub": client_id,
            "aud": "upstreamkit-sim-api",
            "iat": int(now),
            "exp": now + (self.config.token_lifetime if lifetime is None else lifetime),
            "jti": f"tok-{self._issued}",
            "scope": "api",
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def token_endpoint(self, headers: Mapping[str, str], body: bytes) -> TokenResponse:
        """Answer ``POST /oauth/token`` (client credentials grant)."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error(400, "invalid_request", "malformed Basic credentials")
            client_id, _, client_secret = decoded.partition(":")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
        expected = self.config.clients.get(client_id or "")
        if not client_id or expected is None or not secrets.compare_digest(expected, client_secret or ""):
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        token = self.issue(client_id)
        document = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.config.token_lifetime),
            "scope": "api",
        }
        return TokenResponse(200, json.dumps(document).encode())

    def check(self, headers: Mapping[str, str]) -> AuthResult:
        """Check the credential a request presents, per the configured mode."""
        where, credential = credential_of(headers)
        key_fingerprint = fingerprint(credential) if credential else None
        if self.config.mode == "none":
            return AuthResult(AuthOutcome.ANONYMOUS, key_fingerprint)
        if credential is None:
            if self.config.mode == "required":
                return _refuse(AuthOutcome.MISSING, None, MISSING_CHALLENGE, "missing credentials")
            return AuthResult(AuthOutcome.ANONYMOUS, None)
        if where == "bearer" and credential.count(".") == 2:
            return self._check_jwt(credential, key_fingerprint)
        if where in ("bearer", "api_key") and credential in self.config.api_keys:
            return AuthResult(AuthOutcome.OK, key_fingerprint)
        return _refuse(AuthOutcome.INVALID, key_fingerprint, INVALID_CHALLENGE, "invalid API key or token")

    def _check_jwt(self, token: str, key_fingerprint: str | None) -> AuthResult:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience="upstreamkit-sim-api",
                # Time is checked below against the injected clock; PyJWT would read the real one.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp"]},
            )
        except jwt.InvalidTokenError:
            return _refuse(AuthOutcome.INVALID, key_fingerprint, INVALID_CHALLENGE, "invalid access token")
        if float(claims["exp"]) <= self._clock():
            return _refuse(AuthOutcome.EXPIRED, key_fingerprint, EXPIRED_CHALLENGE, "access token expired")
        return AuthResult(AuthOutcome.OK, key_fingerprint)


def _refuse(outcome: AuthOutcome, key_fingerprint: str | None, challenge: str, message: str) -> AuthResult:
    body = json.dumps(
        {"error": "invalid_token" if outcome != AuthOutcome.MISSING else "unauthorized", "message": message}
    )
    return AuthResult(outcome, key_fingerprint, 401, challenge, body.encode())


def _oauth_error(status: int, error: str, description: str) -> TokenResponse:
    return TokenResponse(status, json.dumps({"error": error, "error_description": description}).encode())
