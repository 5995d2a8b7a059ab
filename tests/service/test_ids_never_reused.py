"""Ids the database numbers are never handed out twice, on SQLite as on PostgreSQL.

SQLite numbered a plain integer key from the largest id present, so the row after a deleted newest
one (a purged ticket, a deleted view) took its id while links, emails and other services' copies
still named the old row. Every service's surrogate-keyed tables are ``AUTOINCREMENT`` there now
(``services.chassis.db.ids_never_reused`` in the models, ``sqlite_ids_never_reused`` in each
service's migration), and the migration keeps the rows, the indexes and the rows of the tables
whose foreign keys cascade from a rebuilt one.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from deploy.migrate import upgrade
from services import registry
from services.chassis.db import make_engine, surrogate_keyed

pytestmark = pytest.mark.db

MIGRATED = [s.name for s in registry.SERVICES if s.migrations]
NOW = dt.datetime(2026, 12, 8, tzinfo=dt.UTC)


def _surrogate_keyed(service: str) -> set[str]:
    models = importlib.import_module(f"services.{service}.models")
    return {table.name for table in models.metadata.tables.values() if surrogate_keyed(table)}


@pytest.mark.parametrize("service", MIGRATED)
def test_every_numbered_table_of_a_service_is_autoincrement_in_its_models_and_after_its_migrations(
    service: str, make_db: Callable[..., str]
) -> None:
    models = importlib.import_module(f"services.{service}.models")
    numbered = _surrogate_keyed(service)
    assert "outbox" in numbered
    declared = {
        table.name
        for table in models.metadata.tables.values()
        if "AUTOINCREMENT" in str(CreateTable(table).compile(dialect=sqlite.dialect()))
    }
    assert declared == numbered
    engine = make_engine(make_db(service))
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            migrated = {
                name
                for name, sql in c.execute(
                    sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                )
                if "AUTOINCREMENT" in sql
            }
        assert migrated == numbered
    engine.dispose()


def test_the_newest_rows_id_is_not_given_again_once_it_is_deleted(make_db: Callable[..., str]) -> None:
    engine = make_engine(make_db("tickets"))
    insert = sa.text("INSERT INTO pipelines (label, position) VALUES ('p', 9)")
    with engine.begin() as c:
        c.execute(insert)
        first = c.execute(sa.text("SELECT max(id) FROM pipelines")).scalar_one()
        c.execute(sa.text("DELETE FROM pipelines WHERE id = :id"), {"id": first})
        c.execute(insert)
        second = c.execute(sa.text("SELECT max(id) FROM pipelines")).scalar_one()
    assert second > first
    engine.dispose()


_TICKET = sa.text(
    "INSERT INTO tickets (id, name, description, pipeline_id, stage_id, priority, priority_rank,"
    " source, created_by, created_at, updated_at, version, unread_seq, merge_count, sla_next_due_at,"
    " search_text) VALUES (:id, 'n', '', 1, 1, 'low', 0, 'api', 1, :now, :now, 1, 1, 0, :now, 'n')"
)
_TIMELINE = sa.text(
    "INSERT INTO ticket_timeline (ticket_id, type, actor_id, at) VALUES (:id, 'created', 1, :now)"
)
_FOLLOW = sa.text(
    "INSERT INTO ticket_followers (ticket_id, user_id, created_at, listed, ticket_stage_id,"
    " ticket_updated_at) VALUES (:id, 7, :now, :listed, 1, :now)"
)


def _schema(engine: sa.Engine) -> dict[str, str]:
    """Every index of the database by name: its definition as the database keeps it."""
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        else:
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        return {name: definition or "" for name, definition in c.execute(sa.text(query))}


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {
            table: c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("tickets", "ticket_timeline", "ticket_followers", "pipelines", "stages")
        }


def test_the_migration_keeps_rows_indexes_and_the_rows_cascading_from_a_rebuilt_table(
    make_db: Callable[..., str],
) -> None:
    url = make_db("tickets", "0022")
    engine = make_engine(url)
    with engine.begin() as c:
        for n in range(1, 41):
            c.execute(_TICKET, {"id": n, "now": NOW})
            c.execute(_TIMELINE, {"id": n, "now": NOW})
            c.execute(_FOLLOW, {"id": n, "now": NOW, "listed": True})
    before, indexes = _counts(engine), _schema(engine)
    assert before["tickets"] == before["ticket_timeline"] == before["ticket_followers"] == 40

    upgrade("tickets", url)

    assert _counts(engine) == before, "rows of the rebuilt tables, or of those cascading from them, went"
    assert _schema(engine) == indexes
    with engine.begin() as c:
        if engine.dialect.name == "sqlite":
            assert c.execute(sa.text("PRAGMA foreign_key_check")).all() == []
            assert c.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
        else:  # the rows above were given their ids: the sequence hands out the next
            c.execute(sa.text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 40)"))
        c.execute(sa.text("DELETE FROM tickets WHERE id = 40"))
        c.execute(sa.text(_TICKET.text.replace("(id, ", "(").replace("(:id, ", "(")), {"now": NOW})
        newest = c.execute(sa.text("SELECT max(id) FROM tickets")).scalar_one()
    assert newest == 41, "the deleted newest ticket's id was given again"
    engine.dispose()
