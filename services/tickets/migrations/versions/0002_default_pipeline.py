"""default pipeline: New, Waiting on contact, Waiting on us, Closed

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STAGES = [("New", "OPEN"), ("Waiting on contact", "OPEN"), ("Waiting on us", "OPEN"), ("Closed", "CLOSED")]


def upgrade() -> None:
    pipelines = sa.table("pipelines", sa.column("id", sa.Integer), sa.column("label", sa.String), sa.column("position", sa.Integer))
    stages = sa.table(
        "stages",
        sa.column("pipeline_id", sa.Integer),
        sa.column("label", sa.String),
        sa.column("state", sa.String),
        sa.column("position", sa.Integer),
    )
    op.bulk_insert(pipelines, [{"id": 1, "label": "Support pipeline", "position": 0}])
    op.bulk_insert(
        stages, [{"pipeline_id": 1, "label": label, "state": state, "position": i} for i, (label, state) in enumerate(STAGES)]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('pipelines', 'id'), (SELECT max(id) FROM pipelines))")


def downgrade() -> None:
    op.execute("DELETE FROM stages WHERE pipeline_id = 1")
    op.execute("DELETE FROM pipelines WHERE id = 1")
