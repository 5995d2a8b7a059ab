"""``chassis.group_commit`` on the real database kinds: works handed in together by green threads
share one transaction, and each still behaves as if it had run alone (its own result, its own
error, its own trace, nothing kept twice)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import eventlet
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.chassis.db import SessionFactory, make_engine
from services.chassis.group_commit import MAX_GROUP, CommitGroup

pytestmark = pytest.mark.db

metadata = sa.MetaData()
rows = sa.Table(
    "group_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(50), nullable=False, unique=True),
    sa.Column("seen_before", sa.Integer, nullable=False),
)
caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="nobody")


@pytest.fixture
def db(make_db: Callable[[str], str]) -> Iterator[SessionFactory]:
    factory = SessionFactory(make_engine(make_db("notifications")))
    metadata.create_all(factory.engine)
    yield factory
    factory.engine.dispose()


@pytest.fixture
def commits(db: SessionFactory) -> list[int]:
    """One entry per committed transaction on ``db``."""
    seen: list[int] = []
    sa.event.listen(db.engine, "commit", lambda _conn: seen.append(1))
    return seen


def insert(name: str) -> Callable[[Session], dict[str, Any]]:
    """A work inserting a row named ``name`` that records how many rows it saw, and who asked."""

    def work(s: Session) -> dict[str, Any]:
        before = s.scalar(sa.select(sa.func.count()).select_from(rows))
        s.execute(rows.insert().values(name=name, seen_before=before))
        return {"name": name, "seen_before": before, "caller": caller.get()}

    return work


def hand_in(db: SessionFactory | CommitGroup, works: list[tuple[str, Callable[[Session], Any]]]) -> list[Any]:
    """Each work handed in by a green thread of its own, all scheduled before any runs (a burst a
    consumer took in one read); each thread's outcome, the value or the exception, in order."""

    def one(who: str, work: Callable[[Session], Any]) -> Any:
        caller.set(who)
        try:
            return db.grouped(work) if isinstance(db, SessionFactory) else db.run(work)
        except Exception as exc:
            return exc

    threads = [eventlet.spawn(one, who, work) for who, work in works]
    return [thread.wait() for thread in threads]


def stored(db: SessionFactory) -> list[tuple[str, int]]:
    with db.read() as s:
        return [(r.name, r.seen_before) for r in s.execute(sa.select(rows).order_by(rows.c.id))]


def test_a_burst_shares_one_commit_and_each_gets_its_own_answer_in_order(
    db: SessionFactory, commits: list[int]
) -> None:
    answers = hand_in(db, [(f"caller-{i}", insert(f"row-{i}")) for i in range(5)])
    assert answers == [{"name": f"row-{i}", "seen_before": i, "caller": f"caller-{i}"} for i in range(5)]
    assert stored(db) == [(f"row-{i}", i) for i in range(5)]
    assert len(commits) == 1


def test_a_work_alone_commits_at_once(db: SessionFactory, commits: list[int]) -> None:
    assert db.grouped(insert("only")) == {"name": "only", "seen_before": 0, "caller": "nobody"}
    assert stored(db) == [("only", 0)]
    assert len(commits) == 1


def test_a_failing_work_fails_alone_and_its_group_mates_commit_once(
    db: SessionFactory, commits: list[int]
) -> None:
    def refuse(s: Session) -> None:
        s.execute(rows.insert().values(name="refused", seen_before=-1))
        raise ValueError("bad input")

    answers = hand_in(db, [("a", insert("a")), ("b", refuse), ("c", insert("c")), ("d", insert("a"))])
    assert answers[0] == {"name": "a", "seen_before": 0, "caller": "a"}
    assert isinstance(answers[1], ValueError) and str(answers[1]) == "bad input"
    assert answers[2]["name"] == "c" and answers[2]["caller"] == "c"
    assert isinstance(answers[3], IntegrityError)  # its own unique clash, met alone
    assert sorted(name for name, _ in stored(db)) == ["a", "c"]  # nothing of the group, nothing twice
    assert len(commits) == 2  # a and c alone; the group and the failing works rolled back


def test_a_group_is_bounded_and_the_rest_make_the_next(db: SessionFactory, commits: list[int]) -> None:
    count = MAX_GROUP + 3
    answers = hand_in(db, [(str(i), insert(f"row-{i}")) for i in range(count)])
    assert [a["seen_before"] for a in answers] == list(range(count))
    assert len(commits) == 2


def test_works_handed_in_while_a_group_runs_make_the_next_group(
    db: SessionFactory, commits: list[int]
) -> None:
    late: list[Any] = []

    def first(s: Session) -> dict[str, Any]:
        late.append(eventlet.spawn(lambda: db.grouped(insert("late"))))
        eventlet.sleep(0.01)  # the late work is handed in while this group runs
        return insert("first")(s)

    assert db.grouped(first)["seen_before"] == 0
    assert late[0].wait()["seen_before"] == 1
    assert len(commits) == 2


def test_a_runner_that_fails_before_its_group_leaves_every_work_to_run_alone(
    db: SessionFactory, commits: list[int]
) -> None:
    def broken_gather() -> None:
        raise RuntimeError("the runner died")

    answers = hand_in(CommitGroup(db, gather=broken_gather), [(str(i), insert(f"row-{i}")) for i in range(3)])
    assert [a["name"] for a in answers] == ["row-0", "row-1", "row-2"]
    assert len(commits) == 3
