"""``chassis.prepared`` against SQLAlchemy itself, on SQLite and PostgreSQL: the statements the hot
paths run answer and write exactly what ``session.execute`` does, in the same transaction, with
the same errors and the same cursor events; what it cannot do faithfully it refuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, NoResultFound

from services.chassis.db import SessionFactory, make_engine
from services.chassis.prepared import Prepared
from services.tickets.models import outbox, reads, tickets, timeline

pytestmark = pytest.mark.db

NOW = dt.datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=dt.UTC)
TABLE = outbox.table


@pytest.fixture
def db(make_db: Callable[[str], str]) -> Iterator[SessionFactory]:
    factory = SessionFactory(make_engine(make_db("tickets")))
    yield factory
    factory.engine.dispose()


def ticket_row(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_id": 1,
        "stage_id": 1,
        "priority": "high",
        "source": "form",
        "created_by": 7,
        "created_at": NOW,
        "updated_at": NOW,
        "unread_seq": 1,
        "search_text": "a ticket\n",
    }


def a_ticket(db: SessionFactory) -> int:
    with db.transaction() as s:
        return int(s.execute(tickets.insert().returning(tickets.c.id), ticket_row("first")).scalar_one())


def outbox_rows(n: int) -> list[dict[str, Any]]:
    return [
        {"event_id": f"e-{i}", "event_type": "ticket_created", "payload": f'{{"n":{i}}}', "created_at": NOW}
        for i in range(n)
    ]


def test_an_insert_returning_answers_what_sqlalchemy_answers(db: SessionFactory) -> None:
    statement = tickets.insert().returning(*tickets.c)
    with db.transaction() as s:
        ours = Prepared(statement).run(s, ticket_row("ours")).one()
        theirs = s.execute(statement, ticket_row("theirs")).one()
    assert ours.id != theirs.id
    assert {**ours._mapping, "id": 0, "name": ""} == {**theirs._mapping, "id": 0, "name": ""}
    assert ours.description == ""  # a scalar Python-side default is filled in as SQLAlchemy does
    assert ours.priority_rank == theirs.priority_rank == 1
    assert ours.created_at == theirs.created_at and ours.created_at.microsecond == 123456
    assert ours._fields == tuple(c.key for c in tickets.c)


def test_the_rows_it_writes_read_back_through_sqlalchemy_like_its_own(db: SessionFactory) -> None:
    entry = {
        "ticket_id": a_ticket(db),
        "type": "created",
        "actor_id": 7,
        "at": NOW,
        "field": None,
        "old": None,
        "new": "x",
    }
    with db.transaction() as s:
        Prepared(timeline.insert()).many(s, [entry, {**entry, "type": "ours"}])
        s.execute(timeline.insert(), [{**entry, "type": "theirs"}])
    with db.read() as s:
        found = s.execute(
            sa.select(timeline.c.type, timeline.c.at, timeline.c.new).order_by(timeline.c.id)
        ).all()
    assert [tuple(r) for r in found] == [(t, found[2].at, "x") for t in ("created", "ours", "theirs")]


def test_a_select_with_fixed_limits_and_datetimes_matches_sqlalchemy(db: SessionFactory) -> None:
    with db.transaction() as s:
        s.execute(TABLE.insert(), outbox_rows(5))
        s.execute(sa.update(TABLE).where(TABLE.c.event_id == "e-1").values(claimed_until=NOW))
    claim = (
        sa.select(TABLE.c.id, TABLE.c.event_type, TABLE.c.claimed_until)
        .where(TABLE.c.published_at.is_(None))
        .order_by(TABLE.c.id)
        .limit(3)
    )
    latest = sa.select(sa.func.max(TABLE.c.claimed_until)).where(TABLE.c.created_at <= sa.bindparam("now"))
    with db.read() as s:
        assert [tuple(r) for r in Prepared(claim).run(s).all()] == [tuple(r) for r in s.execute(claim).all()]
        ours = Prepared(latest).run(s, {"now": NOW}).scalar()
        assert ours == s.scalar(latest, {"now": NOW}) and ours is not None
        assert Prepared(latest).run(s, {"now": NOW - dt.timedelta(days=1)}).scalar() is None


def test_an_expanding_in_gets_one_placeholder_per_element_for_every_length(db: SessionFactory) -> None:
    mark = Prepared(
        sa.update(TABLE)
        .where(TABLE.c.id.in_(sa.bindparam("ids", expanding=True)))
        .values(published_at=sa.bindparam("at"), claimed_until=None)
    )
    with db.transaction() as s:
        s.execute(TABLE.insert(), outbox_rows(6))
        s.execute(sa.update(TABLE).values(claimed_until=NOW))
        ids = list(s.scalars(sa.select(TABLE.c.id).order_by(TABLE.c.id)))
        assert mark.run(s, {"ids": ids[:1], "at": NOW}).rowcount == 1
        assert mark.run(s, {"ids": ids[2:5], "at": NOW}).rowcount == 3
        assert mark.run(s, {"ids": [ids[5], 10**9], "at": NOW}).rowcount == 1
    with db.read() as s:
        states = s.execute(sa.select(TABLE.c.published_at, TABLE.c.claimed_until).order_by(TABLE.c.id)).all()
    assert [(p is not None, c is not None) for p, c in states] == [
        (True, False),
        (False, True),
        (True, False),
        (True, False),
        (True, False),
        (True, False),
    ]


def test_it_writes_in_the_sessions_transaction(db: SessionFactory) -> None:
    insert = Prepared(reads.insert())
    ticket = a_ticket(db)
    with pytest.raises(RuntimeError), db.transaction() as s:
        insert.run(s, {"ticket_id": ticket, "user_id": 1, "read_seq": 1})
        assert s.scalar(sa.select(sa.func.count()).select_from(reads)) == 1  # seen inside
        raise RuntimeError("roll back")
    with db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(reads)) == 0


def test_a_driver_error_is_sqlalchemys_and_changes_nothing(db: SessionFactory) -> None:
    insert = Prepared(reads.insert())
    ticket = a_ticket(db)
    with db.transaction() as s:
        insert.run(s, {"ticket_id": ticket, "user_id": 1, "read_seq": 1})
    with pytest.raises(IntegrityError), db.transaction() as s:
        insert.run(s, {"ticket_id": ticket, "user_id": 2, "read_seq": 1})
        insert.run(s, {"ticket_id": ticket, "user_id": 1, "read_seq": 2})  # the same (ticket, user) again
    with db.read() as s:
        assert s.execute(sa.select(reads.c.user_id, reads.c.read_seq)).all() == [(1, 1)]


def test_cursor_listeners_see_each_statement(db: SessionFactory) -> None:
    seen: list[tuple[str, bool]] = []

    def note(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append((statement.split()[0], many))

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        with db.transaction() as s:
            Prepared(TABLE.insert()).many(s, outbox_rows(3))
            Prepared(sa.select(TABLE.c.id)).run(s).all()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    many_insert = ("INSERT", db.engine.dialect.name == "sqlite")  # PostgreSQL: SQLAlchemy's own batch
    assert seen[0][0] == "INSERT" and (seen[0] == many_insert or not many_insert[1])
    assert seen[-1] == ("SELECT", False)


def test_what_it_cannot_do_faithfully_is_refused(db: SessionFactory) -> None:
    metadata = sa.MetaData()
    stamped = sa.Table(
        "stamped",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, default=lambda: NOW),
    )
    with db.transaction() as s:
        with pytest.raises(ValueError, match="made at execution"):
            Prepared(stamped.insert()).run(s, {"id": 1})
        with pytest.raises(ValueError, match="no value for parameter"):
            Prepared(sa.select(TABLE.c.id).where(TABLE.c.created_at < sa.bindparam("now"))).run(s, {})
        with pytest.raises(ValueError, match="empty"):
            Prepared(sa.delete(TABLE).where(TABLE.c.id.in_(sa.bindparam("ids", expanding=True)))).run(
                s, {"ids": []}
            )
        with pytest.raises(NoResultFound):
            Prepared(sa.select(TABLE.c.id)).run(s).one()
