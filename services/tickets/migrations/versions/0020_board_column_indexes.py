"""a board's columns counted from an index when filtered by priority or unread, and the
following view's board sorted by id from the follow rows

At 1,000,000 tickets on PostgreSQL a board column's capped count (up to 1,001) read the table
when the board was filtered:

- ``priority=urgent``: no index had a ticket's stage with its priority, so each column was a
  sequential scan that passed ~70,000 tickets for its 1,001 urgent ones (82 ms for the four
  columns; 100-120 ms a request). ``ix_tickets_stage_priority_listed`` (listed tickets by
  ``stage_id, priority_rank, owner_id``, carrying ``pipeline_id`` and ``closed_at`` on
  PostgreSQL for the pipeline and the open view) counts each column from the index alone.
- ``view=unread``: each column walked the listed tickets in id order beside the caller's read
  marks (0017's plan) and read every ticket it passed from the table for its stage and pipeline:
  an owned-only agent's column passed 44,000 tickets for its 1,001 (22 ms a column).
  ``ix_tickets_stage_id_listed`` (``stage_id, id``, carrying ``owner_id``, ``unread_seq`` and
  ``pipeline_id``) walks the column's own stage in id order from the index alone (6,600 entries
  for that column). PostgreSQL only: SQLite has no ``INCLUDE``, and its planner counts a column
  from ``ix_tickets_listed`` and each ticket's row as before.
  The caller's read marks came from the primary key ``(ticket_id, user_id)``: every user's marks
  of the tickets passed (4.5 ms a column). ``ix_ticket_reads_user_ticket`` (``user_id,
  ticket_id, read_seq``) takes the place of the plain ``user_id`` index and answers each check,
  or the caller's marks in ticket order, alone.
- The following view's board sorted by id looked each of the caller's follows up in every
  column and sorted them (an owned-only agent following 1,800 tickets: 41 ms).
  ``ix_ticket_followers_user_by_id`` walks the caller's follows in id order, as 0016 and 0019's
  indexes do in the view's other orders (``queries.FOLLOW_SORT_KEYS``).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 04:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

LISTED = sa.text("deleted_at IS NULL AND merged_into_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_tickets_stage_priority_listed",
        "tickets",
        ["stage_id", "priority_rank", "owner_id"],
        postgresql_include=["pipeline_id", "closed_at"],
        sqlite_where=LISTED,
        postgresql_where=LISTED,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_tickets_stage_id_listed",
            "tickets",
            ["stage_id", "id"],
            postgresql_include=["owner_id", "unread_seq", "pipeline_id"],
            postgresql_where=LISTED,
        )
    op.create_index("ix_ticket_reads_user_ticket", "ticket_reads", ["user_id", "ticket_id", "read_seq"])
    op.drop_index("ix_ticket_reads_user_id", table_name="ticket_reads")
    op.create_index(
        "ix_ticket_followers_user_by_id",
        "ticket_followers",
        ["user_id", "listed", "ticket_id", "ticket_owner_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_followers_user_by_id", table_name="ticket_followers")
    op.create_index("ix_ticket_reads_user_id", "ticket_reads", ["user_id"])
    op.drop_index("ix_ticket_reads_user_ticket", table_name="ticket_reads")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tickets_stage_id_listed", table_name="tickets")
    op.drop_index("ix_tickets_stage_priority_listed", table_name="tickets")
