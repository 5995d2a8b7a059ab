"""ids are never handed out twice on SQLite: the tables the database numbers become AUTOINCREMENT

SQLite gave the next row the largest id present plus one, so deleting the newest row (a purged or
deleted item) let the next insert take its id while links, emails and other services' copies still
named the old one. ``services.chassis.migrations.sqlite_ids_never_reused`` rebuilds each table
(rows and indexes kept); the models declare it with ``ids_never_reused``. PostgreSQL's sequences
never went back: nothing to do there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 04:00:00.000000
"""

from services.chassis.migrations import sqlite_ids_never_reused

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = (
    "threads",
    "messages",
    "attachments",
    "outgoing_mail",
    "sender_rules",
    "outbox",
)


def upgrade() -> None:
    sqlite_ids_never_reused(TABLES)


def downgrade() -> None:
    """Nothing: an id that is never reused harms no earlier revision."""
