"""The only module of the notifications service that talks to its database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.chassis.clock import SYSTEM_CLOCK, Clock, isoformat
from services.chassis.db import Database, SessionFactory
from services.chassis.errors import NotFound
from services.chassis.events import already_processed, mark_processed
from services.chassis.keyset import keyset_page
from services.chassis.paging import Sort
from services.notifications.models import feed, processed_events

NEWEST_FIRST = Sort("id", descending=True)


def item_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "ticket_id": row.ticket_id,
        "created_at": isoformat(row.created_at),
        "read": row.read,
    }


class NotificationStore:
    """Users' in-app feeds; each public method is one transaction."""

    def __init__(self, db: SessionFactory, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock

    def add_feed_items(
        self, *, event_id: str, handler: str, kind: str, ticket_id: int | None, user_ids: list[int]
    ) -> bool:
        """Store one item per user with the processed mark; False if the event was seen before."""
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, handler):
                return False
            now = self.clock.now()
            for user_id in user_ids:
                s.execute(
                    feed.insert().values(
                        user_id=user_id,
                        type=kind,
                        ticket_id=ticket_id,
                        event_id=event_id,
                        created_at=now,
                        read=False,
                    )
                )
            mark_processed(s, processed_events, event_id, handler, clock=self.clock)
            return True

    def retarget(self, *, event_id: str, handler: str, from_ticket_ids: list[int], to_ticket_id: int) -> bool:
        """Items about ``from_ticket_ids`` now name ``to_ticket_id``; False if the event was seen before."""
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, handler):
                return False
            s.execute(
                update(feed).where(feed.c.ticket_id.in_(from_ticket_ids)).values(ticket_id=to_ticket_id)
            )
            mark_processed(s, processed_events, event_id, handler, clock=self.clock)
            return True

    def forget_tickets(self, *, event_id: str, handler: str, ticket_ids: list[int]) -> bool:
        """Items about ``ticket_ids`` go; False if the event was seen before."""
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, handler):
                return False
            s.execute(delete(feed).where(feed.c.ticket_id.in_(ticket_ids)))
            mark_processed(s, processed_events, event_id, handler, clock=self.clock)
            return True

    def feed(self, *, user_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """The user's feed, newest first, a page at a time."""
        with self.db.read() as s:
            return keyset_page(
                s,
                select(feed).where(feed.c.user_id == user_id),
                key=feed.c.id,
                ident=feed.c.id,
                sort=NEWEST_FIRST,
                limit=limit,
                cursor=cursor,
                item=item_dict,
            )

    def mark_read(self, *, user_id: int, item_id: int) -> dict[str, Any]:
        with self.db.transaction() as s:
            row = self._item(s, user_id, item_id)
            s.execute(feed.update().where(feed.c.id == item_id).values(read=True))
            return {**item_dict(row), "read": True}

    def _item(self, s: Session, user_id: int, item_id: int) -> Any:
        row = s.execute(select(feed).where(feed.c.id == item_id, feed.c.user_id == user_id)).first()
        if row is None:
            raise NotFound(f"notification {item_id} does not exist")
        return row


class Store(Database):
    """Dependency giving workers a :class:`NotificationStore` (one per container, on the system clock)."""

    clock: Clock = SYSTEM_CLOCK

    def setup(self) -> None:
        super().setup()
        assert self.factory is not None
        self.store = NotificationStore(self.factory, clock=self.clock)

    def get_dependency(self, worker_ctx: Any) -> NotificationStore:  # type: ignore[override]
        return self.store
