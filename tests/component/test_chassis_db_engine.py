"""``chassis.db.make_engine`` and its sessions on the real database kinds: what every connection is set
up with, how a read session runs, when a pooled connection is pinged, and ``among``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from services.chassis import db
from services.chassis.db import IdList, SessionFactory, among, make_engine
from services.notifications.models import merges

pytestmark = pytest.mark.db


@pytest.fixture
def engine(make_db: Callable[[str], str]) -> Iterator[sa.Engine]:
    made = make_engine(make_db("notifications"))
    yield made
    made.dispose()


def test_postgresql_sessions_plan_without_parallel_workers(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL planner setting: SQLite plans no parallel workers")
    with engine.connect() as c:
        assert c.execute(sa.text("SHOW max_parallel_workers_per_gather")).scalar_one() == "0"


def test_sqlite_connections_keep_a_write_ahead_log_and_foreign_keys(engine: sa.Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 15000


@pytest.fixture
def sessions(engine: sa.Engine) -> SessionFactory:
    return SessionFactory(engine)


def _two_clocks(s: sa.orm.Session) -> tuple[Any, Any]:
    """``now()`` of two statements 20 ms apart: the same inside a transaction, which it dates."""
    first = s.execute(sa.text("SELECT now()")).scalar_one()
    time.sleep(0.02)
    return first, s.execute(sa.text("SELECT now()")).scalar_one()


def test_a_read_session_on_postgresql_runs_outside_a_transaction_and_leaves_none_behind(
    sessions: SessionFactory,
) -> None:
    if sessions.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's autocommit reads; SQLite's driver opens no transaction for a SELECT")
    with sessions.read() as s:
        first, second = _two_clocks(s)
        assert second > first  # each statement is dated on its own: no BEGIN was sent
    with sessions.transaction() as s:  # the same pooled connection, back in transactions
        first, second = _two_clocks(s)
        assert second == first
        assert s.execute(sa.text("SELECT txid_current_if_assigned() IS NULL")).scalar_one()
    with sessions.read() as s:
        s.execute(sa.text("SELECT 1"))
        with pytest.raises(sa.exc.DBAPIError):
            s.execute(sa.text("SELECT 1/0"))
    with sessions.transaction() as s:  # a failed read left the connection usable
        assert s.execute(sa.text("SELECT 2")).scalar_one() == 2


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(engine: sa.Engine, pid: int) -> None:
    other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    with other.connect() as c:
        assert c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    other.dispose()
    time.sleep(0.2)  # the backend is gone once its process has exited


@pytest.fixture
def ping_window(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Callable[[float], sa.Engine]:
    """The PostgreSQL engine, with the window in which a pooled connection goes unpinged set."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the ping of pooled PostgreSQL connections")

    def set_window(seconds: float) -> sa.Engine:
        monkeypatch.setattr(db, "PING_AFTER_IDLE", seconds)
        return engine

    return set_window


def test_a_postgresql_connection_idle_past_the_ping_window_is_checked_and_replaced(
    ping_window: Callable[[float], sa.Engine],
) -> None:
    engine = ping_window(0.1)
    sessions = SessionFactory(engine)
    alive = _backend(engine)
    time.sleep(0.2)  # pinged, alive: handed out as it was, with no transaction left open by the ping
    with sessions.read() as s:
        assert s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == alive
        first, second = _two_clocks(s)
        assert second > first
    dead = _backend(engine)
    _terminate(engine, dead)  # as a server restart does to every pooled connection
    time.sleep(0.2)  # past the window: pinged at checkout, found dead, replaced
    assert _backend(engine) != dead


def test_a_postgresql_connection_used_within_the_ping_window_is_not_pinged(
    ping_window: Callable[[float], sa.Engine],
) -> None:
    engine = ping_window(60.0)
    dead = _backend(engine)
    _terminate(engine, dead)
    with pytest.raises(sa.exc.OperationalError), engine.connect() as c:  # no ping: the statement fails
        c.execute(sa.text("SELECT 1"))
    assert _backend(engine) != dead  # the failure discarded it; the next checkout connects afresh


def test_among_is_a_comparison_an_index_serves_on_either_database(sessions: SessionFactory) -> None:
    """``among`` in a WHERE: SQLite writes a bare boolean function as ``(...) = 1``, which it
    answers by scanning the table; as a comparison its index is searched."""
    statement = (
        sa.select(merges.c.ticket_id)
        .where(among(merges.c.ticket_id, sa.bindparam("ids", type_=IdList())))
        .order_by(merges.c.ticket_id)
    )
    with sessions.read() as s:
        sql = str(statement.compile(dialect=s.get_bind().dialect))
        assert "= 1" not in sql
        if s.get_bind().dialect.name == "sqlite":
            plan = s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("[1, 2]",)).all()
            assert any("SEARCH" in row[-1] for row in plan), plan
        assert s.execute(statement, {"ids": [1, 2]}).all() == []


def test_holds_text_finds_what_an_escaped_like_finds_on_either_database(sessions: SessionFactory) -> None:
    """``holds_text`` (``strpos``/``instr``) and ``LIKE '%' || like_text(part) || '%'`` select the
    same texts for parts with LIKE's wildcards, its escape character, case and non-ASCII letters:
    a page planned once checks a search's words with the one, its matching finds them with the
    other."""
    texts = ["50% off", "5 0", "a_b", "axb", "c/d", "C/D", "łódź", "lodz", "%", "", "100%_/"]
    parts = ["%", "_", "/", "0%", "a_b", "c/d", "łódź", "%_/", "x", "C"]
    values = sa.union_all(*(sa.select(sa.literal(t, sa.Text).label("body")) for t in texts)).subquery("texts")
    part = sa.bindparam("part", type_=sa.Text)
    holding = sa.select(values.c.body).where(db.holds_text(values.c.body, part))
    liking = sa.select(values.c.body).where(
        values.c.body.contains(sa.bindparam("escaped"), escape=db.LIKE_ESCAPE)
    )
    with sessions.read() as s:
        if s.get_bind().dialect.name == "sqlite":
            s.execute(sa.text("PRAGMA case_sensitive_like = ON"))  # as a lower-cased column compares
        for text in parts:
            held = sorted(s.execute(holding, {"part": text}).scalars())
            liked = sorted(s.execute(liking, {"escaped": db.like_text(text)}).scalars())
            assert held == liked == sorted(t for t in texts if text in t), text
        if s.get_bind().dialect.name == "sqlite":
            s.execute(sa.text("PRAGMA case_sensitive_like = OFF"))
