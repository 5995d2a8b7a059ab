"""Other people, as the access rule needs them: for telling them about a ticket, not for serving them.

The one access rule (:func:`~services.tickets.domain.scope_for`) works on a :class:`Caller`. When
another service asks on a recipient's behalf (``audience``), that recipient is not the caller:
:class:`AccessDirectory` fetches their identity fields from the permissions service
(``access_records``, as this service's system identity), keeps them until the permissions service
announces a change to users, teams or tokens (or the broker link reconnects, or a minute passes),
and hands back :class:`Caller` values to apply the same rule to. :class:`Identities` verifies
signed identities handed over as arguments (the gateway's live clients, ``visible_to``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nameko.extensions import DependencyProvider

from services.chassis.cache import EventFlushedCache, chunks
from services.chassis.errors import Unauthenticated
from services.chassis.identity import Caller, Verifier
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink, ServiceClient
from services.chassis.secrets import identity_secret
from services.permissions import contract as permissions_contract

MAX_AGE = 60.0
UNKNOWN = "unknown"
"""Cached for a user the permissions service does not know: they may see nothing."""


class AccessDirectory(DependencyProvider):
    """Dependency answering ``callers(permissions, user_ids) -> {user_id: Caller}`` (unknown users
    are left out)."""

    link = BrokerLink()

    def setup(self) -> None:
        self.cache = EventFlushedCache(MAX_AGE)
        self.cache.attach(
            self.link,
            event_exchange(permissions_contract.SERVICE_NAME).name,
            permissions_contract.IDENTITY_EVENTS,
        )

    def get_dependency(self, worker_ctx: Any) -> AccessDirectory:
        return self

    def callers(self, permissions: ServiceClient, user_ids: Iterable[int]) -> dict[int, Caller]:
        """The identity fields of each of ``user_ids``, asking ``permissions`` once for the missing ones
        (once per ``MAX_ACCESS_RECORDS`` of them: ``audiences`` can name more)."""
        found: dict[int, Caller] = {}
        missing: list[int] = []
        for user_id in sorted(set(user_ids)):
            cached = self.cache.get(user_id)
            if cached is None:
                missing.append(user_id)
            elif cached != UNKNOWN:
                found[user_id] = cached
        if not missing:
            return found
        generation = self.cache.generation
        answered = {
            int(record["user_id"]): Caller.from_wire(record["caller"])
            for chunk in chunks(missing, permissions_contract.MAX_ACCESS_RECORDS)
            for record in permissions.access_records(chunk)
        }
        for user_id in missing:
            self.cache.put(user_id, answered.get(user_id, UNKNOWN), generation)
        found.update(answered)
        return found


class Identities(DependencyProvider):
    """Dependency answering ``verify(assertion) -> Caller | None`` for signed identities given as data."""

    def setup(self) -> None:
        self.verifier = Verifier(identity_secret(self.container.config))

    def get_dependency(self, worker_ctx: Any) -> Identities:
        return self

    def verify(self, assertion: Any) -> Caller | None:
        try:
            return self.verifier.verify(assertion)
        except Unauthenticated:
            return None
