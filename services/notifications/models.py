"""Tables of the notifications service."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from services.chassis.db import ids_never_reused
from services.chassis.events import define_inbox
from services.chassis.outbox import Outbox
from services.notifications import contract

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
    # a notification: shown in the feed (in_app) or not, one per person per event or bulk change
    Column("in_app", Boolean, nullable=False, default=True, server_default=true()),
    Column("title", String(300), nullable=False, default="", server_default=""),
    Column("actor_id", Integer, nullable=True),
    Column("ticket_ids", Text, nullable=True),  # JSON list, for a notification about several tickets
    Column("count", Integer, nullable=False, default=1, server_default="1"),
    Column("group_key", String(100), nullable=True),  # shared by the events of one bulk change
    Column("updated_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("event_id", "user_id", name="uq_feed_event_user"),
    UniqueConstraint("user_id", "group_key", name="uq_feed_user_group"),
    Index("ix_feed_user", "user_id", "id"),
    Index("ix_feed_unread", "user_id", "read"),
)

feed_unread = Table(
    "feed_unread",
    metadata,
    # how many of the person's notifications are unread and shown in the feed, kept by every
    # transaction that changes one of them (``store.feed``), so reading it costs the same at any size
    Column("user_id", Integer, primary_key=True, autoincrement=False),
    Column("unread", Integer, nullable=False),
)

preferences = Table(
    "preferences",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("type", String(50), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("enabled", Boolean, nullable=False),
)

settings = Table(
    "notification_settings",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("email_digest", String(10), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

outgoing_mail = Table(
    "outgoing_mail",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", Integer, ForeignKey("feed_items.id", ondelete="SET NULL"), nullable=True),
    Column("user_id", Integer, nullable=False),
    Column("type", String(50), nullable=False),  # a notification type, or "digest"
    Column("mail_from", String(320), nullable=False),
    Column("recipients_json", Text, nullable=False),
    Column("to_name", String(200), nullable=False, default=""),
    Column("raw", LargeBinary, nullable=True),  # written when first claimed (a notification's mail)
    Column("state", String(10), nullable=False),  # queued, sent, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("ix_outgoing_due", "state", "next_attempt_at"),
    Index("ix_outgoing_notification", "notification_id"),
)

mail_counts = Table(
    "mail_counts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("type", String(50), nullable=False),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD, UTC
    Column("emails", Integer, nullable=False, default=0),
    Column("dropped", Integer, nullable=False, default=0),
    UniqueConstraint("user_id", "type", "day", name="uq_mail_counts"),
    Index("ix_mail_counts_day", "day"),
)

digest_queue = Table(
    "digest_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("notification_id", Integer, ForeignKey("feed_items.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Index("ix_digest_user", "user_id", "id"),
    Index("ix_digest_created", "created_at"),
)

merges = Table(
    "ticket_merges",
    metadata,
    # a merged-away ticket and the survivor it now leads to (the end of any chain of merges)
    Column("ticket_id", Integer, primary_key=True, autoincrement=False),
    Column("merged_into_id", Integer, nullable=False),
    Column("merged_at", DateTime(timezone=True), nullable=False),
    Index("ix_ticket_merges_into", "merged_into_id"),
)

outbox = Outbox(metadata, contract.EVENT_SCHEMAS)
processed_events = define_inbox(metadata)

ids_never_reused(metadata)
