"""a partial scope's text matches from one index: listed tickets by owner key, with their text

A text search (``q``, a search's ``query``) finds its first matches before its page
(``queries.text_probe``). For a common word and an agent who sees their own and the unassigned
tickets that was a seq scan reading every row whole up to its last column (``search_text``)
until 101 of the scope matched: ~9,400 rows, 3.1-3.5 ms at 1,000,000 tickets. This index keys
listed tickets by ``coalesce(owner_id, 0)`` (0: unassigned) and, on PostgreSQL, carries the
columns such a search reads, so a bounded read of the scope answers from the index alone: 0.4 ms.
Only that bounded read names the key: no other statement's plan can pick the index for an owner.

On SQLite the same key, without the carried columns (SQLite has no ``INCLUDE``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 18:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

INDEX = "ix_tickets_owner_key_text"
LISTED = sa.text("deleted_at IS NULL AND merged_into_id IS NULL")


def upgrade() -> None:
    op.create_index(
        INDEX,
        "tickets",
        [sa.text("coalesce(owner_id, 0)"), "id"],
        postgresql_include=["owner_id", "stage_id", "pipeline_id", "search_text"],
        sqlite_where=LISTED,
        postgresql_where=LISTED,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="tickets")
