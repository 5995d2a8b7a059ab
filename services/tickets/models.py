"""Tables of the tickets service."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)

from services.chassis.events import define_inbox
from services.chassis.idempotency import define_idempotency
from services.chassis.outbox import Outbox
from services.tickets import contract

metadata = MetaData()

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(200), nullable=False),
    Column("position", Integer, nullable=False, default=0),
)

stages = Table(
    "stages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", Integer, ForeignKey("pipelines.id"), nullable=False, index=True),
    Column("label", String(200), nullable=False),
    Column("state", String(10), nullable=False),  # OPEN or CLOSED
    Column("position", Integer, nullable=False, default=0),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("pipeline_id", Integer, ForeignKey("pipelines.id"), nullable=False),
    Column("stage_id", Integer, ForeignKey("stages.id"), nullable=False),
    Column("priority", String(10), nullable=False),
    Column("priority_rank", Integer, nullable=False, default=1),  # low=0..urgent=3, for sorting
    Column("category", String(200), nullable=True),
    Column("owner_id", Integer, nullable=True),
    Column("team_id", Integer, nullable=True),
    Column("source", String(10), nullable=False),
    Column("created_by", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("unread_seq", Integer, nullable=False, default=1),  # bumped by a new customer message
    Column("merged_into_id", Integer, nullable=True),
    Column("first_reply_at", DateTime(timezone=True), nullable=True),
    Column("last_customer_message_at", DateTime(timezone=True), nullable=True),
    Column("last_agent_message_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # where an imported ticket came from (e.g. "hubspot" and its ticket id): one ticket per pair
    Column("external_source", String(50), nullable=True),
    Column("external_id", String(100), nullable=True),
    Index("ix_tickets_updated", "updated_at", "id"),
    Index("ix_tickets_owner_updated", "owner_id", "updated_at", "id"),
    Index("ix_tickets_stage_updated", "stage_id", "updated_at", "id"),
    Index("ix_tickets_pipeline_updated", "pipeline_id", "updated_at", "id"),
    Index("ix_tickets_created", "created_at", "id"),
    Index("ix_tickets_priority", "priority_rank", "id"),
    Index("ux_tickets_external", "external_source", "external_id", unique=True),
)

# the name sort is case-insensitive, so its index is on lower(name)
Index("ix_tickets_name_lower", func.lower(tickets.c.name), tickets.c.id)

# few tickets are ever merged away: a partial index stays small and its statistics useful
_MERGED = text("merged_into_id IS NOT NULL")
Index("ix_tickets_merged_into", tickets.c.merged_into_id, sqlite_where=_MERGED, postgresql_where=_MERGED)

# covers the board's column totals: only tickets that lists show, by pipeline, stage and owner
_LISTED = text("deleted_at IS NULL AND merged_into_id IS NULL")
Index(
    "ix_tickets_listed",
    tickets.c.pipeline_id,
    tickets.c.stage_id,
    tickets.c.owner_id,
    sqlite_where=_LISTED,
    postgresql_where=_LISTED,
)

associations = Table(
    "ticket_associations",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(20), primary_key=True),  # contacts, companies, deals
    Column("ref_id", Integer, primary_key=True),
    Column("added_by", Integer, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

followers = Table(
    "ticket_followers",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, primary_key=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

reads = Table(
    "ticket_reads",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, primary_key=True, index=True),
    Column("read_seq", Integer, nullable=False),  # read while tickets.unread_seq was this
)

timeline = Table(
    "ticket_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(50), nullable=False),
    Column("actor_id", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("field", String(50), nullable=True),
    Column("old", Text, nullable=True),  # JSON
    Column("new", Text, nullable=True),  # JSON
    Index("ix_timeline_ticket", "ticket_id", "id"),
)

idempotency = define_idempotency(metadata)

outbox = Outbox(metadata, contract.EVENT_SCHEMAS)
processed_events = define_inbox(metadata)
