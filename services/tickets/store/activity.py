"""Per-user state of a ticket (follow, read) and its activity timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from services.chassis.events import already_processed, mark_processed
from services.chassis.outbox import record_event, utcnow
from services.tickets import contract
from services.tickets.domain import Scope, decode_id_cursor, encode_id_cursor
from services.tickets.models import followers, outbox, processed_events, reads, tickets, timeline
from services.tickets.store import queries
from services.tickets.store.base import StoreBase, from_json

CUSTOMER_MESSAGE_HANDLER = "customer_message_received"


class ActivityStore(StoreBase):
    """Followers, read marks, the customer-message hook and the timeline."""

    def follow(self, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        """Follow (idempotent); the first time records a timeline entry and ``ticket_followed``."""
        now = utcnow()
        with self.db.transaction() as s:
            self._visible_id(s, scope, ticket_id)
            values = {"ticket_id": ticket_id, "user_id": user_id, "created_at": now}
            if self._insert_new(s, followers, values, ["ticket_id", "user_id"]):
                self._follow_changed(s, ticket_id, user_id, contract.TICKET_FOLLOWED, "followed", now)
            return {"ticket_id": ticket_id, "following": True}

    def unfollow(self, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        """Stop following (idempotent); only an actual change is recorded."""
        with self.db.transaction() as s:
            self._visible_id(s, scope, ticket_id)
            gone = s.execute(
                delete(followers).where(followers.c.ticket_id == ticket_id, followers.c.user_id == user_id)
            )
            if gone.rowcount:  # type: ignore[attr-defined]
                self._follow_changed(
                    s, ticket_id, user_id, contract.TICKET_UNFOLLOWED, "unfollowed", utcnow()
                )
            return {"ticket_id": ticket_id, "following": False}

    def _follow_changed(
        self, s: Session, ticket_id: int, user_id: int, event: str, kind: str, now: dt.datetime
    ) -> None:
        s.execute(timeline.insert().values(ticket_id=ticket_id, type=kind, actor_id=user_id, at=now))
        record_event(s, outbox, event, {"ticket_id": ticket_id, "actor_id": user_id, "user_id": user_id})

    def followers(self, scope: Scope, ticket_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """The ticket's followers by user id, paginated."""
        after = decode_id_cursor(cursor) if cursor else None
        with self.db.read() as s:
            self._visible_id(s, scope, ticket_id)
            query = select(followers).where(followers.c.ticket_id == ticket_id)
            if after is not None:
                query = query.where(followers.c.user_id > after)
            rows = s.execute(query.order_by(followers.c.user_id).limit(limit + 1)).all()
            total = s.scalar(
                select(func.count()).select_from(followers).where(followers.c.ticket_id == ticket_id)
            )
        more, rows = len(rows) > limit, rows[:limit]
        return {
            "items": [{"user_id": r.user_id, "since": queries.iso(r.created_at)} for r in rows],
            "next_cursor": encode_id_cursor(rows[-1].user_id) if more else None,
            "total": total,
        }

    def mark_read(self, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        with self.db.transaction() as s:
            seq = self._visible_id(s, scope, ticket_id, tickets.c.unread_seq)
            self._set_read(s, ticket_id, user_id, seq)
        return {"ticket_id": ticket_id, "unread": False}

    def mark_unread(self, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        with self.db.transaction() as s:
            self._visible_id(s, scope, ticket_id)
            s.execute(delete(reads).where(reads.c.ticket_id == ticket_id, reads.c.user_id == user_id))
        return {"ticket_id": ticket_id, "unread": True}

    def customer_message_received(self, scope: Scope, ticket_id: int, event_id: str | None = None) -> bool:
        """A new customer message: the ticket becomes unread for everyone and moves up the lists.

        Ready to back an event subscription: with ``event_id`` the effect is recorded as
        processed in the same transaction, and a redelivery changes nothing (returns False).
        """
        with self.db.transaction() as s:
            if event_id and already_processed(s, processed_events, event_id, CUSTOMER_MESSAGE_HANDLER):
                return False
            self._visible_id(s, scope, ticket_id)
            s.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(unread_seq=tickets.c.unread_seq + 1, updated_at=utcnow())
            )
            if event_id:
                mark_processed(s, processed_events, event_id, CUSTOMER_MESSAGE_HANDLER)
            return True

    def timeline(self, scope: Scope, ticket_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """The ticket's activity, newest first, paginated."""
        before = decode_id_cursor(cursor) if cursor else None
        with self.db.read() as s:
            self._visible_id(s, scope, ticket_id)
            query = select(timeline).where(timeline.c.ticket_id == ticket_id)
            if before is not None:
                query = query.where(timeline.c.id < before)
            rows = s.execute(query.order_by(timeline.c.id.desc()).limit(limit + 1)).all()
            total = s.scalar(
                select(func.count()).select_from(timeline).where(timeline.c.ticket_id == ticket_id)
            )
        more, rows = len(rows) > limit, rows[:limit]
        items = [
            {
                "id": r.id,
                "type": r.type,
                "actor_id": r.actor_id,
                "at": queries.iso(r.at),
                "field": r.field,
                "old": from_json(r.old),
                "new": from_json(r.new),
            }
            for r in rows
        ]
        return {
            "items": items,
            "next_cursor": encode_id_cursor(rows[-1].id) if more else None,
            "total": total,
        }
