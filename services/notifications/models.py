"""Tables of the notifications service."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, UniqueConstraint

from services.chassis.events import define_inbox
from services.chassis.outbox import Outbox

metadata = MetaData()

feed = Table(
    "feed_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("type", String(50), nullable=False),
    Column("ticket_id", Integer, nullable=True),
    Column("event_id", String(36), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read", Boolean, nullable=False, default=False),
    UniqueConstraint("event_id", "user_id", name="uq_feed_event_user"),
    Index("ix_feed_user", "user_id", "id"),
)

outbox = Outbox(metadata, {})  # publishes no events yet
processed_events = define_inbox(metadata)
