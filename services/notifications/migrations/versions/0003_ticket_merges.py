"""ticket_merges: where each merged-away ticket leads, so late notifications name the survivor

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_merges",
        sa.Column("ticket_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    op.create_index("ix_ticket_merges_into", "ticket_merges", ["merged_into_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ticket_merges_into", table_name="ticket_merges")
    op.drop_table("ticket_merges")
