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

from services.chassis import prepared
from services.chassis.db import SessionFactory, make_engine
from services.chassis.prepared import Prepared
from services.tickets.models import outbox, reads, tickets, timeline
from tests.sql import statements

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


def _prepared_here(s: sa.orm.Session) -> dict[str, tuple[int, int]]:
    """This session's connection's prepared statements of ours: name -> (generic, custom) plans."""
    rows = s.execute(
        sa.text(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'helpdesk%'"
        )
    )
    return {name: (generic, custom) for name, generic, custom in rows}


def test_planned_once_answers_what_sqlalchemy_answers_every_time(db: SessionFactory) -> None:
    """Fixed values, given ones, an expanding IN of either, a literal ``%`` in the SQL, a datetime
    and a limit written into the text: the same rows as SQLAlchemy's the first time (when
    PostgreSQL prepares it) and after (when it runs the one generic plan it made), and on SQLite."""
    with db.transaction() as s:
        s.execute(TABLE.insert(), outbox_rows(6))
        s.execute(sa.update(TABLE).where(TABLE.c.event_id.in_(["e-1", "e-4"])).values(claimed_until=NOW))
    ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    statement = (
        sa.select(TABLE.c.id, TABLE.c.event_id, TABLE.c.claimed_until)
        .where(
            TABLE.c.event_type.like(sa.literal_column("'ticket%'")),
            TABLE.c.event_id.in_(["e-0", "e-1", "e-2", "e-4"]),
            TABLE.c.id.in_(ids) | (TABLE.c.claimed_until >= sa.bindparam("since")),
        )
        .order_by(TABLE.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    planned = Prepared(statement, plan_once=True, written=["limit"])
    with db.read() as s:
        every = list(s.scalars(sa.select(TABLE.c.id).order_by(TABLE.c.id)))
        asks = [
            {"ids": every[:1], "since": NOW, "limit": 10},
            {"ids": every[:3], "since": NOW + dt.timedelta(seconds=1), "limit": 10},
            {"ids": every[:1], "since": NOW, "limit": 1},
            {"ids": every[:1], "since": NOW, "limit": 10},
        ]
        for values in asks:
            expected = [tuple(r) for r in s.execute(statement, values).all()]
            assert [tuple(r) for r in planned.run(s, values).all()] == expected and expected
        if db.engine.dialect.name == "postgresql":
            plans = _prepared_here(s)
            assert len(plans) == 3  # one per length of the given list and value of the limit
            assert all(custom == 0 for _generic, custom in plans.values()), plans
            assert sum(generic for generic, _custom in plans.values()) == len(asks), plans


def test_each_connection_prepares_once_and_keeps_a_bounded_number(
    db: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection prepares a statement the first time it runs it, then only executes it; past
    ``PREPARED_PER_CONNECTION`` the least recently used goes, and comes back when run again. The
    cursor listeners see what ran: ``executed`` tells which statement an ``EXECUTE`` was."""
    monkeypatch.setattr(prepared, "PREPARED_PER_CONNECTION", 2)
    with db.transaction() as s:
        s.execute(TABLE.insert(), outbox_rows(3))
    by_event = [  # three statements (a LIMIT's value is a parameter: it would make one)
        Prepared(
            sa.select(TABLE.c.id).where(TABLE.c.event_id == sa.bindparam("e")).order_by(c), plan_once=True
        )
        for c in (TABLE.c.id, TABLE.c.event_id, TABLE.c.created_at)
    ]
    with statements(db.engine) as seen, db.read() as s:
        answers = [[p.run(s, {"e": f"e-{n}"}).scalar() for p in by_event[:2]] for n in range(3)]
        answers.append([p.run(s, {"e": "e-2"}).scalar() for p in (by_event[2], by_event[1], by_event[0])])
        held = _prepared_here(s) if db.engine.dialect.name == "postgresql" else {}
    ids = answers[0][0], answers[1][0], answers[2][0]
    assert answers == [[ids[0]] * 2, [ids[1]] * 2, [ids[2]] * 2, [ids[2]] * 3]
    ran = [sql for statement in seen if (sql := prepared.executed(statement)) is not None]
    ran = [sql for sql in ran if "pg_prepared_statements" not in sql]
    assert len(ran) == 9 and all(sql.startswith("SELECT outbox.id") for sql in ran), seen
    if db.engine.dialect.name != "postgresql":
        assert seen == ran  # nothing prepared on SQLite
        assert len(set(ran)) == 3
        return
    readied = [statement.split()[0] for statement in seen if prepared.executed(statement) is None]
    # the first two are prepared once; the third deallocates the first, which deallocates the third
    assert readied == ["PREPARE", "PREPARE", "DEALLOCATE", "DEALLOCATE"], seen
    assert len(held) == 2


def test_a_replaced_connection_prepares_again(db: SessionFactory) -> None:
    """The pool's replacement of a lost connection knows none of the old one's statements."""
    with db.transaction() as s:
        s.execute(TABLE.insert(), outbox_rows(2))
    count = Prepared(sa.select(sa.func.count()).select_from(TABLE), plan_once=True)
    with db.read() as s:
        assert count.run(s).scalar() == 2
        s.connection().invalidate()
    with db.read() as s:
        assert count.run(s).scalar() == 2
    with db.transaction() as s:  # rolled back: PostgreSQL keeps what it prepared, and so do we
        s.execute(TABLE.insert(), outbox_rows(1)[0] | {"event_id": "e-x"})
        assert count.run(s).scalar() == 3
        s.rollback()
    with db.read() as s:
        assert count.run(s).scalar() == 2


def test_planning_once_is_turned_off_by_its_variable() -> None:
    assert prepared.plan_once_enabled({}) and prepared.plan_once_enabled({"HELPDESK_PG_PLAN_ONCE": "1"})
    assert not prepared.plan_once_enabled({"HELPDESK_PG_PLAN_ONCE": "0"})


def test_a_written_parameter_must_be_an_integer(db: SessionFactory) -> None:
    """Its value goes into the SQL's text on PostgreSQL: anything but an integer is refused there."""
    limited = Prepared(
        sa.select(TABLE.c.id).limit(sa.bindparam("limit", type_=sa.Integer)),
        plan_once=True,
        written=["limit"],
    )
    with db.read() as s:
        assert limited.run(s, {"limit": 1}).all() == []
        if db.engine.dialect.name == "postgresql":
            with pytest.raises(ValueError, match="must be an integer"):
                limited.run(s, {"limit": "1; DROP TABLE outbox"})


def test_a_column_changing_type_under_a_prepared_statement_fails_it_once(db: SessionFactory) -> None:
    """A migration that changes a returned column's type while the service runs: PostgreSQL refuses
    the statement prepared before ("cached plan must not change result type"); that run fails,
    and the next prepares it again."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a prepared statement's plan exists only on PostgreSQL (SQLite runs the text)")
    with db.transaction() as s:
        s.execute(TABLE.insert(), outbox_rows(1))
    types = Prepared(sa.select(TABLE.c.event_type), plan_once=True)
    with db.read() as s:
        assert types.run(s).scalars() == ["ticket_created"]
    with db.engine.begin() as c:
        c.execute(sa.text("ALTER TABLE outbox ALTER COLUMN event_type TYPE text"))
    with db.read() as s:
        with pytest.raises(sa.exc.DBAPIError, match="cached plan must not change result type"):
            types.run(s)
    for _ in range(2):
        with db.read() as s:
            assert types.run(s).scalars() == ["ticket_created"]
