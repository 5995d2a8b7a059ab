"""The only module of the notifications service that talks to its database."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from sqlalchemy import func, select

from services.chassis.db import Database, SessionFactory
from services.chassis.errors import NotFound, ValidationFailed
from services.chassis.events import already_processed, mark_processed
from services.chassis.outbox import utcnow
from services.notifications.models import feed, processed_events


def _iso(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"f:{last_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "f":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(errors={"cursor": ["not a valid cursor"]}) from exc


class NotificationStore:
    def __init__(self, db: SessionFactory) -> None:
        self.db = db

    def add_feed_items(
        self, event_id: str, handler: str, kind: str, ticket_id: int | None, user_ids: list[int]
    ) -> bool:
        """Store one item per user with the processed mark; False if the event was seen before."""
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, handler):
                return False
            now = utcnow()
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
            mark_processed(s, processed_events, event_id, handler)
            return True

    def list_feed(self, user_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        with self.db.read() as s:
            query = select(feed).where(feed.c.user_id == user_id)
            if cursor:
                query = query.where(feed.c.id < decode_cursor(cursor))
            rows = s.execute(query.order_by(feed.c.id.desc()).limit(limit + 1)).all()
            total = s.scalar(select(func.count()).select_from(feed).where(feed.c.user_id == user_id)) or 0
        items = [
            {
                "id": r.id,
                "type": r.type,
                "ticket_id": r.ticket_id,
                "created_at": _iso(r.created_at),
                "read": r.read,
            }
            for r in rows[:limit]
        ]
        next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor, "total": int(total)}

    def mark_read(self, user_id: int, item_id: int) -> dict[str, Any]:
        with self.db.transaction() as s:
            row = s.execute(select(feed).where(feed.c.id == item_id, feed.c.user_id == user_id)).first()
            if row is None:
                raise NotFound(f"notification {item_id} does not exist")
            s.execute(feed.update().where(feed.c.id == item_id).values(read=True))
            return {
                "id": row.id,
                "type": row.type,
                "ticket_id": row.ticket_id,
                "created_at": _iso(row.created_at),
                "read": True,
            }


class Store(Database):
    def get_dependency(self, worker_ctx: Any) -> NotificationStore:  # type: ignore[override]
        return NotificationStore(super().get_dependency(worker_ctx))
