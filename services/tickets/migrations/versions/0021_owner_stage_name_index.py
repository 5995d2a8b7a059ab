"""a partial scope's board columns sorted by name, an owner at a time

At 1,000,000 tickets on PostgreSQL a board sorted by name walked ``ix_tickets_name_lower`` for
each column and kept the rows of its stage and of the caller's scope: an agent who sees their own
and the unassigned tickets passed 24 rows for one kept (a sixth of the tickets are in that scope,
a quarter in the column's stage), and ten times as many filtered by ``priority=urgent``: 11,000 to
13,000 rows for a column's page of 26, 41 ms of SQL for the board (57 ms a request). The same
agent's ``view=mine`` board by name passed 50 rows a kept one (49 ms).

``ix_tickets_owner_stage_name`` (listed tickets by ``owner_id, stage_id, lower(name), id``) gives
each owner's tickets of a stage in name order: a column of ``view=mine`` walks it directly, and a
partial scope's column walks it an owner (and the unassigned) at a time
(``queries.owner_parts`` with a pinned stage), as 0014's index does sorted by update.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 07:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

LISTED = sa.text("deleted_at IS NULL AND merged_into_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_tickets_owner_stage_name",
        "tickets",
        ["owner_id", "stage_id", sa.text("lower(name)"), "id"],
        sqlite_where=LISTED,
        postgresql_where=LISTED,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_owner_stage_name", table_name="tickets")
