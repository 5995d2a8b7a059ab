"""Database engines and sessions for SQLAlchemy 2, SQLite or PostgreSQL by URL.

SQLite is the embedded default (one file per service, WAL, a busy timeout);
PostgreSQL is chosen by giving a ``postgresql+psycopg2://`` URL (psycopg2 is the
driver that cooperates with eventlet). Engines are created when a container
starts, never at import time.
"""

from __future__ import annotations

import contextvars
import json
import math
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from sqlalchemy import ColumnElement, Engine, MetaData, Table, create_engine, event, exc, false, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean, Integer, Text, TypeDecorator, TypeEngine

from services.chassis import config as cfg
from services.chassis.consuming import DEADLINE_KEY, parse_deadline
from services.chassis.errors import DeadlineExceeded
from services.chassis.group_commit import CommitGroup
from services.chassis.prepared import PLAN_ONCE, PLAN_ONCE_SETTINGS

T = TypeVar("T")

OUTBOX_WRITTEN = "outbox_written"
"""Wake topic of a transaction that recorded an event (the outbox relay listens to it)."""
MAIL_QUEUED = "mail_queued"
"""Wake topic of a transaction that queued an email (the mail sender listens to it)."""
_WAKES = "helpdesk_wakes"


def wake_after_commit(session: Session, topic: str) -> None:
    """Run ``topic``'s callbacks (:meth:`SessionFactory.on_commit`) once ``session``'s transaction
    has committed; nothing if it rolls back. Each topic runs once per transaction however often
    it is named."""
    session.info.setdefault(_WAKES, set()).add(topic)


def surrogate_keyed(table: Table) -> bool:
    """Whether ``table``'s primary key is one integer column that the database numbers: declared
    with ``autoincrement=True`` (a key copied from elsewhere, such as a user's id, is not)."""
    key = list(table.primary_key.columns)
    return len(key) == 1 and isinstance(key[0].type, Integer) and key[0].autoincrement is True


def ids_never_reused(metadata: MetaData) -> None:
    """Every table of ``metadata`` whose rows the database numbers (:func:`surrogate_keyed`)
    never hands out an id again, on SQLite as on PostgreSQL (whose sequences never go back).

    SQLite numbers a plain ``INTEGER PRIMARY KEY`` from the largest id present: once the newest
    row is deleted (a purged ticket, a deleted view, pipeline or SLA policy) the next insert gets
    its id, and everything still naming the old one (a link, an email's ``[#id]``, a view's filter,
    another service's copy) silently names the new row. ``AUTOINCREMENT`` keeps the highest id
    ever given in ``sqlite_sequence`` instead. Call it at the end of a service's models; a
    migration brings existing SQLite tables along (:func:`services.chassis.migrations.
    sqlite_ids_never_reused`)."""
    for table in metadata.tables.values():
        if surrogate_keyed(table):
            table.dialect_options["sqlite"]["autoincrement"] = True


class IdList(TypeDecorator[list[int]]):
    """A list of integers bound as one parameter: an array on PostgreSQL, JSON text on SQLite."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Integer))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        ids = [int(v) for v in value]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


class _Among(FunctionElement[bool]):
    type = Boolean()
    name = "among"
    inherit_cache = True


LIKE_ESCAPE = "/"
"""The escape character of a ``LIKE`` whose text is a bound parameter (``contains(..., escape=)``)."""


def like_text(text: str) -> str:
    """``text`` to bind into ``column.contains(bindparam(...), escape=LIKE_ESCAPE)``: its ``%``,
    ``_`` and escape characters taken literally (what ``autoescape=True`` does to a literal,
    for a statement built once and run with different texts)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def among(column: ColumnElement[Any], ids: ColumnElement[Any]) -> ColumnElement[bool]:
    """``column`` is one of the ids bound to :class:`IdList` parameter ``ids``, however many:
    ``column = ANY(:ids)`` on PostgreSQL, ``column IN (SELECT value FROM json_each(:ids))`` on
    SQLite. One parameter instead of one per id (an expanding ``IN`` of a hundred ids cost
    ~0.6 ms a statement to render and bind, of a thousand ~3 ms).

    A comparison, as ``column IN (...)`` is: SQLite has no boolean type, and a boolean function
    in a WHERE is written ``(...) = 1`` there, which no index serves (a scan of the table)."""
    return _Among(column, ids).as_comparison(1, 2)


