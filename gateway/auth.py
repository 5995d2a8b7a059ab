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
import time
from typing import Any

from nameko.extensions import SharedExtension

from services.chassis.errors import Unauthenticated
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink
from services.permissions import contract as permissions_contract

AUTH_TIMEOUT = 3.0
EARLY_REFRESH = 30.0
MAX_ENTRIES = 50_000


class TokenCache(SharedExtension):
    """Token -> signed identity, shared by every route of the gateway."""

    link = BrokerLink()

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[str, tuple[str, float]] = {}
        self.generation = 0

    def setup(self) -> None:
        self.link.subscribe_broadcast(
            event_exchange(permissions_contract.SERVICE_NAME).name,
            permissions_contract.IDENTITY_EVENTS,
            lambda _event_type, _body: self.flush(),
            on_connect=self.flush,
        )

    def flush(self) -> None:
        self._entries = {}
        self.generation += 1

    def identity_for(self, authorization: str | None) -> str:
        """The signed identity for an ``Authorization: Bearer`` header, or Unauthenticated."""
        token = _bearer(authorization)
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.time()
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now:
            return entry[0]
        generation = self.generation
        answer: dict[str, Any] = self.link.call(
            permissions_contract.SERVICE_NAME, "authenticate", (token,), {}, {}, now + AUTH_TIMEOUT
        )
        identity = str(answer["identity"])
        if generation == self.generation:  # no invalidation raced with this lookup
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {}
            self._entries[key] = (identity, now + float(answer["ttl"]) - EARLY_REFRESH)
        return identity


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("An Authorization: Bearer token is required.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    return token.strip()
