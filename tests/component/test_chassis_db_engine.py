"""``chassis.db.make_engine`` on the real database kinds: what every connection is set up with."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from services.chassis.db import make_engine

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