@compiles(_Among)
def _among_any(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = list(element.clauses)
    return f"{compiler.process(column, **kw)} = ANY({compiler.process(ids, **kw)})"


@compiles(_Among, "sqlite")
def _among_json(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = list(element.clauses)
    listed = f"SELECT value FROM json_each({compiler.process(ids, **kw)})"
    return f"({compiler.process(column, **kw)} IN ({listed}))"


class _Holds(FunctionElement[bool]):
    type = Boolean()
    name = "holds"
    inherit_cache = True


def holds_text(column: ColumnElement[Any], part: ColumnElement[Any]) -> ColumnElement[bool]:
    """``column`` holds the text ``part`` as it is (no wildcard, no escaping; case as given):
    ``strpos(column, part) > 0`` on PostgreSQL, ``instr(column, part) > 0`` on SQLite.

    The same rows as ``column LIKE '%' || part || '%'`` with ``part`` escaped (:func:`like_text`),
    but no index serves it and the planner prices it without looking at ``part``: for a statement
    that is to walk an index in its sort order whatever the text (a page of a search whose
    matches are known to be many), planned once. With ``LIKE`` the plan made once for every
    text read the trigram index and sorted every match of a common word (68 ms for a board
    column's page at 1,000,000 tickets, against 0.4 ms walking the column's index)."""
    return _Holds(column, part).as_comparison(1, 2)


@compiles(_Holds)
def _holds_strpos(element: _Holds, compiler: SQLCompiler, **kw: Any) -> str:
    column, part = list(element.clauses)
    return f"(strpos({compiler.process(column, **kw)}, {compiler.process(part, **kw)}) > 0)"


@compiles(_Holds, "sqlite")
def _holds_instr(element: _Holds, compiler: SQLCompiler, **kw: Any) -> str:
    column, part = list(element.clauses)
    return f"(instr({compiler.process(column, **kw)}, {compiler.process(part, **kw)}) > 0)"


PG_SESSION_SETTINGS = {"max_parallel_workers_per_gather": "0"}
"""Set on every PostgreSQL connection as it opens: no parallel plans. Every statement of ours is an
index walk or reads a few hundred rows; when the planner misjudges a join's size (a user following
1,800 tickets among a million, estimated 287 visible, 1,786 in fact) it chose a parallel plan, and
starting its workers cost more than the work: the count of that "following" view took 11.3 ms with
two workers and 2.3 ms without, the request 27.6 ms and 16-17 ms (bench/RESULTS.md, stop 33).
Plain ``SET`` statements, so a pooler passes them on; behind PgBouncer in transaction mode a
session setting lands on whichever server connection ran it, so set it on each service's database
there as well (``ALTER DATABASE tickets SET max_parallel_workers_per_gather = 0``)."""


PING_AFTER_IDLE = 1.0
"""Seconds a pooled PostgreSQL connection may sit unused and still be handed out without a ping.

A ping is a round trip (``SELECT 1``); pinging at every checkout (``pool_pre_ping``) added one to
every session (opening a ticket took six round trips for three statements). A connection used
within the last second is taken as alive, as HikariCP takes one used within half a second. One
that was not is pinged, and replaced if the ping fails. So after the server restarts, only the
connections busy in the second before can fail, once each: the first such failure makes
SQLAlchemy discard every connection the pool held before it (a disconnect invalidates the pool),
and the next checkouts connect afresh."""

_USED = "helpdesk_used"


def make_engine(url: str) -> Engine:
    """An engine tuned for the database kind named by ``url`` (PostgreSQL: see
    :data:`PG_SESSION_SETTINGS` and :data:`PING_AFTER_IDLE`)."""
    return _sqlite_engine(url) if url.startswith("sqlite") else _postgresql_engine(url)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    return engine


def _postgresql_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)
    event.listen(engine, "connect", _pg_settings)
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "checkin", _mark_used)
    return engine


def _pg_settings(dbapi_conn: Any, record: Any) -> None:
    cursor = dbapi_conn.cursor()
    settings = {**PG_SESSION_SETTINGS, **(PLAN_ONCE_SETTINGS if PLAN_ONCE else {})}
    for name, value in settings.items():
        cursor.execute(f"SET {name} = {value}")
    cursor.close()
    dbapi_conn.commit()  # psycopg2 opened a transaction for the SETs; the pool expects none
    _mark_used(dbapi_conn, record)


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get(_USED, 0.0) <= PING_AFTER_IDLE:
        return
    try:
        with _autocommit(dbapi_conn):  # else the ping would leave a transaction open
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
    except psycopg2.Error as error:
        raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") from error


