"""search_text: a ticket's name and description lower-cased, what q matches

``q`` (table, board, views) and a search's ``query`` matched ``ILIKE '%term%'`` on the name and on
the description, two trigram indexes on PostgreSQL and a Python ``lower()`` per row on SQLite.
``search_text`` holds both, lower-cased by Python (``services.tickets.domain.ticket.search_text``),
so a plain ``LIKE`` answers on every database: on PostgreSQL a quarter of ``ILIKE``'s cost per row
read and one GIN trigram index (``ix_tickets_search_trgm``) where there were two.

Existing tickets get the value here, in batches, with the rule as it stood when this was written
(a migration must not change when the service's code does). The name and description trigram
indexes of migration 0008 go; a search's ``CONTAINS_TOKEN`` on the name or the description finds
its candidates through the new index. Downgrade puts them back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 01:30:00.000000
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

INDEX = "ix_tickets_search_trgm"
OLD_INDEXES = {"ix_tickets_name_trgm": "name", "ix_tickets_description_trgm": "description"}
BATCH = 2000


def _search_text(name: str, description: str) -> str:
    return f"{name}\n{description or ''}".lower()


def upgrade() -> None:
    op.add_column("tickets", sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    read = sa.text("SELECT id, name, description FROM tickets WHERE id > :after ORDER BY id LIMIT :n")
    if postgres:  # a batch a statement: a million tickets in about a minute
        write = sa.text(
            "UPDATE tickets SET search_text = given.text FROM unnest(:ids, :texts) AS given(id, text)"
            " WHERE tickets.id = given.id"
        )
    else:
        write = sa.text("UPDATE tickets SET search_text = :text WHERE id = :id")
    after = 0
    while rows := bind.execute(read, {"after": after, "n": BATCH}).all():
        ids = [row[0] for row in rows]
        texts = [_search_text(name, description) for _id, name, description in rows]
        if postgres:
            bind.execute(write, {"ids": ids, "texts": texts})
        else:
            bind.execute(write, [{"id": i, "text": text} for i, text in zip(ids, texts, strict=True)])
        after = ids[-1]
    if not postgres:
        return  # SQLite keeps the column's default: dropping it would rebuild the table
    op.alter_column("tickets", "search_text", server_default=None)
    if not bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")):
        log.warning("pg_trgm is not installed on this server: ticket search (q) stays a scan")
        return
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON tickets USING gin (search_text gin_trgm_ops)")
    for name in OLD_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        if bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")):
            for name, column in OLD_INDEXES.items():
                op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON tickets USING gin ({column} gin_trgm_ops)")
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    if bind.dialect.name == "sqlite":
        op.execute("ALTER TABLE tickets DROP COLUMN search_text")  # SQLite 3.35+, no table rebuild
    else:
        op.drop_column("tickets", "search_text")
