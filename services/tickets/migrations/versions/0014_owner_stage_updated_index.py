"""a partial scope's pages an owner at a time: listed tickets by (owner_id, stage_id, updated_at, id)

An agent who sees their own and the unassigned tickets reads a page sorted by update as one walk per
part of that scope, merged (``queries.owner_parts``). A board column's walk (``stage_id``, then
``updated_at``) otherwise passes every owner's tickets: at 1,000,000 tickets, searched for a common
word, it read ~1,900 rows for 26 (3-4 ms of the server's time), an owner and the unassigned apart
~280 (1.2 ms). ``ix_tickets_owner_updated`` orders an owner's tickets across stages; this one
within a stage, for a column or a status filter, and holds listed tickets only.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LISTED = sa.text("deleted_at IS NULL AND merged_into_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_tickets_owner_stage_updated",
        "tickets",
        ["owner_id", "stage_id", "updated_at", "id"],
        sqlite_where=LISTED,
        postgresql_where=LISTED,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_owner_stage_updated", table_name="tickets")