def _mark_used(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info[_USED] = time.monotonic()


@contextmanager
def _autocommit(dbapi_conn: Any) -> Iterator[None]:
    """psycopg2's autocommit for the block: set and cleared on its side of the connection, without
    a round trip (SQLAlchemy's ``AUTOCOMMIT`` isolation level sends a ``SET`` each time a
    connection changes hands)."""
    dbapi_conn.autocommit = True
    try:
        yield
    finally:
        if not dbapi_conn.closed:
            dbapi_conn.autocommit = False


def guard(session: Session, table: Table, *, exclusive: bool) -> None:
    """Order this transaction, from this call to its commit, against the others that guard
    ``table``: one that takes the guard exclusive runs alone; those that take it shared run
    together, but never beside an exclusive one. A transaction that changes what ``table`` says
    takes it exclusive; one that acts on what it reads there takes it shared, so neither can miss
    the other's uncommitted rows (READ COMMITTED alone would let both commit unaware of each other).

    PostgreSQL takes a transaction-scoped advisory lock named by the table's name; it should be the
    transaction's first lock, so that a waiter holds no rows another needs. SQLite has one writer
    at a time, so either way this transaction becomes the writer now (a write that changes no row
    of ``table``), and every read after it sees all that was committed before.
    """
    if session.get_bind().dialect.name == "postgresql":
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        session.execute(text(f"SELECT {lock}(:key)"), {"key": zlib.crc32(table.name.encode())})
        return
    first = next(iter(table.c))
    session.execute(update(table).where(false()).values({first: first}))


class SessionFactory:
    """Opens transactions: ``with db.transaction() as session: ...`` commits or rolls back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._maker = sessionmaker(engine, expire_on_commit=False)
        self._autocommit_reads = engine.dialect.name == "postgresql"
        self._on_commit: dict[str, list[Callable[[], None]]] = {}
        self._group = CommitGroup(self)

    def on_commit(self, topic: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each committed transaction that named ``topic`` with
        :func:`wake_after_commit` (a background loop wakes only for work it has: the mail sender
        is not woken by every event a transaction records)."""
        self._on_commit.setdefault(topic, []).append(callback)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success; afterwards run the callbacks of the topics the transaction named.
        Its statements end by the caller's deadline (:func:`statements_by`)."""
        with self._maker() as session:
            with session.begin(), _by_deadline(session):
                yield session
            topics = session.info.pop(_WAKES, ())
        for topic in sorted(topics):
            for callback in self._on_commit.get(topic, ()):
                callback()

    def grouped(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a transaction it may share with works other green threads of this
        process hand in at the same moment (group commit): as if alone, see
        :mod:`services.chassis.group_commit` for the promises and what ``work`` must not do."""
        return self._group.run(work)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads only, which must not write. On PostgreSQL its statements run outside
        a transaction: each sees what was committed when it began, as inside one at READ COMMITTED.
        Its statements end by the caller's deadline (:func:`statements_by`)."""
        with self._maker() as session, _by_deadline(session):
            if not self._autocommit_reads:
                yield session
                return
            # a read session's BEGIN and ROLLBACK were two round trips that bought nothing
            with _autocommit(session.connection().connection.dbapi_connection):
                yield session


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("helpdesk_db_deadline", default=None)

STATEMENT_SLACK = 1.0
"""Seconds a statement may run past its caller's deadline before the database ends it (see
:func:`statements_by`): a connection's limit is set again only when it is off by more."""
_STATEMENT_TIMEOUT = "helpdesk_statement_timeout"  # ms, on the pooled connection's info; 0: none
_SQLITE_CHECK_EVERY = 20_000  # SQLite VM instructions between two looks at the clock


@contextmanager
def statements_by(deadline: float | None) -> Iterator[None]:
    """The sessions this green thread opens in the block (:meth:`SessionFactory.read`,
    :meth:`SessionFactory.transaction`) end their statements by ``deadline`` (UNIX seconds):
    the caller of an RPC has given up then, and a statement that runs on holds its connection
    and the database's time for nobody (a board searched at a million tickets ran 5.7 s after the
    gateway had answered 504). The :class:`Database` dependency opens this block around every RPC
    worker with the request's deadline; other workers (events, timers) and background loops have
    none.

    Its promises: a session opened after the deadline raises :class:`DeadlineExceeded` and runs
    nothing; a statement still running at the deadline (plus up to :data:`STATEMENT_SLACK`) is
    ended by the database and its session raises :class:`DeadlineExceeded`, its transaction rolled
    back, so nothing half-done is kept. On PostgreSQL that is the connection's
    ``statement_timeout``, set with a ``SET`` only when the connection's is not already within
    the slack of what this deadline needs (requests with the same timeout reuse it: no round
    trip), and set back to none for a session without a deadline; on SQLite a progress handler
    that looks at the clock every few thousand instructions. Not with ``HELPDESK_PG_PLAN_ONCE=0``
    (a pooler in transaction mode, where a session's ``SET`` lands on any server connection)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def _by_deadline(session: Session) -> Iterator[None]:
    """``session`` under :func:`statements_by`'s promise (a no-op without a deadline, but for
    clearing a PostgreSQL connection's limit)."""
    deadline = _deadline.get()
    if deadline is not None and deadline <= time.time():
        raise DeadlineExceeded("The request's deadline passed before its database work began.")
    if session.get_bind().dialect.name == "postgresql":
        if PLAN_ONCE:
            _pg_statement_timeout(session, deadline)
        with _ended_by(deadline):
            yield
        return
    with _sqlite_clock(session, deadline), _ended_by(deadline):
        yield


@contextmanager
def _sqlite_clock(session: Session, deadline: float | None) -> Iterator[None]:
    """SQLite interrupts ``session``'s statements once ``deadline`` has passed (none without)."""
    if deadline is None:
        yield
        return
    dbapi_conn: Any = session.connection().connection.dbapi_connection
    dbapi_conn.set_progress_handler(lambda: time.time() > deadline, _SQLITE_CHECK_EVERY)
    try:
        yield
    finally:
        dbapi_conn.set_progress_handler(None, 0)


@contextmanager
def _ended_by(deadline: float | None) -> Iterator[None]:
    """A statement the database ended at ``deadline`` raised as :class:`DeadlineExceeded`."""
    try:
        yield
    except exc.OperationalError as error:
        ended = isinstance(error.orig, psycopg2.errors.QueryCanceled) or (
            isinstance(error.orig, sqlite3.OperationalError) and "interrupted" in str(error.orig)
        )
        if deadline is None or not ended or time.time() < deadline:
            raise
        raise DeadlineExceeded("The request's deadline passed while its database work ran.") from error


def _pg_statement_timeout(session: Session, deadline: float | None) -> None:
    """Set the ``statement_timeout`` of ``session``'s connection for ``deadline`` (none without),
    unless it is already within :data:`STATEMENT_SLACK` of that; outside any transaction, so a
    rollback cannot undo it behind the pool's back."""
    fairy = session.connection().connection
    current = fairy.info.get(_STATEMENT_TIMEOUT, 0)
    if deadline is None:
        if not current:
            return
        wanted = 0
    else:
        remaining = (deadline - time.time()) * 1000
        if current and remaining <= current <= remaining + STATEMENT_SLACK * 1000:
            return
        wanted = math.ceil(remaining + STATEMENT_SLACK * 500)
    dbapi_conn: Any = fairy.dbapi_connection
    with _autocommit(dbapi_conn):
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"SET statement_timeout = {int(wanted)}")
        finally:
            cursor.close()
    fairy.info[_STATEMENT_TIMEOUT] = wanted


class Database(DependencyProvider):
    """Gives each worker the container's :class:`SessionFactory` (one engine per container); an
    RPC worker's sessions end their statements by its request's deadline (:func:`statements_by`)."""

    def __init__(self, url_key: str = cfg.DB_URL) -> None:
        self.url_key = url_key
        self.factory: SessionFactory | None = None
        self._deadlines: dict[Any, contextvars.Token[float | None]] = {}

    def setup(self) -> None:
        self.factory = SessionFactory(make_engine(cfg.required(self.container.config, self.url_key)))

    def stop(self) -> None:
        if self.factory is not None:
            self.factory.engine.dispose()

    kill = stop

    def get_dependency(self, worker_ctx: Any) -> SessionFactory:
        assert self.factory is not None
        return self.factory

    def worker_setup(self, worker_ctx: Any) -> None:
        deadline = None
        if isinstance(worker_ctx.entrypoint, Rpc):
            deadline = parse_deadline(worker_ctx.data.get(DEADLINE_KEY))
        self._deadlines[worker_ctx] = _deadline.set(deadline)

    def worker_teardown(self, worker_ctx: Any) -> None:
        token = self._deadlines.pop(worker_ctx, None)
        if token is not None:
            try:
                _deadline.reset(token)
            except ValueError:  # set in another context: clear ours
                _deadline.set(None)
