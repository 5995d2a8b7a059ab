"""a user's followed tickets from one index: (user_id, ticket_id) instead of (user_id)

The "following" view starts from the caller's rows of ``ticket_followers``. With an index on
``user_id`` alone each of them was a visit to the table for its ticket id, so PostgreSQL preferred
reading the whole primary key index (``ticket_id, user_id``) with parallel workers. With
``(user_id, ticket_id)`` it reads the caller's entries only, without the table: at 1,000,000
tickets, for an agent following 1,793 of them, the view's request took 16.3 ms with the old index
and 14.4 ms with this one (both without parallel plans, see ``services.chassis.db``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 05:20:00.000000
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ticket_followers_user_ticket", "ticket_followers", ["user_id", "ticket_id"])
    op.drop_index("ix_ticket_followers_user_id", table_name="ticket_followers")


def downgrade() -> None:
    op.create_index("ix_ticket_followers_user_id", "ticket_followers", ["user_id"])
    op.drop_index("ix_ticket_followers_user_ticket", table_name="ticket_followers")
