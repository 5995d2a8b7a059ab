"""Migrations 0012 and 0013 of tickets: list indexes that answer from the index alone.

0012: the priority filter's capped count and ``sort=priority`` go through
``ix_tickets_priority_listed`` on both databases, and on PostgreSQL from the index alone (no table
visit to skip deleted or merged tickets, nor to check an owned-only agent's owner or the open
view). 0013: a user's followed tickets are read from ``ix_ticket_followers_user_ticket`` alone.
Each downgrade puts the index it replaced back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic import command

from deploy.migrate import alembic_config, upgrade
from services import registry
from services.chassis.db import make_engine
from services.tickets.domain import PRIORITY_RANK

pytestmark = pytest.mark.db

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
PRIORITIES = ("low", "medium", "high", "urgent")


def _indexes(engine: sa.Engine, table: str = "tickets") -> dict[str, str]:
    """Each index of ``table`` by name: its definition as the database keeps it."""
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :table"
        else:
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :table"
        return {name: definition or "" for name, definition in c.execute(sa.text(query), {"table": table})}


def _columns(definition: str) -> list[str]:
    inside = definition[definition.index("(") + 1 : definition.index(")")]
    return [c.strip().strip('"') for c in inside.lower().split(",")]


def _plan(engine: sa.Engine, query: sa.TextClause, values: dict[str, object]) -> str:
    """The plan of ``query`` once statistics are fresh; on PostgreSQL with table scans priced out
    (a test's table is small enough to read whole)."""
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            rows = c.execute(sa.text("EXPLAIN QUERY PLAN " + str(query)), values)
            return "\n".join(str(row[-1]) for row in rows)
        c.execute(sa.text("SET enable_seqscan = off"))
        c.execute(sa.text("SET enable_bitmapscan = off"))
        return "\n".join(c.execute(sa.text("EXPLAIN " + str(query)), values).scalars())


def _vacuum(engine: sa.Engine, table: str) -> None:
    """As autovacuum leaves a table at any size: statistics, pages marked all-visible."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text(f"VACUUM ANALYZE {table}"))


def test_migration_0012_keeps_listed_tickets_and_owners_in_the_priority_index(
    make_db: Callable[..., str],
) -> None:
    url = make_db("tickets", "0011")
    engine = make_engine(url)
    insert = sa.text(
        "INSERT INTO tickets (id, name, description, pipeline_id, stage_id, priority, priority_rank,"
        " owner_id, source, created_by, created_at, updated_at, closed_at, deleted_at, merged_into_id,"
        " version, unread_seq, merge_count, sla_next_due_at, search_text)"
        " VALUES (:id, 'n', '', 1, 1, :priority, :rank, :owner, 'api', 1, :now, :now, :closed, :deleted,"
        " NULL, 1, 1, 0, :now, 'n')"
    )
    rows = [
        {
            "id": n,
            "priority": PRIORITIES[n % 4],
            "rank": PRIORITY_RANK[PRIORITIES[n % 4]],
            "owner": None if n % 3 == 0 else 7,
            "closed": NOW if n % 5 == 1 else None,
            "deleted": NOW if n % 10 == 0 else None,
            "now": NOW,
        }
        for n in range(1, 201)
    ]
    with engine.begin() as c:
        c.execute(insert, rows)
        c.execute(sa.text("UPDATE tickets SET merged_into_id = 1 WHERE id IN (3, 7)"))
    upgrade("tickets", url)

    found = _indexes(engine)
    assert "ix_tickets_priority" not in found
    definition = found["ix_tickets_priority_listed"].lower()
    assert _columns(definition) == ["priority_rank", "id", "owner_id", "closed_at"]
    assert "deleted_at is null" in definition and "merged_into_id is null" in definition

    count = sa.text(
        "SELECT count(*) FROM (SELECT 1 FROM tickets WHERE deleted_at IS NULL AND merged_into_id IS NULL"
        " AND (owner_id = 7 OR owner_id IS NULL) AND priority_rank = :rank AND closed_at IS NULL LIMIT 1001)"
        " AS capped"
    )
    urgent = PRIORITY_RANK["urgent"]
    listed = [r for r in rows if r["deleted"] is None and r["id"] not in (3, 7)]
    expected = sum(1 for r in listed if r["rank"] == urgent and r["closed"] is None)
    _vacuum(engine, "tickets")
    with engine.connect() as c:
        assert c.execute(count, {"rank": urgent}).scalar_one() == expected
    plan = _plan(engine, count, {"rank": urgent})
    assert "ix_tickets_priority_listed" in plan, plan
    if engine.dialect.name == "postgresql":  # SQLite reads each entry's row for the predicate's columns
        assert "Index Only Scan" in plan, plan

    command.downgrade(alembic_config(registry.service("tickets"), url), "0011")
    found = _indexes(engine)
    assert "ix_tickets_priority_listed" not in found and "ix_tickets_priority" in found
    engine.dispose()


def test_migration_0013_reads_a_users_followed_tickets_from_one_index(make_db: Callable[..., str]) -> None:
    url = make_db("tickets", "0012")
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO tickets (id, name, description, pipeline_id, stage_id, priority, priority_rank,"
                " source, created_by, created_at, updated_at, version, unread_seq, merge_count,"
                " sla_next_due_at, search_text) VALUES (:id, 'n', '', 1, 1, 'low', 0, 'api', 1, :now, :now,"
                " 1, 1, 0, :now, 'n')"
            ),
            [{"id": n, "now": NOW} for n in range(1, 301)],
        )
        c.execute(
            sa.text("INSERT INTO ticket_followers (ticket_id, user_id, created_at) VALUES (:t, :u, :now)"),
            [{"t": n, "u": 1 + n % 30, "now": NOW} for n in range(1, 301)],
        )
    upgrade("tickets", url)

    found = _indexes(engine, "ticket_followers")
    assert "ix_ticket_followers_user_id" not in found
    assert _columns(found["ix_ticket_followers_user_ticket"]) == ["user_id", "ticket_id"]
    followed = sa.text("SELECT ticket_id FROM ticket_followers WHERE user_id = :user")
    _vacuum(engine, "ticket_followers")
    with engine.connect() as c:
        assert sorted(c.execute(followed, {"user": 8}).scalars()) == list(range(7, 301, 30))
    plan = _plan(engine, followed, {"user": 8})
    assert "ix_ticket_followers_user_ticket" in plan, plan
    assert ("Index Only Scan" if engine.dialect.name == "postgresql" else "COVERING INDEX") in plan, plan

    command.downgrade(alembic_config(registry.service("tickets"), url), "0012")
    found = _indexes(engine, "ticket_followers")
    assert "ix_ticket_followers_user_ticket" not in found and "ix_ticket_followers_user_id" in found
    engine.dispose()
