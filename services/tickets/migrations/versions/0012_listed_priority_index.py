"""the priority index: listed tickets, with owner and closed_at, so the priority filter counts from it

``priority=urgent`` counts its total up to 1,001 (``total_capped`` beyond). ``ix_tickets_priority``
(``priority_rank, id``) held every ticket, deleted and merged ones too, so PostgreSQL had to visit
the table for each entry to skip those and chose a sequential scan instead: at 1,000,000 tickets it
read ~10,000 rows for the 1,001 urgent ones (2.2 ms), ~63,000 for an agent who sees only their own
and unassigned tickets (13.6 ms) and ~127,000 for that agent's open urgent tickets (26.4 ms).
``ix_tickets_priority_listed`` (``priority_rank, id, owner_id, closed_at``) holds listed tickets
only (as ``ix_tickets_owner_listed`` of migration 0010): those counts read it without the table
(0.2, 0.7 and 1.3 ms), and ``sort=priority`` still walks it in ``(priority_rank, id)`` order (every
list filters on listed tickets). The filter compares the rank. The index is 38 MB at a million
tickets.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 05:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LISTED = sa.text("deleted_at IS NULL AND merged_into_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_tickets_priority_listed",
        "tickets",
        ["priority_rank", "id", "owner_id", "closed_at"],
        sqlite_where=LISTED,
        postgresql_where=LISTED,
    )
    op.drop_index("ix_tickets_priority", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_priority", "tickets", ["priority_rank", "id"])
    op.drop_index("ix_tickets_priority_listed", table_name="tickets")
