"""seat features: SLA policies and clocks, saved views

The SLA summary columns on ``tickets`` (``sla_next_due_at`` is never NULL: 9999-12-31 when no
clock runs, written in the exact format SQLAlchemy uses on each dialect so keyset cursors
compare equal), the partial index the breach timer reads, the index of the next-due sort,
``sla_policies``, the one-row ``sla_recompute`` job and ``views``. Written by hand.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _forever() -> sa.TextClause:
    if op.get_bind().dialect.name == "sqlite":
        return sa.text("'9999-12-31 00:00:00.000000'")
    return sa.text("'9999-12-31 00:00:00+00'")


def upgrade() -> None:
    # plain ADD COLUMNs (SQLite takes them, NOT NULL with a default included): no table rebuild
    op.add_column("tickets", sa.Column("sla_policy_id", sa.Integer(), nullable=True))
    op.add_column("tickets", sa.Column("sla_data", sa.Text(), nullable=True))
    op.add_column("tickets", sa.Column("sla_phase", sa.String(length=10), nullable=True))
    op.add_column(
        "tickets",
        sa.Column("sla_next_due_at", sa.DateTime(timezone=True), nullable=False, server_default=_forever()),
    )
    op.add_column("tickets", sa.Column("sla_soon_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("sla_alarm_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("sla_breached_at", sa.DateTime(timezone=True), nullable=True))
    alarmed = sa.text("sla_alarm_at IS NOT NULL")
    op.create_index(
        "ix_tickets_sla_alarm",
        "tickets",
        ["sla_alarm_at"],
        unique=False,
        sqlite_where=alarmed,
        postgresql_where=alarmed,
    )
    op.create_index("ix_tickets_sla_due", "tickets", ["sla_next_due_at", "id"], unique=False)

    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=True),
        sa.Column("pipeline_id", sa.Integer(), nullable=True),
        sa.Column("first_reply_minutes", sa.Integer(), nullable=True),
        sa.Column("next_reply_minutes", sa.Integer(), nullable=True),
        sa.Column("close_minutes", sa.Integer(), nullable=True),
        sa.Column("business_hours", sa.Text(), nullable=True),
        sa.Column("pause_stage_ids", sa.Text(), nullable=False),
        sa.Column("due_soon_minutes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sla_recompute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("next_ticket_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO sla_recompute (id, generation, next_ticket_id) VALUES (1, 0, NULL)")
    op.create_table(
        "views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("sort", sa.String(length=50), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("shared_with", sa.String(length=10), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_views_owner", "views", ["owner_id", "id"], unique=False)
    op.create_index("ix_views_team", "views", ["team_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_views_team", table_name="views")
    op.drop_index("ix_views_owner", table_name="views")
    op.drop_table("views")
    op.drop_table("sla_recompute")
    op.drop_table("sla_policies")
    op.drop_index("ix_tickets_sla_due", table_name="tickets")
    op.drop_index("ix_tickets_sla_alarm", table_name="tickets")
    for column in (
        "sla_breached_at",
        "sla_alarm_at",
        "sla_soon_at",
        "sla_next_due_at",
        "sla_phase",
        "sla_data",
        "sla_policy_id",
    ):
        op.drop_column("tickets", column)
