"""``chassis.db.statements_by``: a session's statements end by its caller's deadline, on the real
database kinds. A slow statement under a near deadline is ended by the database (PostgreSQL's
``statement_timeout``, SQLite's progress handler) and raises ``DeadlineExceeded``; a session
opened past its deadline runs nothing; what a cut transaction wrote is rolled back; the
connection serves the next session in full, whose own limit (or none) it then has."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from services.chassis import db
from services.chassis.db import SessionFactory, make_engine, statements_by
from services.chassis.errors import DeadlineExceeded

pytestmark = pytest.mark.db

SLOW = 5.0  # seconds a slow statement would run if nothing ended it


@pytest.fixture
def sessions(make_db: Callable[[str], str]) -> Iterator[SessionFactory]:
    engine = make_engine(make_db("notifications"))
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE scratch (n INTEGER)"))
    yield SessionFactory(engine)
    engine.dispose()


def _slow(session: sa.orm.Session, seconds: float = SLOW) -> None:
    """A statement that runs about ``seconds`` (PostgreSQL) or many seconds (SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_sleep(:s)"), {"s": seconds})
    else:
        session.execute(
            sa.text(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000)"
                " SELECT count(*) FROM c"
            )
        )


def test_a_slow_read_is_ended_at_its_deadline_and_the_connection_serves_on(sessions: SessionFactory) -> None:
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded), statements_by(time.time() + 0.3), sessions.read() as s:
        _slow(s)
    assert time.monotonic() - began < 0.3 + db.STATEMENT_SLACK + 1.0
    with sessions.read() as s:  # no deadline: the limit is gone, a second-long statement runs
        if s.get_bind().dialect.name == "postgresql":
            assert s.execute(sa.text("SHOW statement_timeout")).scalar_one() == "0"
            s.execute(sa.text("SELECT pg_sleep(1.2)"))
        assert s.execute(sa.text("SELECT 1")).scalar_one() == 1


def test_a_transaction_cut_at_its_deadline_keeps_nothing(sessions: SessionFactory) -> None:
    with pytest.raises(DeadlineExceeded), statements_by(time.time() + 0.3), sessions.transaction() as s:
        s.execute(sa.text("INSERT INTO scratch (n) VALUES (1)"))
        _slow(s)
    with sessions.read() as s:
        assert s.execute(sa.text("SELECT count(*) FROM scratch")).scalar_one() == 0


def test_a_session_opened_past_its_deadline_runs_nothing(sessions: SessionFactory) -> None:
    with pytest.raises(DeadlineExceeded, match="passed before"), statements_by(time.time() - 0.01):
        with sessions.transaction() as s:
            s.execute(sa.text("INSERT INTO scratch (n) VALUES (1)"))
    with sessions.read() as s:
        assert s.execute(sa.text("SELECT count(*) FROM scratch")).scalar_one() == 0


def test_sessions_with_deadlines_alike_set_the_connections_limit_once(sessions: SessionFactory) -> None:
    """Requests of the same timeout reuse the limit their connection has: no SET each time."""
    if sessions.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's statement_timeout; SQLite's handler costs no round trip")
    seen = []
    for _ in range(3):
        with statements_by(time.time() + 5.0), sessions.read() as s:
            seen.append(s.execute(sa.text("SHOW statement_timeout")).scalar_one())
            s.execute(sa.text("SELECT 1"))
    assert len(set(seen)) == 1 and seen[0] != "0", seen  # one pooled connection, set once
    assert 5000 <= _ms(seen[0]) <= 5000 + db.STATEMENT_SLACK * 1000
    with statements_by(time.time() + 30.0), sessions.read() as s:  # far off its limit: set anew
        assert _ms(s.execute(sa.text("SHOW statement_timeout")).scalar_one()) >= 30000


def test_a_statement_within_its_deadline_is_not_disturbed(sessions: SessionFactory) -> None:
    with statements_by(time.time() + 10.0), sessions.transaction() as s:
        s.execute(sa.text("INSERT INTO scratch (n) VALUES (2)"))
        if s.get_bind().dialect.name == "postgresql":
            s.execute(sa.text("SELECT pg_sleep(0.3)"))
    with sessions.read() as s:
        assert s.execute(sa.text("SELECT n FROM scratch")).scalars().all() == [2]


def _ms(shown: str) -> float:
    """``SHOW statement_timeout``'s text (``5490ms``, ``5s``, ``1min``) in milliseconds."""
    for unit, factor in (("ms", 1), ("min", 60000), ("s", 1000)):
        if shown.endswith(unit):
            return float(shown.removesuffix(unit)) * factor
    return float(shown)
