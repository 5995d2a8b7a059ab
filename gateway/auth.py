"""Bearer-token and session authentication with a cache that never outlives a permission change.

A token (or a browser session's secret, :mod:`gateway.sessions`) is exchanged once
with the permissions service for a signed identity, which is cached (keyed by the
token's SHA-256, never the token itself) until shortly before it expires. The cache
is emptied whenever the permissions service announces a change to users, teams,
tokens or sessions, and after every reconnection to the broker (events may have been
missed meanwhile), so a revoked token or session or a changed permission takes
effect within the time an event takes to arrive.
"""

from __future__ import annotations

import hashlib
from typing import Any

from nameko.extensions import DependencyProvider, SharedExtension

from gateway.sessions import SESSION_SCHEME
from services.chassis.cache import EventFlushedCache
from services.chassis.errors import Unauthenticated
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink
from services.permissions import contract as permissions_contract

AUTH_TIMEOUT = 3.0
EARLY_REFRESH = 30.0
MAX_AGE = 600.0
MAX_TOKEN_LENGTH = 512
"""Longer (or non-ASCII) bearer values are refused without asking the permissions service."""


class TokenCache(SharedExtension):
    """Token -> signed identity, shared by every route of the gateway."""

    link = BrokerLink()

    def __init__(self) -> None:
        super().__init__()
        self.cache = EventFlushedCache(MAX_AGE)

    def setup(self) -> None:
        self.cache.attach(
            self.link,
            event_exchange(permissions_contract.SERVICE_NAME).name,
            permissions_contract.IDENTITY_EVENTS,
        )

    def flush(self) -> None:
        self.cache.flush()

    def identity_for(self, authorization: str | None) -> str:
        """The signed identity for an ``Authorization: Bearer`` header, or for a session given as
        ``Session <secret>`` (the gateway's own spelling, see :func:`session_credential`), or
        Unauthenticated."""
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme == SESSION_SCHEME and secret:
            key = session_key(secret)
            return self.cached(key) or self.authenticate_session(secret, key)
        token = bearer(authorization)
        key = token_key(token)
        return self.cached(key) or self.authenticate(token, key)

    def cached(self, key: str) -> str | None:
        """The identity cached for the token whose :func:`token_key` is ``key``, if any."""
        cached = self.cache.get(key)
        return None if cached is None else str(cached)

    def authenticate(self, token: str, key: str) -> str:
        """Ask the permissions service for ``token``'s identity and cache it under ``key``."""
        generation = self.cache.generation
        permissions = self.link.client(permissions_contract.SERVICE_NAME, timeout=AUTH_TIMEOUT)
        answer: dict[str, Any] = permissions.authenticate(token)
        identity = str(answer["identity"])
        self.cache.put(key, identity, generation, max_age=float(answer["ttl"]) - EARLY_REFRESH)
        return identity

    def authenticate_session(self, session: str, key: str) -> str:
        """Ask the permissions service for a session's identity and cache it under ``key``."""
        generation = self.cache.generation
        permissions = self.link.client(permissions_contract.SERVICE_NAME, timeout=AUTH_TIMEOUT)
        answer: dict[str, Any] = permissions.authenticate_session(session)
        identity = str(answer["identity"])
        self.cache.put(key, identity, generation, max_age=float(answer["ttl"]) - EARLY_REFRESH)
        return identity


class Credentials(DependencyProvider):
    """Gives a route the gateway's :class:`TokenCache`, for routes that end a credential: after the
    permissions service has ended it, :meth:`TokenCache.flush` makes this instance refuse it on the
    very next request, instead of when the identity event that flushes every instance arrives."""

    tokens = TokenCache()

    def get_dependency(self, worker_ctx: Any) -> TokenCache:
        return self.tokens


def session_credential(session: str) -> str:
    """A session as one credential string, for code that keeps a credential to re-check it later."""
    return f"{SESSION_SCHEME} {session}"


def session_key(session: str) -> str:
    """What the gateway keeps of a session secret (cache and rate-limit keys); never equal to a
    :func:`token_key`, so a session's identity cannot be had by presenting its secret as a token."""
    return "s:" + hashlib.sha256(session.encode("utf-8", "surrogateescape")).hexdigest()


def token_key(token: str) -> str:
    """What the gateway keeps of a token (cache and rate-limit keys): its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or Unauthenticated."""
    if not authorization:
        raise Unauthenticated("An Authorization: Bearer token is required.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    if len(token) > MAX_TOKEN_LENGTH or not (token.isascii() and token.isprintable()):
        raise Unauthenticated("The API token is not valid.")
    return token
