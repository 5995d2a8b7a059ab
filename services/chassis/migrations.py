"""What every service's ``migrations/env.py`` runs: alembic against the URL it was given.

Only this half of migrating lives in the chassis, because a service's own migration history needs
it. Choosing which service to migrate and where its database is belongs to the deploy tool,
``python -m deploy.migrate <service>``, which reads the service registry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic import context, op
from sqlalchemy import Connection, MetaData

from services.chassis.db import make_engine


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


_ID_COLUMN = re.compile(r"(\n\s*id INTEGER NOT NULL),")
_ID_KEY = re.compile(r",\s*\n\s*PRIMARY KEY \(id\)")


def sqlite_ids_never_reused(tables: Sequence[str]) -> None:
    """In a migration: on SQLite, rebuild each of ``tables`` (keyed by ``id INTEGER``, as
    SQLAlchemy creates a :func:`~services.chassis.db.surrogate_keyed` table) so that its ids are
    ``AUTOINCREMENT`` and never handed out twice (:func:`services.chassis.db.ids_never_reused`,
    which the models declare). Nothing on PostgreSQL, nothing for a table already so.

    SQLite cannot add ``AUTOINCREMENT`` to a table, so each is copied into a new one: its own
    ``CREATE TABLE`` text with the key moved onto the column, every row, then its indexes from
    their own text (partial and expression indexes as they were). Foreign keys are off meanwhile
    (SQLite's own procedure for such changes): dropping the old table with them on would delete
    the rows of every table whose foreign key cascades from it. That needs a moment outside any
    transaction, so the migrations before this one are committed first (``autocommit_block``);
    the rebuild itself is one transaction, checked with ``foreign_key_check`` before it commits.
    The new tables' sequences start at the largest id present: ids of rows deleted before this
    migration from the top of a table can still come back once."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            bind.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                for name in tables:
                    _rebuild_with_autoincrement(bind, name)
                broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
            except BaseException:
                bind.exec_driver_sql("ROLLBACK")
                raise
            bind.exec_driver_sql("COMMIT")
        finally:
            bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def _rebuild_with_autoincrement(bind: Connection, name: str) -> None:
    found = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).scalar_one_or_none()
    if found is None:
        raise RuntimeError(f"no table {name!r} to rebuild")
    if "AUTOINCREMENT" in found.upper():
        return
    interim = f"_autoincrement_{name}"
    head, _, body = found.partition("(")
    body, columns = _ID_COLUMN.subn(r"\1 PRIMARY KEY AUTOINCREMENT,", body, count=1)
    body, keys = _ID_KEY.subn("", body, count=1)
    if not head.strip().upper().startswith("CREATE TABLE") or columns != 1 or keys != 1:
        raise RuntimeError(f"table {name!r} is not keyed by a lone 'id INTEGER NOT NULL': {found}")
    indexes = (
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master"
            " WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL",
            (name,),
        )
        .scalars()
        .all()
    )
    bind.exec_driver_sql(f'CREATE TABLE "{interim}" ({body}')
    bind.exec_driver_sql(f'INSERT INTO "{interim}" SELECT * FROM "{name}"')
    bind.exec_driver_sql(f'DROP TABLE "{name}"')
    bind.exec_driver_sql(f'ALTER TABLE "{interim}" RENAME TO "{name}"')
    for statement in indexes:
        bind.exec_driver_sql(statement)
