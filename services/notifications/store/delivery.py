"""Delivering an event's notifications: everything one event causes, in one transaction.

For each :class:`~services.notifications.domain.Notice` the person's preferences decide: the
notification is stored (shown in the feed or not) and announced to live clients with the person's
unread count, and its email is counted against the day's cap and then queued (at once, after a
short wait for the rest of a bulk change, or for the hourly digest). The mail itself is written
by the sender when it first goes out (:meth:`~.mail.Mail.claim_due`), outside this transaction.
The event's processed mark commits with all of it, so a redelivered event, or one retried after
a crash, changes nothing twice and loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.events import mark_processed_many, processed_among
from services.notifications.contract import DIGEST_HOURLY
from services.notifications.domain import Notice, Preferences
from services.notifications.models import processed_events
from services.notifications.store.base import Records
from services.notifications.store.feed import ADDED, Feed
from services.notifications.store.mail import Mail, Outgoing
from services.notifications.store.preferences import PreferenceStore

ATTEMPTS = 3
"""Two deliveries racing to start one bulk change's notification: the loser retries at once."""


def runs(events: Sequence[tuple[str, Sequence[Notice]]]) -> list[list[tuple[str, Sequence[Notice]]]]:
    """``events`` in order, in runs stored together: consecutive events without a bulk change's
    notice share a run (their notifications are all new, one statement for them all); an event with
    one is a run of its own, so a later event of the same change finds the notification to grow."""
    found: list[list[tuple[str, Sequence[Notice]]]] = []
    joinable = False
    for event in events:
        plain = not any(n.group_key for n in event[1])
        if plain and joinable:
            found[-1].append(event)
        else:
            found.append([event])
        joinable = plain
    return found


@dataclass(frozen=True)
class Person:
    """Whom a notification is written to (from the permissions service)."""

    name: str
    email: str | None


class Delivery:
    """Everything one event causes (see the module docstring); each public method is one transaction."""

    def __init__(self, records: Records, *, feed: Feed, mail: Mail, preferences: PreferenceStore) -> None:
        self.r = records
        self.db = records.db
        self.feed = feed
        self.mail = mail
        self.preferences = preferences

    def deliver(
        self, *, event_id: str, handler: str, notices: Sequence[Notice], people: Mapping[int, Person]
    ) -> bool:
        """Store and queue the event's notifications with its processed mark; False for a redelivery."""
        return self.deliver_many(handler=handler, events=[(event_id, notices)], people=people) == 1

    def deliver_many(
        self,
        *,
        handler: str,
        events: Sequence[tuple[str, Sequence[Notice]]],
        people: Mapping[int, Person],
    ) -> int:
        """:meth:`deliver` for each ``(event_id, notices)`` of a batch, in one transaction with one
        announcement to live clients; answers how many events were new (a redelivered one, or one
        named twice, changes nothing). The events are stored in their order, so a bulk change's
        later event grows the notification its earlier one made."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._deliver(handler, events, people)
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
        return 0  # pragma: no cover - the loop returns or raises

    def _deliver(
        self, handler: str, events: Sequence[tuple[str, Sequence[Notice]]], people: Mapping[int, Person]
    ) -> int:
        with self.db.transaction() as s:
            seen = processed_among(s, processed_events, [event_id for event_id, _notices in events], handler)
            todo: dict[str, Sequence[Notice]] = {}
            for event_id, notices in events:
                if event_id not in seen and event_id not in todo:
                    todo[event_id] = notices
            everyone = {n.user_id for notices in todo.values() for n in notices}
            if len(todo) > 1:  # every person's row at once, in one order (one event's add_in does)
                self.feed.hold_in(s, everyone)
            chosen = self.preferences.of_in(s, sorted(everyone))
            shown: dict[int, tuple[Any, str]] = {}
            for run in runs(list(todo.items())):
                for row, change in self._store(s, run, chosen, people):
                    # a bulk change's notification made and grown in one batch is announced once,
                    # as it ends up, and as new if it is new to the clients
                    first = shown.get(row.id)
                    shown[row.id] = (row, first[1] if first is not None else change)
            mark_processed_many(s, processed_events, list(todo), handler, clock=self.r.clock)
            self.feed.announce_in(s, list(shown.values()))
            return len(todo)

    def _store(
        self,
        s: Session,
        events: Sequence[tuple[str, Sequence[Notice]]],
        chosen: Mapping[int, Preferences],
        people: Mapping[int, Person],
    ) -> list[tuple[Any, str]]:
        """A run of events' notifications and mails (see :func:`runs`); answers those to announce
        (shown in the feed)."""
        wanted = [
            (n, chosen[n.user_id], self._address(n, chosen[n.user_id], people), event_id)
            for event_id, notices in events
            for n in notices
        ]
        wanted = [
            (n, prefs, to, event_id)
            for n, prefs, to, event_id in wanted
            if prefs.in_app(n.type) or to is not None
        ]
        stored = self.feed.add_in(
            s, [(n, prefs.in_app(n.type), event_id) for n, prefs, _to, event_id in wanted]
        )
        mails = [
            (notice, row, to, prefs.email_digest == DIGEST_HOURLY)
            for (notice, prefs, to, _event_id), (row, change) in zip(wanted, stored, strict=True)
            if to is not None and change == ADDED
        ]
        self._mail(s, mails)
        return [(row, change) for row, change in stored if change is not None and row.in_app]

    @staticmethod
    def _address(notice: Notice, prefs: Preferences, people: Mapping[int, Person]) -> tuple[str, str] | None:
        """Name and address to email ``notice`` to, None when it is not to be emailed."""
        person = people.get(notice.user_id)
        if person is None or not person.email or not prefs.email(notice.type):
            return None
        return person.name, person.email

    def _mail(self, s: Session, mails: Sequence[tuple[Notice, Any, tuple[str, str], bool]]) -> None:
        """Count each new notification's email against the cap, then queue it or keep it for the
        digest. A bulk change's mail waits a moment for the rest of the change; like every
        notification mail it is written when it is sent, so it tells of all the change grew to."""
        admitted = self.mail.admit_in(s, [(notice.user_id, notice.type) for notice, *_rest in mails])
        queued: list[Outgoing] = []
        digested: list[tuple[int, int]] = []
        for (notice, row, to, digest), ok in zip(mails, admitted, strict=True):
            if not ok:
                continue
            if digest:
                digested.append((notice.user_id, row.id))
            else:
                delay = self.r.mail.batch_settle_seconds if notice.group_key else 0.0
                queued.append(Outgoing(notice.user_id, notice.type, row.id, to, delay=delay))
        self.mail.digest_in(s, digested)
        self.mail.enqueue_in(s, queued)
