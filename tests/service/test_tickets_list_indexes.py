"""Migration 0012 of tickets: the priority index holds listed tickets only, with owner and closed_at.

The priority filter's capped count and ``sort=priority`` go through ``ix_tickets_priority_listed``
on both databases, and on PostgreSQL from the index alone (no table visit to skip deleted or merged
tickets, nor to check an owned-only agent's owner or the open view); downgrade puts 0003's index back.
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


def _indexes(engine: sa.Engine) -> dict[str, str]:
    """Each index of ``tickets`` by name: its definition as the database keeps it."""
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets'"
        else:
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'"
        return {name: definition or "" for name, definition in c.execute(sa.text(query)).all()}


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
    columns = definition[definition.index("(") + 1 : definition.index(")")]
    assert [c.strip().strip('"') for c in columns.split(",")] == [
        "priority_rank",
        "id",
        "owner_id",
        "closed_at",
    ]
    assert "deleted_at is null" in definition and "merged_into_id is null" in definition

    count = sa.text(
        "SELECT count(*) FROM (SELECT 1 FROM tickets WHERE deleted_at IS NULL AND merged_into_id IS NULL"
        " AND (owner_id = 7 OR owner_id IS NULL) AND priority_rank = :rank AND closed_at IS NULL LIMIT 1001)"
        " AS capped"
    )
    urgent = PRIORITY_RANK["urgent"]
    listed = [r for r in rows if r["deleted"] is None and r["id"] not in (3, 7)]
    expected = sum(1 for r in listed if r["rank"] == urgent and r["closed"] is None)
    if engine.dialect.name == "postgresql":  # as at any size after autovacuum: statistics, all-visible pages
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE tickets"))
    with engine.connect() as c:
        assert c.execute(count, {"rank": urgent}).scalar_one() == expected
        if engine.dialect.name == "postgresql":  # a table this small is read whole unless told
            c.execute(sa.text("SET enable_seqscan = off"))
            c.execute(sa.text("SET enable_bitmapscan = off"))
            plan = "\n".join(c.execute(sa.text("EXPLAIN " + str(count)), {"rank": urgent}).scalars())
        else:
            plan = "\n".join(
                str(row[-1])
                for row in c.execute(sa.text("EXPLAIN QUERY PLAN " + str(count)), {"rank": urgent})
            )
    assert "ix_tickets_priority_listed" in plan, plan
    if engine.dialect.name == "postgresql":  # SQLite reads each entry's row for the predicate's columns
        assert "Index Only Scan" in plan, plan

    command.downgrade(alembic_config(registry.service("tickets"), url), "0011")
    found = _indexes(engine)
    assert "ix_tickets_priority_listed" not in found and "ix_tickets_priority" in found
    engine.dispose()
