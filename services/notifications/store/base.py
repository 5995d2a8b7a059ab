"""What every part of the notifications store shares: the session factory, the clock, the mail
settings, and the wire form of a notification."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.chassis.clock import Clock, isoformat
from services.chassis.db import SessionFactory
from services.notifications.contract import EMAIL_DAILY_CAP


@dataclass(frozen=True)
class MailSettings:
    """How notification mail is written: our address, the web workspace's address for links, the
    daily cap per type and person, how long a bulk change's mail waits for the rest of the bulk
    change, and how long digest mail waits."""

    from_address: str = "support@localhost"
    from_name: str = "Help desk"
    base_url: str = "http://127.0.0.1:8000"
    daily_cap: int = EMAIL_DAILY_CAP
    batch_settle_seconds: float = 5.0
    digest_seconds: float = 3600.0


class Records:
    """The session factory, the clock and the mail settings every part uses."""

    def __init__(self, db: SessionFactory, *, clock: Clock, mail: MailSettings) -> None:
        self.db = db
        self.clock = clock
        self.mail = mail


def upsert(s: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (both SQLite and PostgreSQL have it)."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


def ticket_ids_of(row: Any) -> list[int]:
    if row.ticket_ids:
        return list(json.loads(row.ticket_ids))
    return [row.ticket_id] if row.ticket_id is not None else []


def item_dict(row: Any) -> dict[str, Any]:
    """The wire form of a notification row (``contract.FeedItemSchema``)."""
    return {
        "id": row.id,
        "type": row.type,
        "ticket_id": row.ticket_id,
        "ticket_ids": ticket_ids_of(row),
        "count": row.count,
        "title": row.title,
        "actor_id": row.actor_id,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at or row.created_at),
        "read": row.read,
    }
