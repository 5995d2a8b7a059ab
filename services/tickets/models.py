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
    # SLA clocks (domain/sla.py): the facts as JSON, and the summary lists sort, filter and alarm on
    Column("sla_policy_id", Integer, nullable=True),
    Column("sla_data", Text, nullable=True),
    Column("sla_phase", String(10), nullable=True),  # running, paused, met; None: no policy
    # without a running clock: 9999-12-31 (domain.sla.FOREVER; the migration's server default), so
    # the sort key is never NULL and keyset pages stay exact
    Column("sla_next_due_at", DateTime(timezone=True), nullable=False),
    Column("sla_soon_at", DateTime(timezone=True), nullable=True),
    Column("sla_alarm_at", DateTime(timezone=True), nullable=True),
    Column("sla_breached_at", DateTime(timezone=True), nullable=True),
    Index("ix_tickets_updated", "updated_at", "id"),
    Index("ix_tickets_owner_updated", "owner_id", "updated_at", "id"),
    Index("ix_tickets_stage_updated", "stage_id", "updated_at", "id"),
    Index("ix_tickets_pipeline_updated", "pipeline_id", "updated_at", "id"),
    Index("ix_tickets_created", "created_at", "id"),
    Index("ix_tickets_priority", "priority_rank", "id"),
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

# the next breach of all open tickets, found by index (few rows have an alarm at any time)
_ALARMED = text("sla_alarm_at IS NOT NULL")
Index("ix_tickets_sla_alarm", tickets.c.sla_alarm_at, sqlite_where=_ALARMED, postgresql_where=_ALARMED)
Index("ix_tickets_sla_due", tickets.c.sla_next_due_at, tickets.c.id)

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

sla_policies = Table(
    "sla_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("priority", String(10), nullable=True),
    Column("pipeline_id", Integer, nullable=True),
    Column("first_reply_minutes", Integer, nullable=True),
    Column("next_reply_minutes", Integer, nullable=True),
    Column("close_minutes", Integer, nullable=True),
    Column("business_hours", Text, nullable=True),  # JSON; None: 24/7
    Column("pause_stage_ids", Text, nullable=False, default="[]"),  # JSON
    Column("due_soon_minutes", Integer, nullable=False, default=60),
    Column("version", Integer, nullable=False, default=1),
    Column("created_by", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

sla_recompute = Table(
    "sla_recompute",
    metadata,
    Column("id", Integer, primary_key=True),  # one row: the pending recompute of open tickets
    Column("generation", Integer, nullable=False, default=0),
    Column("next_ticket_id", Integer, nullable=True),  # None: nothing left to recompute
)

views = Table(
    "views",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("filters", Text, nullable=False, default="{}"),  # JSON: the list's query parameters
    Column("sort", String(50), nullable=False),
    Column("columns", Text, nullable=False, default="[]"),  # JSON list
    Column("shared_with", String(10), nullable=False),  # private, team, everyone
    Column("team_id", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_views_owner", "owner_id", "id"),
    Index("ix_views_team", "team_id", "id"),
)

idempotency = define_idempotency(metadata)

outbox = Outbox(metadata, contract.EVENT_SCHEMAS)
processed_events = define_inbox(metadata)
