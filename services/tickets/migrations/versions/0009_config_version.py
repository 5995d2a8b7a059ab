"""the configuration's version: one row every change to pipelines, stages or SLA policies bumps

Creates read the pipelines, their stages and the SLA policies on every ticket; they almost never
change. The store keeps them per process as one snapshot and reuses it while ``config_version``
still holds the version it was read at (``services/tickets/store/config.py``); every transaction
that changes that configuration bumps the version in the same transaction. The row starts at 1:
the default pipeline of 0002 (and whatever was configured since) is version 1's configuration.

The version only ever grows: a process's snapshot is trusted while the version is equal, so the
row must never be reset under running services (restoring a backup means restarting them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO config_version (id, version) VALUES (1, 1)")


def downgrade() -> None:
    op.drop_table("config_version")
