"""``chassis.db.guard`` orders transactions on the real database kinds: while one holds a table's
guard exclusive, another cannot take it (shared or exclusive) until the first commits; PostgreSQL
lets shared holders run together. The waiting side is given a short lock timeout, so a guard that
did not hold shows as a transaction that got through."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from services.chassis.db import SessionFactory, guard, make_engine
from services.notifications.models import merges

pytestmark = pytest.mark.db


@pytest.fixture
def db(make_db: Callable[[str], str]) -> Iterator[SessionFactory]:
    factory = SessionFactory(make_engine(make_db("notifications")))
    yield factory
    factory.engine.dispose()


def impatient(db: SessionFactory) -> sa.orm.Session:
    """A session that gives up on a lock after 0.3 s instead of waiting."""
    s = sa.orm.Session(db.engine)
    if db.engine.dialect.name == "postgresql":
        s.execute(sa.text("SET lock_timeout = '300ms'"))
    else:
        s.connection().exec_driver_sql("PRAGMA busy_timeout = 300")
    return s


@pytest.mark.parametrize("second_exclusive", [False, True])
def test_an_exclusive_guard_keeps_others_out_until_it_commits(
    db: SessionFactory, second_exclusive: bool
) -> None:
    with db.transaction() as first:
        guard(first, merges, exclusive=True)
        waiting = impatient(db)
        with pytest.raises(OperationalError):
            guard(waiting, merges, exclusive=second_exclusive)
        waiting.close()
    after = impatient(db)
    guard(after, merges, exclusive=second_exclusive)
    after.rollback()
    after.close()


def test_shared_guards_run_together_on_postgresql_and_keep_out_an_exclusive_one(db: SessionFactory) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: every guard there is exclusive (the test above)")
    with db.transaction() as first:
        guard(first, merges, exclusive=False)
        second = impatient(db)
        guard(second, merges, exclusive=False)
        writer = impatient(db)
        with pytest.raises(OperationalError):
            guard(writer, merges, exclusive=True)
        for s in (second, writer):
            s.rollback()
            s.close()
