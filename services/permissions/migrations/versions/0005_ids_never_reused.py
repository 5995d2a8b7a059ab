"""ids are never handed out twice on SQLite: the tables the database numbers become AUTOINCREMENT

Why and how: ``services.chassis.migrations.sqlite_ids_never_reused``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 04:00:00.000000
"""

from services.chassis.migrations import sqlite_ids_never_reused

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = (
    "users",
    "teams",
    "tokens",
    "sessions",
    "invites",
    "outbox",
)


def upgrade() -> None:
    sqlite_ids_never_reused(TABLES)


def downgrade() -> None:
    """Nothing: an id that is never reused harms no earlier revision."""
