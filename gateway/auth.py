"""Bearer-token authentication with a cache that never outlives a permission change.

A token is exchanged once with the permissions service for a signed identity,
which is cached (keyed by the token's SHA-256, never the token itself) until
shortly before it expires. The cache is emptied whenever the permissions service
announces a change to users, teams or tokens, and after every reconnection to the
broker (events may have been missed meanwhile), so a revoked token or a changed
permission takes effect within the time an event takes to arrive.
"""

from __future__ import annotations

import hashlib
from typing import Any

from nameko.extensions import SharedExtension

from services.chassis.cache import EventFlushedCache
from services.chassis.errors import Unauthenticated
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink
from services.permissions import contract as permissions_contract

AUTH_TIMEOUT = 3.0
EARLY_REFRESH = 30.0
MAX_AGE = 600.0


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
        """The signed identity for an ``Authorization: Bearer`` header, or Unauthenticated."""
        token = _bearer(authorization)
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            return str(cached)
        generation = self.cache.generation
        permissions = self.link.client(permissions_contract.SERVICE_NAME, timeout=AUTH_TIMEOUT)
        answer: dict[str, Any] = permissions.authenticate(token)
        identity = str(answer["identity"])
        self.cache.put(key, identity, generation, max_age=float(answer["ttl"]) - EARLY_REFRESH)
        return identity


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("An Authorization: Bearer token is required.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    return token.strip()
