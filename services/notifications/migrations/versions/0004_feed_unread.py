"""feed_unread: each person's unread count, kept by the transactions that change it

Counted from ``feed_items`` once here (unread and shown in the feed, per person); from then on
``store.feed`` keeps it in the same transactions that change those notifications. Instances of the
previous release do not keep it: stop them before migrating (the events they would have handled
wait in their queues), or what they deliver meanwhile is missing from the counts until the person
next marks everything read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_unread",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    feed = sa.table(
        "feed_items",
        sa.column("user_id", sa.Integer()),
        sa.column("read", sa.Boolean()),
        sa.column("in_app", sa.Boolean()),
    )
    unread = sa.table("feed_unread", sa.column("user_id", sa.Integer()), sa.column("unread", sa.Integer()))
    op.execute(
        unread.insert().from_select(
            ["user_id", "unread"],
            sa.select(feed.c.user_id, sa.func.count())
            .where(feed.c.read == sa.false(), feed.c.in_app == sa.true())
            .group_by(feed.c.user_id),
        )
    )


def downgrade() -> None:
    op.drop_table("feed_unread")
