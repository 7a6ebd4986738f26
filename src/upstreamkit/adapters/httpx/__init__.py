"""httpx adapters: resilient sync and async transports, and self-refreshing bearer tokens."""

from upstreamkit.adapters.httpx._transport import AsyncResilientTransport, ResilientTransport
from upstreamkit.adapters.httpx.auth import ClientCredentials, Token, TokenAuth

__all__ = ["AsyncResilientTransport", "ClientCredentials", "ResilientTransport", "Token", "TokenAuth"]
