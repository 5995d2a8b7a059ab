"""Who people are, as the permissions service says, cached but never older than the event.

Every new ticket needs the list of super admins, and every notification by email its recipient's
name and address; asking the permissions service for each would double the cost of an event under
load. Answers are kept until the permissions service announces a change to users, teams or tokens
(or the broker link reconnects), and for at most a minute.

That announcement travels on another queue than the ticket's event, so it may arrive after a
ticket created after the change: a cache flushed only by it would send that ticket to the old
admins and the new admin would never see it. So the admins' answer remembers when it was asked
for, and an event that happened after that (less a margin for clocks that disagree) is answered
by asking again: the recipients of a ticket are the super admins as of a moment no earlier than
the ticket's creation. Under load most events were created before the last answer was fetched
and are served from the cache; when events are rare, each one asks, which costs nothing then.
A person's name and address may lag by the announcement's delay: a mail then goes to the old
address, as it would have a moment earlier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from eventlet.event import Event
from marshmallow import EXCLUDE
from nameko.exceptions import MethodNotFound
from nameko.extensions import DependencyProvider

from services.chassis.cache import EventFlushedCache, chunks
from services.chassis.clock import SYSTEM_CLOCK, Clock, aware
from services.chassis.outbox import event_exchange
from services.chassis.rpc import BrokerLink, ServiceClient
from services.chassis.schema import load
from services.notifications.store import Person
from services.permissions import contract as permissions_contract

MAX_AGE = 60.0
MAX_PEOPLE = 10_000
"""People whose name and address are kept at once (the admins' answer is one more entry)."""
ADMINS = ("admins",)
UNKNOWN = Person("", None)
CLOCK_MARGIN = dt.timedelta(seconds=0.5)
"""How far the producer's clock (``occurred_at``) may run ahead of ours without harm."""


def moment(value: Any) -> dt.datetime | None:
    """An event's ``occurred_at`` as an aware datetime; None when it is not one."""
    if isinstance(value, dt.datetime):
        return aware(value)
    if isinstance(value, str):
        try:
            return aware(dt.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


class _Flight:
    """A question about the admins in flight: when it was asked, and its outcome once known."""

    def __init__(self, asked_at: dt.datetime) -> None:
        self.asked_at = asked_at
        self.done: Event = Event()

    def answer(self) -> tuple[list[int], int]:
        fresh, error = self.done.wait()
        if error is not None:
            raise error
        return fresh


def _admin_directory(permissions: ServiceClient) -> tuple[list[int], int]:
    """The super admins and the number of users in one call; two from a permissions service of an
    earlier release, which has no ``admin_directory`` (a rolling upgrade runs both)."""
    try:
        answer = load(
            permissions_contract.AdminDirectorySchema, permissions.admin_directory(), unknown=EXCLUDE
        )
    except MethodNotFound:
        return list(permissions.super_admin_ids()), int(permissions.user_count())
    return list(answer["super_admin_ids"]), int(answer["user_count"])


class Directory(DependencyProvider):
    """Dependency answering ``super_admins(permissions, as_of=...)`` and ``people(permissions, user_ids)``."""

    link = BrokerLink()

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._flight: _Flight | None = None

    def setup(self) -> None:
        self.cache = EventFlushedCache(MAX_AGE, max_entries=MAX_PEOPLE + 1)
        self.cache.attach(
            self.link,
            event_exchange(permissions_contract.SERVICE_NAME).name,
            permissions_contract.IDENTITY_EVENTS,
        )

    def get_dependency(self, worker_ctx: Any) -> Directory:
        return self

    def super_admins(self, permissions: ServiceClient, *, as_of: Any = None) -> tuple[list[int], int]:
        """The super admins' ids and the number of users, as the permissions service knew them at a
        moment no earlier than ``as_of`` (an event's ``occurred_at``; None or unreadable: now).

        Asks ``permissions`` unless the cached answer was asked for after ``as_of``. Handlers that
        must ask at once share one question (:meth:`_admins_asked_from`), so events that arrive
        while their producer is hardly ahead cost one question per round trip, not one each.
        """
        since = moment(as_of)
        cached = self.cache.get(ADMINS)
        if cached is not None and since is not None:
            answer, asked_at = cached
            if since + CLOCK_MARGIN <= asked_at:
                return answer
        return self._admins_asked_from(permissions, self.clock.now())

    def _admins_asked_from(
        self, permissions: ServiceClient, not_before: dt.datetime
    ) -> tuple[list[int], int]:
        """An answer the permissions service gave to a question asked at ``not_before`` or later:
        the one in flight if it was asked late enough, else the next one, which this caller asks
        once the one in flight (asked too early for it) has ended. A failed question fails every
        caller waiting for it."""
        while True:
            flight = self._flight
            if flight is None:
                return self._ask_admins(permissions)
            if flight.asked_at >= not_before:
                return flight.answer()
            flight.done.wait()

    def _ask_admins(self, permissions: ServiceClient) -> tuple[list[int], int]:
        flight = self._flight = _Flight(self.clock.now())
        try:
            generation = self.cache.generation
            fresh = _admin_directory(permissions)
            self.cache.put(ADMINS, (fresh, flight.asked_at), generation)
            flight.done.send((fresh, None))
            return fresh
        except Exception as exc:
            flight.done.send((None, exc))
            raise
        finally:
            self._flight = None

    def people(self, permissions: ServiceClient, user_ids: Iterable[int]) -> dict[int, Person]:
        """Name and address of each of ``user_ids`` (unknown users left out), one call for the
        missing (one per ``MAX_ACCESS_RECORDS`` of them: a batch of events can name more)."""
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
                for chunk in chunks(missing, permissions_contract.MAX_ACCESS_RECORDS)
                for r in permissions.access_records(chunk)
            }
            for user_id in missing:
                self.cache.put(user_id, answered.get(user_id, UNKNOWN), generation)
            found.update(answered)
        return found
