r"""A hot statement run on its session's own driver connection, compiled once.

SQLAlchemy spends ~20 us of Python on every execution of a Core statement around the driver's own
work: a cache key walked over the statement, an execution context, parameters processed through
generic paths, a result object. On the SQLite file a create writes to, that was five times what
the driver spent (a ``timeline`` insert: 25.8 us through the session, 4.3 us compiled once and run
on the driver's cursor), and a create runs about seven such statements (its own and its share of
the outbox relay's). :class:`Prepared` keeps the statement and its SQL and drops the
per-execution machinery, for the few statements every write runs.

Its promises:

- **The same SQL, in the same transaction.** The statement is compiled by SQLAlchemy for the
  session's dialect (once per dialect and set of parameter names) and run on the DBAPI connection
  the session's transaction holds: what it writes commits and rolls back with everything else.
- **The same values.** Parameters go through the bind processors SQLAlchemy would apply
  (SQLite's datetime text, for one), result values through its result processors; values the
  statement fixes itself (``LIMIT``, ``.values(x=None)``) and scalar Python-side column defaults
  are filled in as SQLAlchemy fills them, and an expanding ``IN`` gets one placeholder per
  element. ``tests/component/test_chassis_prepared.py`` compares it with SQLAlchemy's own answers.
- **Refused, not guessed**: a statement needing anything else computed at execution (a callable
  column default or ``onupdate``, a callable bind) raises ``ValueError`` when first compiled, as
  does a missing parameter or an empty list for an expanding ``IN`` when run.
- **The same errors.** A driver error is raised as SQLAlchemy's wrapper of it
  (``sqlalchemy.exc.IntegrityError`` and so on), and a lost connection is invalidated as
  SQLAlchemy would.
- **Still observable.** The engine's ``before_cursor_execute`` and ``after_cursor_execute``
  listeners are called for each statement (with no execution context), so whatever counts
  statements (tests, ``bench/store_reads.py``) still sees them.

Several rows (:meth:`Prepared.many`) go through the driver's ``executemany`` on SQLite, where it
is one call in process; on PostgreSQL more than one row is left to SQLAlchemy, whose
"insertmanyvalues" sends them in one round trip instead of one each.

**Planned once** (``Prepared(statement, plan_once=True)``, PostgreSQL): psycopg2 sends every
statement as text, which the server parses and plans afresh each time; for a page of tickets that
was most of the server's work (1.4 of 2.0 ms of CPU, the rows' own reading 0.3 ms). Such a
statement is ``PREPARE``\ d on each connection the first time that connection runs it and
``EXECUTE``\ d after, with a generic plan made once (:data:`PLAN_ONCE_SETTINGS`, set on every
connection by :mod:`services.chassis.db`): so only statements whose best plan does not depend on
their values may ask for it (a text search's does: a rare word wants the trigram index, a common
one the sort order's). A ``LIMIT`` is such a value: not knowing it, the planner takes a tenth of
the table, and sorted a million tickets for a page of 25 instead of walking an index. So the
integers the statement fixes itself (a capped count's) are written into its text, and so are
the parameters it names ``written`` (a page's ``limit``): one prepared statement per value. The
server replans by itself when a table's definition or statistics change (when a column it returns
changes type it refuses instead: that run fails, and the next prepares the statement afresh).
Each connection keeps at most :data:`PREPARED_PER_CONNECTION` (the least recently used is
deallocated), and forgets them all when the pool replaces it. ``HELPDESK_PG_PLAN_ONCE=0`` turns
it off, for a pooler in transaction mode (PgBouncer), where the next transaction may run on a
server connection that never saw the ``PREPARE``. On SQLite ``plan_once`` and ``written`` change
nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from services.chassis.lru import LeastRecentlyUsed

Processor = Callable[[Any], Any]
_NAMED = re.compile(r"%\((\w+)\)s")
_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")

PLAN_ONCE_ENV = "HELPDESK_PG_PLAN_ONCE"
PLAN_ONCE_SETTINGS = {"plan_cache_mode": "force_generic_plan"}
r"""Set on every PostgreSQL connection while planning once is on. Only ``PREPARE``\ d statements
have a plan cache, so statements sent as text keep a plan made for their values."""
PREPARED_PER_CONNECTION = 256
"""Statements one connection keeps prepared (a page's statement is one per combination of filters,
view and sort: a service's connection rarely meets more than a few dozen)."""
_PREPARED = "helpdesk_prepared"
_STALE = "helpdesk_stale"
_PLAN_CHANGED = "0A000"  # "cached plan must not change result type": a column's type changed under it
_NAME_PREFIX = "helpdesk_"
_REMEMBERED = 1024
_sql_of: LeastRecentlyUsed[str, str] = LeastRecentlyUsed(_REMEMBERED)  # a statement's name -> its SQL


def plan_once_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``plan_once`` statements are prepared on PostgreSQL (``$HELPDESK_PG_PLAN_ONCE``,
    on unless ``0``)."""
    return environ.get(PLAN_ONCE_ENV, "1").strip() != "0"


PLAN_ONCE = plan_once_enabled()


def executed(sql: str) -> str | None:
    """The SQL that a statement seen by an engine's cursor listener runs: ``sql`` itself, or for the
    ``EXECUTE`` of a statement planned once, that statement's SQL (of the last
    ``_REMEMBERED`` prepared in this process; the ``EXECUTE`` itself for an older one); ``None``
    for the ``PREPARE`` (and ``DEALLOCATE``) that only readies one. For whatever counts or
    inspects statements: tests, tools."""
    if sql.startswith(("PREPARE " + _NAME_PREFIX, "DEALLOCATE " + _NAME_PREFIX)):
        return None
    if sql.startswith("EXECUTE " + _NAME_PREFIX):
        return _sql_of.get(sql.split()[1].split("(")[0]) or sql
    return sql


def _name_of(sql: str, written: tuple[tuple[str, int], ...]) -> str:
    """The name of ``sql`` with ``written`` in its text as a prepared statement: the same on every
    connection and in every process, from a digest (no registry to grow with every statement a
    service ever meets: a scope's statements are one per person)."""
    digest = hashlib.blake2b(repr((sql, written)).encode(), digest_size=12).hexdigest()
    name = f"{_NAME_PREFIX}{digest}"
    _sql_of.put(name, sql)
    return name


class Rows:
    """A prepared statement's answer: its rows (named tuples, ``row._mapping`` as a dict) and the
    driver's ``rowcount``, with the readers of SQLAlchemy's result the stores use."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self.rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if not self.rows:
            raise exc.NoResultFound("No row was found when one was required")
        if len(self.rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalars(self) -> list[Any]:
        """Each row's first value."""
        return [row[0] for row in self.rows]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


def _row_type(names: Sequence[str]) -> Any:
    """A named tuple class for rows with these column names, with SQLAlchemy's ``_mapping``."""
    base = namedtuple("_Base", names, rename=True)  # type: ignore[misc]

    def mapping(row: Any) -> dict[str, Any]:
        return dict(zip(names, row, strict=True))

    return type("PreparedRow", (base,), {"__slots__": (), "_mapping": property(mapping)})


class _Shape:
    """SQL and parameter order for one set of expanding-list lengths."""

    __slots__ = ("_server", "params", "sql")

    def __init__(self, sql: str, params: tuple[tuple[str, Processor | None], ...]) -> None:
        self.sql = sql
        self.params = params
        self._server: dict[tuple[tuple[str, int], ...], tuple[str, str, str]] = {}

    def server_side(self, written: tuple[tuple[str, int], ...]) -> tuple[str, str, str]:
        """This SQL (named parameters) as a server-side prepared statement with the ``written``
        parameters' values in its text: its name, the ``PREPARE`` and the ``EXECUTE`` (whose
        parameters are the driver's, as for :attr:`sql`)."""
        found = self._server.get(written)
        if found is None:
            values = dict(written)
            order = tuple(p for p in _unique(_NAMED.findall(self.sql)) if p not in values)
            position = {name: n for n, name in enumerate(order, 1)}

            def mark(match: re.Match[str]) -> str:
                key = match.group(1)
                return str(values[key]) if key in values else f"${position[key]}"

            body = _NAMED.sub(mark, self.sql).replace("%%", "%")
            name = _name_of(self.sql, written)
            arguments = ", ".join(f"%({p})s" for p in order)
            run = f"EXECUTE {name}({arguments})" if order else f"EXECUTE {name}"
            found = self._server[written] = (name, f"PREPARE {name} AS {body}", run)
        return found


class _Compiled:
    """One compilation of a statement for one dialect and set of parameter names."""

    def __init__(
        self, statement: Executable, dialect: Dialect, keys: Sequence[str], written: frozenset[str]
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
        self.positional = compiled.positiontup is not None
        self.fixed: dict[str, Any] = {}
        processors: dict[str, Processor | None] = {}
        for bind, name in compiled.bind_names.items():
            if bind.callable is not None:
                raise ValueError(f"prepared statement: bind {name!r} has a callable value")
            if not bind.required:
                self.fixed[name] = bind.value
            processors[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not default.is_scalar:
                raise ValueError(f"prepared statement: column {column.key!r} needs a value made at execution")
            self.fixed[column.key] = default.arg
        fixed_integers = {k for k, v in self.fixed.items() if type(v) is int}
        self.written_names = tuple(sorted(fixed_integers | written))
        self.sql = compiled.string
        named = _unique(_NAMED.findall(self.sql))
        self.order = tuple(compiled.positiontup or ()) if self.positional else named
        self.processors = processors
        self.expanding = _unique(_EXPANDING.findall(self.sql))
        self._shapes: dict[tuple[int, ...], _Shape] = {}
        self.plain = self._shape(()) if not self.expanding else None
        columns = list(getattr(statement, "exported_columns", None) or ())
        self.row_type = _row_type([c.key for c in columns]) if columns else None
        self.results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        self.any_result_processor = any(p is not None for p in self.results)

    def shape(self, params: Mapping[str, Any]) -> _Shape:
        if self.plain is not None:
            return self.plain
        lengths = tuple(len(params[name] if name in params else self.fixed[name]) for name in self.expanding)
        if 0 in lengths:
            raise ValueError("prepared statement: an expanding IN list is empty")
        shape = self._shapes.get(lengths)
        if shape is None:
            shape = self._shapes[lengths] = self._shape(lengths)
        return shape

    def _shape(self, lengths: tuple[int, ...]) -> _Shape:
        counts = dict(zip(self.expanding, lengths, strict=True))
        sql = self.sql
        for name, n in counts.items():
            marks = ", ".join("?" if self.positional else f"%({name}_{i})s" for i in range(1, n + 1))
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", marks)
        params: list[tuple[str, Processor | None]] = []
        for name in self.order if self.positional else self.order + self.expanding:
            process = self.processors.get(name)
            if name in counts:
                params += [(f"{name}_{i}", process) for i in range(1, counts[name] + 1)]
            else:
                params.append((name, process))
        return _Shape(sql, tuple(params))

    def driver_params(self, shape: _Shape, given: Mapping[str, Any]) -> Any:
        params = {**self.fixed, **given} if self.fixed else dict(given)
        for name in self.expanding:
            params.update((f"{name}_{i}", v) for i, v in enumerate(params.pop(name), 1))
        try:
            pairs = [(k, params[k] if p is None else p(params[k])) for k, p in shape.params]
        except KeyError as missing:
            raise ValueError(f"prepared statement: no value for parameter {missing}") from None
        return tuple(v for _, v in pairs) if self.positional else dict(pairs)

    def written(self, driver: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
        """The parameters whose values a statement planned once has in its text: the statement's
        own integers (a capped count's ``LIMIT``) and those it names ``written``, which must be
        integers."""
        values = []
        for name in self.written_names:
            value = driver[name]
            if type(value) is not int:
                raise ValueError(
                    f"prepared statement: {name!r} is written into its text, so must be an integer"
                )
            values.append((name, value))
        return tuple(values)

    def read(self, raw: Sequence[Any]) -> list[Any]:
        assert self.row_type is not None
        make = self.row_type._make
        if not self.any_result_processor:
            return [make(r) for r in raw]
        procs = self.results
        return [make([v if p is None else p(v) for p, v in zip(procs, r, strict=True)]) for r in raw]


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


class Prepared:
    """``statement`` (a Core INSERT, UPDATE, DELETE or SELECT) with the promises of the module
    docstring. Build it once, at import, like the statement itself (or once per shape, cached).
    ``plan_once``: planned once per connection on PostgreSQL (module docstring): only for a
    statement whose best plan is the same whatever its values."""

    def __init__(
        self, statement: Executable, *, plan_once: bool = False, written: Sequence[str] = ()
    ) -> None:
        self.statement = statement
        self.plan_once = plan_once
        self.written = frozenset(written)
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def compiled(self, dialect: Dialect, keys: Sequence[str]) -> _Compiled:
        found = self._compiled.get((dialect.name, frozenset(keys)))
        if found is None:
            found = _Compiled(self.statement, dialect, keys, self.written)
            self._compiled[(dialect.name, frozenset(keys))] = found
        return found

    def run(self, session: Session, params: Mapping[str, Any] | None = None) -> Rows:
        """Execute once with ``params``; its rows (if it returns any) and rowcount."""
        params = params or {}
        conn = session.connection()
        compiled = self.compiled(conn.dialect, list(params))
        shape = compiled.shape(params)
        driver = compiled.driver_params(shape, params)
        sql, name = shape.sql, None
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.plan_once and PLAN_ONCE and conn.dialect.name == "postgresql" and not compiled.positional:
                name, sql = _prepared_on(conn, cursor, shape, compiled.written(driver))
            try:
                _call(conn, cursor, sql, driver, many=False)
            except exc.DBAPIError as error:
                if name is not None and getattr(error.orig, "pgcode", None) == _PLAN_CHANGED:
                    _stale(conn, name)
                raise
            raw = cursor.fetchall() if compiled.row_type is not None else []
            return Rows(compiled.read(raw) if raw else [], cursor.rowcount)
        finally:
            cursor.close()

    def many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute once per row (all with the same keys, no expanding IN); the rows changed."""
        if not rows:
            return 0
        if len(rows) == 1:
            return self.run(session, rows[0]).rowcount
        conn = session.connection()
        if conn.dialect.name != "sqlite":
            return int(session.execute(self.statement, list(rows)).rowcount)  # type: ignore[attr-defined]
        compiled = self.compiled(conn.dialect, list(rows[0]))
        shape = compiled.shape(rows[0])
        driver = [compiled.driver_params(shape, row) for row in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            _call(conn, cursor, shape.sql, driver, many=True)
            return int(cursor.rowcount)
        finally:
            cursor.close()


def _prepared_on(
    conn: Connection, cursor: Any, shape: _Shape, written: tuple[tuple[str, int], ...]
) -> tuple[str, str]:
    """The name and ``EXECUTE`` of ``shape`` on this connection, prepared there first if it is not
    yet (deallocating the connection's least recently used statement beyond its limit, and this
    one's stale plan if it had one: see :func:`_stale`)."""
    name, prepare, execute = shape.server_side(written)
    known = _known(conn)
    if known.touch(name):
        return name, execute
    stale: set[str] = conn.connection.info.setdefault(_STALE, set())
    if name in stale:
        prepare = f"DEALLOCATE {name}; {prepare}"
    if (oldest := known.next_out()) is not None:
        known.pop(oldest)
        prepare = f"DEALLOCATE {oldest}; {prepare}"
    _call(conn, cursor, prepare, None, many=False)
    stale.discard(name)
    known.put(name, True)
    return name, execute


def _known(conn: Connection) -> LeastRecentlyUsed[str, bool]:
    """The statements prepared on ``conn``'s connection (by name), most recently used last."""
    known: LeastRecentlyUsed[str, bool] = conn.connection.info.setdefault(
        _PREPARED, LeastRecentlyUsed(PREPARED_PER_CONNECTION)
    )
    return known


def _stale(conn: Connection, name: str) -> None:
    """Forget ``name`` on this connection after PostgreSQL refused to run it because a column it
    returns changed type (a migration ran under the service): that one statement fails, and the
    next run prepares it afresh instead of failing the same way until the connection is replaced."""
    if conn.invalidated:
        return
    _known(conn).pop(name)
    conn.connection.info.setdefault(_STALE, set()).add(name)


def _call(conn: Connection, cursor: Any, sql: str, params: Any, *, many: bool) -> None:
    """The driver's execute, with the engine's cursor listeners and SQLAlchemy's error wrapping."""
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(conn, cursor, sql, params, None, many)
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as error:
        dialect = conn.dialect
        lost = dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
        wrapped = exc.DBAPIError.instance(
            sql, params, error, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
        )
        if lost:
            conn.invalidate(wrapped)
        raise wrapped from error
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(conn, cursor, sql, params, None, many)
