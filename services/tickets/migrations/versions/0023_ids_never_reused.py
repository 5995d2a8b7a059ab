"""ids are never handed out twice on SQLite: the tables the database numbers become AUTOINCREMENT

Why and how: ``services.chassis.migrations.sqlite_ids_never_reused``.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 04:00:00.000000
"""

from services.chassis.migrations import sqlite_ids_never_reused

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLES = (
    "pipelines",
    "stages",
    "tickets",
    "ticket_timeline",
    "jobs",
    "ticket_merges",
    "sla_policies",
    "views",
    "outbox",
)


def upgrade() -> None:
    sqlite_ids_never_reused(TABLES)


def downgrade() -> None:
    """Nothing: an id that is never reused harms no earlier revision."""
