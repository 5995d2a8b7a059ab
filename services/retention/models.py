"""Tables of the retention service: purge runs and the audit of purged items."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.chassis.db import ids_never_reused
from services.chassis.events import define_inbox
from services.chassis.outbox import Outbox

metadata = MetaData()

runs = Table(
    "purge_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger", String(10), nullable=False),  # schedule or request
    Column("actor_id", Integer, nullable=True),
    Column("state", String(10), nullable=False),  # running, done
    Column("phase", String(20), nullable=False),  # resume, spam, bin, housekeeping, finished
    Column("counts", Text, nullable=False),  # JSON: purged per kind, housekeeping per service
    Column("error", Text, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index("ix_purge_runs_state", "state", "id"),
)

audit = Table(
    "purge_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # spam_thread, bin_ticket
    Column("item_id", Integer, nullable=False),
    Column("policy", String(10), nullable=False),
    Column("policy_days", Float, nullable=False),
    Column("marked_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("state", String(10), nullable=False),  # purging (intent recorded), purged
    Column("run_id", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=True),
    # an item marked once is purged once (an id marked again later is another item)
    UniqueConstraint("kind", "item_id", "marked_at", name="uq_purge_audit_item"),
    Index("ix_purge_audit_state", "state", "kind", "id"),
    Index("ix_purge_audit_run", "run_id", "id"),
)

outbox = Outbox(metadata, {})  # publishes no events
processed_events = define_inbox(metadata)

ids_never_reused(metadata)
