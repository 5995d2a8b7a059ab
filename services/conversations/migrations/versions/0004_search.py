"""search: the per-ticket text index behind reply recommendations

``search_docs`` holds one document of stems per ticket, ``search_terms`` how many documents
hold each stem; the full-text index over the documents is each
database's own: on SQLite an external-content FTS5 table ``search_fts`` kept in step by
triggers, on PostgreSQL a stored generated ``tsvector`` (problem weighted A, answers B) with a
GIN index. Written by hand.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(problem_terms, answer_terms, content='search_docs', "
    "content_rowid='ticket_id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN "
    "INSERT INTO search_fts(rowid, problem_terms, answer_terms) "
    "VALUES (new.ticket_id, new.problem_terms, new.answer_terms); END",
    "CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, problem_terms, answer_terms) "
    "VALUES ('delete', old.ticket_id, old.problem_terms, old.answer_terms); END",
    "CREATE TRIGGER search_docs_au AFTER UPDATE OF problem_terms, answer_terms ON search_docs BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, problem_terms, answer_terms) "
    "VALUES ('delete', old.ticket_id, old.problem_terms, old.answer_terms); "
    "INSERT INTO search_fts(rowid, problem_terms, answer_terms) "
    "VALUES (new.ticket_id, new.problem_terms, new.answer_terms); END",
]
POSTGRES_TSV = [
    "ALTER TABLE search_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', problem_terms), 'A') || "
    "setweight(to_tsvector('simple', answer_terms), 'B')) STORED",
    "CREATE INDEX ix_search_docs_tsv ON search_docs USING gin (tsv)",
]


def upgrade() -> None:
    op.create_table(
        "search_docs",
        sa.Column("ticket_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("problem_terms", sa.Text(), nullable=False),
        sa.Column("answer_terms", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    op.create_table(
        "search_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("docs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )
    for statement in SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_TSV:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("search_docs_au", "search_docs_ad", "search_docs_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_terms")
    op.drop_table("search_docs")
