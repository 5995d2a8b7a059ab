"""Who the super admins are, as the permissions service says, cached until it says otherwise.

Every new ticket needs the list of super admins; asking the permissions service twice
per ticket would double the cost of a create under load. The answer is kept until the
permissions service announces a change to users or teams (or the broker link
reconnects), and for at most a minute.
"""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from services.chassis.cache import EventFlushedCache
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink, ServiceClient
from services.permissions import contract as permissions_contract

MAX_AGE = 60.0


class AdminDirectory(DependencyProvider):
    """Dependency answering ``super_admins(permissions) -> (ids, user_count)``."""

    link = BrokerLink()

    def setup(self) -> None:
        self.cache = EventFlushedCache(MAX_AGE, max_entries=1)
        self.cache.attach(
            self.link,
            event_exchange(permissions_contract.SERVICE_NAME).name,
            permissions_contract.IDENTITY_EVENTS,
        )

    def get_dependency(self, worker_ctx: Any) -> AdminDirectory:
        return self

    def super_admins(self, permissions: ServiceClient) -> tuple[list[int], int]:
        """The super admins' ids and the number of users, asking ``permissions`` on a miss."""
        cached = self.cache.get("admins")
        if cached is not None:
            return cached
        generation = self.cache.generation
        answer = (list(permissions.super_admin_ids()), int(permissions.user_count()))
        self.cache.put("admins", answer, generation)
        return answer
