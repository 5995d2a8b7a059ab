"""Who people are, as the permissions service says, cached until it says otherwise.

Every new ticket needs the list of super admins, and every notification by email its recipient's
name and address; asking the permissions service for each would double the cost of an event under
load. Answers are kept until the permissions service announces a change to users, teams or tokens
(or the broker link reconnects), and for at most a minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nameko.extensions import DependencyProvider

from services.chassis.cache import EventFlushedCache
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink, ServiceClient
from services.notifications.store import Person
from services.permissions import contract as permissions_contract

MAX_AGE = 60.0
ADMINS = ("admins",)
UNKNOWN = Person("", None)


class Directory(DependencyProvider):
    """Dependency answering ``super_admins(permissions)`` and ``people(permissions, user_ids)``."""

    link = BrokerLink()

    def setup(self) -> None:
        self.cache = EventFlushedCache(MAX_AGE)
        self.cache.attach(
            self.link,
            event_exchange(permissions_contract.SERVICE_NAME).name,
            permissions_contract.IDENTITY_EVENTS,
        )

    def get_dependency(self, worker_ctx: Any) -> Directory:
        return self

    def super_admins(self, permissions: ServiceClient) -> tuple[list[int], int]:
        """The super admins' ids and the number of users, asking ``permissions`` on a miss."""
        cached = self.cache.get(ADMINS)
        if cached is not None:
            return cached
        generation = self.cache.generation
        answer = (list(permissions.super_admin_ids()), int(permissions.user_count()))
        self.cache.put(ADMINS, answer, generation)
        return answer

    def people(self, permissions: ServiceClient, user_ids: Iterable[int]) -> dict[int, Person]:
        """Name and address of each of ``user_ids`` (unknown users left out), one call for the missing."""
        found: dict[int, Person] = {}
        missing = []
        for user_id in sorted(set(user_ids)):
            cached = self.cache.get(user_id)
            if cached is None:
                missing.append(user_id)
            elif cached is not UNKNOWN:
                found[user_id] = cached
        if missing:
            generation = self.cache.generation
            answered = {
                int(r["user_id"]): Person(str(r["name"]), str(r["email"]) or None)
                for r in permissions.access_records(missing)
            }
            for user_id in missing:
                self.cache.put(user_id, answered.get(user_id, UNKNOWN), generation)
            found.update(answered)
        return found
