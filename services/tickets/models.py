"""Tables of the tickets service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
    true,
)

from services.chassis.db import ids_never_reused
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
    Column("deleting_job_id", Integer, nullable=True),  # a job is moving its tickets away to delete it
)

stages = Table(
    "stages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", Integer, ForeignKey("pipelines.id"), nullable=False, index=True),
    Column("label", String(200), nullable=False),
    Column("state", String(10), nullable=False),  # OPEN or CLOSED
    Column("position", Integer, nullable=False, default=0),
    Column("deleting_job_id", Integer, nullable=True),  # no ticket may enter it any more
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
    Column("deleted_by", Integer, nullable=True),
    Column("purging_at", DateTime(timezone=True), nullable=True),  # retention began to purge it
    Column("merge_count", Integer, nullable=False, default=0, server_default="0"),
    Column("in_progress", String(20), nullable=True),  # a lifecycle job has not finished everywhere
    Column("job_id", Integer, nullable=True),  # ... and this is it
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
    # name and description lower-cased, what q matches (domain.ticket.search_text; migration 0011)
    Column("search_text", Text, nullable=False),
    Index("ix_tickets_updated", "updated_at", "id"),
    Index("ix_tickets_owner_updated", "owner_id", "updated_at", "id"),
    Index("ix_tickets_stage_updated", "stage_id", "updated_at", "id"),
    Index("ix_tickets_pipeline_updated", "pipeline_id", "updated_at", "id"),
    Index("ix_tickets_created", "created_at", "id"),
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


def _by_owner_and_stage(name: str, *order: Any) -> Index:
    """Listed tickets by ``owner_id, stage_id``, then ``order``: a partial scope's page of one stage
    (a board column, a status filter) in that order, read an owner (and the unassigned) at a time
    (``queries.owner_parts``), and a ``view=mine`` column directly."""
    return Index(
        name,
        tickets.c.owner_id,
        tickets.c.stage_id,
        *order,
        sqlite_where=_LISTED,
        postgresql_where=_LISTED,
    )


# by update (migration 0014), by name (0021), and in the board's other orders but the SLA's (0022)
_by_owner_and_stage("ix_tickets_owner_stage_updated", tickets.c.updated_at, tickets.c.id)
_by_owner_and_stage("ix_tickets_owner_stage_name", func.lower(tickets.c.name), tickets.c.id)
_by_owner_and_stage("ix_tickets_owner_stage_priority", tickets.c.priority_rank, tickets.c.id)
_by_owner_and_stage("ix_tickets_owner_stage_created", tickets.c.created_at, tickets.c.id)
_by_owner_and_stage("ix_tickets_owner_stage_id", tickets.c.id)
# the capped totals of "mine" and of an owner filter stop after 1,001 entries of this index, read
# without the table; "following" looks each followed ticket up in the second
Index(
    "ix_tickets_owner_listed",
    tickets.c.owner_id,
    tickets.c.id,
    sqlite_where=_LISTED,
    postgresql_where=_LISTED,
)
# listed tickets in id order (sort=id, counts of every listed ticket) with what the unread view's
# total checks on each, read without the table (migration 0017)
Index(
    "ix_tickets_listed_id_owner_seq",
    tickets.c.id,
    tickets.c.owner_id,
    tickets.c.unread_seq,
    sqlite_where=_LISTED,
    postgresql_where=_LISTED,
)
# the same by stage: a board column's unread count from the index alone; PostgreSQL only, as
# SQLite cannot carry the columns (migration 0020)
Index(
    "ix_tickets_stage_id_listed",
    tickets.c.stage_id,
    tickets.c.id,
    postgresql_include=["owner_id", "unread_seq", "pipeline_id"],
    postgresql_where=_LISTED,
).ddl_if(dialect="postgresql")
# sort=priority; the priority filter's capped count from the index alone, with the owner (an
# agent who sees only their own and unassigned tickets) and the open view, see migration 0012
Index(
    "ix_tickets_priority_listed",
    tickets.c.priority_rank,
    tickets.c.id,
    tickets.c.owner_id,
    tickets.c.closed_at,
    sqlite_where=_LISTED,
    postgresql_where=_LISTED,
)
# a board column's capped count when filtered by priority, from the index alone on PostgreSQL
# (with the owner, and the pipeline and the open view carried; migration 0020)
Index(
    "ix_tickets_stage_priority_listed",
    tickets.c.stage_id,
    tickets.c.priority_rank,
    tickets.c.owner_id,
    postgresql_include=["pipeline_id", "closed_at"],
    sqlite_where=_LISTED,
    postgresql_where=_LISTED,
)

# the next breach of all open tickets, found by index (few rows have an alarm at any time)
_ALARMED = text("sla_alarm_at IS NOT NULL")
Index("ix_tickets_sla_alarm", tickets.c.sla_alarm_at, sqlite_where=_ALARMED, postgresql_where=_ALARMED)
Index("ix_tickets_sla_due", tickets.c.sla_next_due_at, tickets.c.id)

# a partial scope's text search reads its tickets from here, bounded (queries.text_probe,
# migration 0018): keyed by owner, unassigned as 0, carrying what that search reads on PostgreSQL
Index(
    "ix_tickets_owner_key_text",
    func.coalesce(tickets.c.owner_id, literal_column("0")),
    tickets.c.id,
    postgresql_include=["owner_id", "stage_id", "pipeline_id", "search_text"],
    sqlite_where=_LISTED,
    postgresql_where=_LISTED,
)

# Not declared here: on PostgreSQL, migration 0011 adds a GIN trigram index on search_text
# (ix_tickets_search_trgm, extension pg_trgm from migration 0008) for the free-text search;
# SQLite has no such index and scans. An autogenerated migration must not drop it.

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
    Column("user_id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # copies of the ticket's facts the following view reads from its follow rows alone, kept by
    # Records.restamp_follows: whether it is listed (queries.listed, migration 0015), its owner and
    # last update (migration 0016; set with every follow, so never NULL in practice)
    Column("listed", Boolean, nullable=False, server_default=true()),
    Column("ticket_owner_id", Integer, nullable=True),
    Column("ticket_updated_at", DateTime(timezone=True), nullable=True),
    # and the other orders the view is sorted by: its creation, priority rank and lower-cased name
    # (migration 0019; the SLA's next due time changes without a save, so that order stays the
    # ticket's own), and its stage, which the view's board counts by
    Column("ticket_created_at", DateTime(timezone=True), nullable=True),
    Column("ticket_priority_rank", Integer, nullable=True),
    Column("ticket_name_key", String(500), nullable=True),
    Column("ticket_stage_id", Integer, nullable=True),
    # the tickets a user follows (the "following" view), newest first, and how many are listed
    # and in a scope, from the index alone (migrations 0013, 0015, 0016)
    Index(
        "ix_ticket_followers_user_updated",
        "user_id",
        "listed",
        "ticket_updated_at",
        "ticket_id",
        "ticket_owner_id",
    ),
    # the view's board's column totals from the index alone (queries.count_by_stage, migration 0019)
    Index("ix_ticket_followers_user_stage", "user_id", "listed", "ticket_stage_id", "ticket_owner_id"),
    # the same view's page in each of its other orders (queries.FOLLOW_SORT_KEYS, migrations 0019
    # and 0020)
    *(
        Index(f"ix_ticket_followers_user_{name}", "user_id", "listed", column, "ticket_id", "ticket_owner_id")
        for name, column in (
            ("created", "ticket_created_at"),
            ("priority", "ticket_priority_rank"),
            ("name", "ticket_name_key"),
        )
    ),
    Index("ix_ticket_followers_user_by_id", "user_id", "listed", "ticket_id", "ticket_owner_id"),
)

reads = Table(
    "ticket_reads",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("read_seq", Integer, nullable=False),  # read while tickets.unread_seq was this
    # a user's marks in ticket order, each checked from the index alone (the unread view's counts,
    # migration 0020)
    Index("ix_ticket_reads_user_ticket", "user_id", "ticket_id", "read_seq"),
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

# the recycle bin, most recently deleted first; small, so a partial index
_DELETED = text("deleted_at IS NOT NULL")
Index(
    "ix_tickets_bin",
    tickets.c.deleted_at,
    tickets.c.id,
    sqlite_where=_DELETED,
    postgresql_where=_DELETED,
)

# finishing a job clears what it marked: few tickets carry a job at any time
_IN_JOB = text("job_id IS NOT NULL")
Index("ix_tickets_job", tickets.c.job_id, sqlite_where=_IN_JOB, postgresql_where=_IN_JOB)

merges = Table(
    "ticket_merges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("primary_id", Integer, nullable=False, index=True),
    Column("secondary_id", Integer, nullable=False, unique=True),  # a ticket is absorbed once
    Column("actor_id", Integer, nullable=False),
    Column("job_id", Integer, nullable=False),
    Column("merged_at", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("state", String(10), nullable=False),  # running, done, failed
    Column("step", String(20), nullable=False),
    Column("actor_id", Integer, nullable=False),
    Column("client_key", String(200), nullable=True),  # the Idempotency-Key it was started with
    Column("request_hash", String(64), nullable=True),
    Column("scope", Text, nullable=False),  # JSON: the actor's access scope when it started
    Column("data", Text, nullable=False),  # JSON: what the steps need
    Column("result", Text, nullable=True),  # JSON: the answer once done
    Column("error", Text, nullable=True),
    Column("total", Integer, nullable=False, default=0),
    Column("processed", Integer, nullable=False, default=0),
    Column("done", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("actor_id", "client_key", name="uq_jobs_client_key"),
)

# the resume sweep looks for unfinished jobs only
_RUNNING = text("state = 'running'")
Index("ix_jobs_running", jobs.c.id, sqlite_where=_RUNNING, postgresql_where=_RUNNING)

job_items = Table(
    "job_items",
    metadata,
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("ticket_id", Integer, nullable=True),
    Column("outcome", String(10), nullable=False),  # pending, working, done, skipped, failed
    Column("reason", Text, nullable=True),
    Column("status", Integer, nullable=True),
    Column("result", Text, nullable=True),  # JSON (a bulk update's ticket or error)
    Index("ix_job_items_outcome", "job_id", "outcome", "seq"),
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

config_version = Table(
    "config_version",
    metadata,
    Column("id", Integer, primary_key=True),  # one row (id 1)
    # bumped by every transaction that changes pipelines, stages or SLA policies (store/config.py)
    Column("version", BigInteger, nullable=False),
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

ids_never_reused(metadata)
