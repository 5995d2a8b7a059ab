"""external ids: where an imported ticket came from, unique per source

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_source', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('external_id', sa.String(length=100), nullable=True))
        batch_op.create_index('ux_tickets_external', ['external_source', 'external_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ux_tickets_external')
        batch_op.drop_column('external_id')
        batch_op.drop_column('external_source')
