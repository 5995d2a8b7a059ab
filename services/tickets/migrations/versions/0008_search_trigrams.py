"""trigram indexes for the free-text search (PostgreSQL)

``q`` on the table and board, and ``query`` of a search, match tickets whose name or description
contains the text, case-insensitively (``ILIKE '%text%'``). Without an index that is a scan of every
ticket. On PostgreSQL this adds the ``pg_trgm`` extension (in the server's contrib, shipped with
Debian's postgresql-15 package; trusted since PostgreSQL 13, so the database owner may create it)
and a GIN trigram index on each of the two columns, which ``ILIKE`` with a leading wildcard uses for
text of three characters or more. On SQLite nothing changes: the search stays a scan (documented in
docs/architecture.md, "Scale").

If the server lacks the extension the migration still succeeds, without the indexes (the search
is then a scan there too): a warning says so.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:15:00.000000
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

INDEXES = {"ix_tickets_name_trgm": "name", "ix_tickets_description_trgm": "description"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.scalar(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"))
    if not available:
        log.warning("pg_trgm is not available on this server: ticket search (q) stays a scan")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON tickets USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # the extension stays: other databases' objects may use it, and it costs nothing unused
