"""a partial scope's text matches from one index: listed tickets by owner key, with their text
(PostgreSQL)

A text search (``q``, a search's ``query``) finds its matches first, up to the cap
(``queries.capped_ids``). For a common word and an agent who sees their own and the unassigned
tickets that was a seq scan, every row read whole up to its last column (``search_text``) until
101 of the scope matched: ~9,400 rows, 2.7-3.4 ms at 1,000,000 tickets. This index keys listed
tickets by ``coalesce(owner_id, 0)`` (0: unassigned, an equality where ``owner_id IS NULL`` is
none) and carries what such a match reads, so the same matches come from the index alone:
0.6-0.7 ms. Its key is an expression no other statement uses, so a rare word's plan cannot AND
an owner index's bitmap into the trigram one (an owner index on ``owner_id`` did: 0.3 -> 3.5 ms).

On SQLite nothing changes (its search is a scan).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 16:30:00.000000
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

INDEX = "ix_tickets_owner_key_text"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON tickets ((coalesce(owner_id, 0)))"
        " INCLUDE (owner_id, id, stage_id, pipeline_id, search_text)"
        " WHERE deleted_at IS NULL AND merged_into_id IS NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
