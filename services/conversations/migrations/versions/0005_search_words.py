"""search words: what the ticket search ``q`` finds in a conversation

``search_docs.words`` holds each ticket's conversation as its distinct lower-cased words and
e-mail addresses, each between spaces (subjects, customers' addresses, and every message a person
wrote: customer, reply and note text with its sender's address; automatic mail left out). The
tickets service asks ``matching_tickets`` for the tickets whose conversation holds every term
of a query, those changed last first (``ix_search_docs_recent``). On PostgreSQL a GIN trigram index serves ``LIKE '%term%'`` (extension ``pg_trgm``,
as the tickets database has it; without it the search reads the documents and a warning says
so); on SQLite the column is read. ``search_senders`` holds the senders' addresses of each
conversation (the threads' customers, whoever wrote a customer message), lower-cased: a whole
address in a query is looked up there exactly, by primary key, since a trigram index is slowest
for addresses (their ``@example.com`` trigrams are in every document of a domain).

Existing documents (words and senders) are filled here from the messages (the column is derived data: every later
change to a conversation rebuilds its ticket's document).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 22:30:00.000000
"""

import logging

import sqlalchemy as sa
from alembic import op

from services.chassis.words import document_words, is_address

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

MAX_DOC_WORDS = 5000  # services.conversations.store.search.MAX_DOC_WORDS when this was written
INDEX = "ix_search_docs_words_trgm"
LIVE = "t.ticket_id = :ticket_id AND t.deleted_at IS NULL AND t.spam_at IS NULL AND t.location = 'helpdesk'"


def _searched(bind: sa.Connection, ticket_id: int) -> tuple[str, set[str]]:
    heads = bind.execute(
        sa.text(f"SELECT t.subject, t.customer_email FROM threads t WHERE {LIVE} ORDER BY t.id"),
        {"ticket_id": ticket_id},
    ).all()
    rows = bind.execute(
        sa.text(
            "SELECT m.kind, m.from_email, m.text FROM messages m JOIN threads t ON t.id = m.thread_id "
            f"WHERE {LIVE} AND m.auto IS NULL ORDER BY m.id"
        ),
        {"ticket_id": ticket_id},
    ).all()
    texts = [f"{subject} {email}" for subject, email in heads]
    texts += [f"{sender or ''} {text}" for _kind, sender, text in rows]
    senders = {email.lower() for _subject, email in heads}
    senders |= {sender.lower() for kind, sender, _text in rows if kind == "customer" and sender}
    return document_words(texts, limit=MAX_DOC_WORDS), {a for a in senders if is_address(a)}


def upgrade() -> None:
    op.add_column("search_docs", sa.Column("words", sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_search_docs_recent", "search_docs", ["updated_at", "ticket_id"])
    op.create_table(
        "search_senders",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("address", "ticket_id"),
    )
    op.create_index("ix_search_senders_ticket", "search_senders", ["ticket_id"])
    bind = op.get_bind()
    for (ticket_id,) in bind.execute(sa.text("SELECT ticket_id FROM search_docs ORDER BY ticket_id")).all():
        words, senders = _searched(bind, ticket_id)
        bind.execute(
            sa.text("UPDATE search_docs SET words = :words WHERE ticket_id = :ticket_id"),
            {"words": words, "ticket_id": ticket_id},
        )
        for address in sorted(senders):
            bind.execute(
                sa.text("INSERT INTO search_senders (address, ticket_id) VALUES (:address, :ticket_id)"),
                {"address": address, "ticket_id": ticket_id},
            )
    if bind.dialect.name != "postgresql":
        return
    available = bind.scalar(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"))
    if not available:
        log.warning("pg_trgm is not available on this server: searching conversations reads every document")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON search_docs USING gin (words gin_trgm_ops)")


def downgrade() -> None:
    op.drop_table("search_senders")
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.drop_index("ix_search_docs_recent", table_name="search_docs")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE search_docs DROP COLUMN words")  # SQLite 3.35+, no table rebuild
    else:
        op.drop_column("search_docs", "words")
