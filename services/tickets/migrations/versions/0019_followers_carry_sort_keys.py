"""the following view in every order from its follow rows: each carries its ticket's sort keys
and stage

The following view sorted by update walks the caller's follow rows in ``ticket_updated_at`` order
(migration 0016). In its other orders each follow was joined to its ticket for the key and the
lot sorted: at 1,000,000 tickets an agent following 29,500 tickets waited 150-190 ms for a page
sorted by priority (its plan, made once for an average follower of 2,200, looked up all 29,500),
and 490 ms for the board so sorted (130-140 sorted by name or creation). A follow row now also
carries its ticket's ``created_at``, ``priority_rank`` and ``lower(name)`` (``ticket_created_at``,
``ticket_priority_rank``, ``ticket_name_key``), kept by ``Records.restamp_follows`` with the
others in every transaction that changes them; here set from the tickets as they are. Each order
has its index, as 0016's: ``(user_id, listed, <key>, ticket_id, ticket_owner_id)``.

The board of that view counted each column's tickets by looking every follow up for its stage (63
ms of that agent's board, in any order): a follow row carries its ticket's stage too
(``ticket_stage_id``), and ``(user_id, listed, ticket_stage_id, ticket_owner_id)`` counts a
column from the index alone.

The SLA's next due time (``sort=sla_due_at``) changes as its clock runs, without a save, so that
order still joins the ticket.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 01:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

KEYS = (  # index suffix, column, its type, the ticket's value
    ("created", "ticket_created_at", sa.DateTime(timezone=True), "created_at"),
    ("priority", "ticket_priority_rank", sa.Integer(), "priority_rank"),
    ("name", "ticket_name_key", sa.String(500), "lower(name)"),
)
STAGE = "ix_ticket_followers_user_stage"


def upgrade() -> None:
    copied = [*((column, kind, value) for _suffix, column, kind, value in KEYS)]
    copied.append(("ticket_stage_id", sa.Integer(), "stage_id"))
    for column, kind, _value in copied:
        op.add_column("ticket_followers", sa.Column(column, kind, nullable=True))
    copies = ", ".join(
        f"{column} = (SELECT {value} FROM tickets WHERE tickets.id = ticket_followers.ticket_id)"
        for column, _kind, value in copied
    )
    op.execute(f"UPDATE ticket_followers SET {copies}")
    for suffix, column, _kind, _value in KEYS:
        op.create_index(
            f"ix_ticket_followers_user_{suffix}",
            "ticket_followers",
            ["user_id", "listed", column, "ticket_id", "ticket_owner_id"],
        )
    op.create_index(STAGE, "ticket_followers", ["user_id", "listed", "ticket_stage_id", "ticket_owner_id"])


def downgrade() -> None:
    op.drop_index(STAGE, table_name="ticket_followers")
    op.execute("ALTER TABLE ticket_followers DROP COLUMN ticket_stage_id")  # SQLite 3.35+ too
    for suffix, column, _kind, _value in KEYS:
        op.drop_index(f"ix_ticket_followers_user_{suffix}", table_name="ticket_followers")
        op.execute(f"ALTER TABLE ticket_followers DROP COLUMN {column}")
