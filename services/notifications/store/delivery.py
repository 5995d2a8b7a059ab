"""Delivering an event's notifications: everything one event causes, in one transaction.

For each :class:`~services.notifications.domain.Notice` the person's preferences decide: the
notification is stored (shown in the feed or not) and announced to live clients, and its email is
counted against the day's cap and then queued (at once, after a short wait for the rest of a bulk
change, or for the hourly digest). The event's processed mark commits with all of it, so a
redelivered event, or one retried after a crash, changes nothing twice and loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.events import already_processed, mark_processed
from services.notifications.contract import DIGEST_HOURLY
from services.notifications.domain import Notice, Preferences, notification_mail, ticket_lines
from services.notifications.models import processed_events
from services.notifications.store.base import Records, ticket_ids_of
from services.notifications.store.feed import GROWN, Feed
from services.notifications.store.mail import Mail
from services.notifications.store.preferences import PreferenceStore

ATTEMPTS = 3
"""Two deliveries racing to start one bulk change's notification: the loser retries at once."""


@dataclass(frozen=True)
class Person:
    """Whom a notification is written to (from the permissions service)."""

    name: str
    email: str | None


class Delivery:
    def __init__(self, records: Records, *, feed: Feed, mail: Mail, preferences: PreferenceStore) -> None:
        self.r = records
        self.db = records.db
        self.feed = feed
        self.mail = mail
        self.preferences = preferences

    def seen(self, *, event_id: str, handler: str) -> bool:
        """Whether ``handler`` has already delivered the event (skip the lookups for a redelivery)."""
        with self.db.read() as s:
            return already_processed(s, processed_events, event_id, handler)

    def deliver(
        self, *, event_id: str, handler: str, notices: Sequence[Notice], people: Mapping[int, Person]
    ) -> bool:
        """Store and queue the event's notifications with its processed mark; False for a redelivery."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._deliver(event_id, handler, notices, people)
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
        return False  # pragma: no cover - the loop returns or raises

    def _deliver(
        self, event_id: str, handler: str, notices: Sequence[Notice], people: Mapping[int, Person]
    ) -> bool:
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, handler):
                return False
            chosen = self.preferences.of_in(s, [n.user_id for n in notices])
            for notice in notices:
                self._one(s, notice, chosen[notice.user_id], people.get(notice.user_id), event_id)
            mark_processed(s, processed_events, event_id, handler, clock=self.r.clock)
            return True

    def _one(
        self, s: Session, notice: Notice, chosen: Preferences, person: Person | None, event_id: str
    ) -> None:
        in_app = chosen.in_app(notice.type)
        email = chosen.email(notice.type) and person is not None and bool(person.email)
        if not (in_app or email):
            return
        row, change = self.feed.add_in(s, notice, event_id=event_id, in_app=in_app)
        if change is None:
            return
        if in_app:
            self.feed.announce_in(s, row, change=change)
        if not email or person is None or person.email is None:
            return
        digest = chosen.email_digest == DIGEST_HOURLY
        if change == GROWN:
            if not digest:
                self.mail.rewrite_queued_in(s, notification_id=row.id, raw=self._raw(row, person))
            return
        if not self.mail.admit_in(s, user_id=notice.user_id, kind=notice.type):
            return
        if digest:
            self.mail.digest_in(s, user_id=notice.user_id, notification_id=row.id)
            return
        delay = self.r.mail.batch_settle_seconds if notice.group_key else 0.0
        self.mail.enqueue_in(
            s,
            user_id=notice.user_id,
            kind=notice.type,
            notification_id=row.id,
            to=person.email,
            raw=self._raw(row, person),
            delay=delay,
        )

    def _raw(self, row: Any, person: Person) -> bytes:
        assert person.email is not None
        content = notification_mail(
            recipient=person.name,
            headline=row.title,
            tickets=ticket_lines(ticket_ids_of(row)),
            base_url=self.r.mail.base_url,
        )
        return self.mail.compose(content, to=(person.name, person.email))
