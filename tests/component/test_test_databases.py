"""The databases tests are given (``make_db``): copies of a session's migrated template, at head,
each its own; a migration test's database is migrated to the revision it asks for."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from deploy import postgres
from deploy.migrate import alembic_config
from services import registry
from services.chassis.db import make_engine

pytestmark = pytest.mark.db


def _column(url: str, sql: str) -> list[str]:
    """The first column of ``sql``'s rows in the database at ``url``."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return [str(v) for v in c.execute(sa.text(sql)).scalars()]
    finally:
        engine.dispose()


def _version(url: str) -> str:
    [version] = _column(url, "SELECT version_num FROM alembic_version")
    return version


def _labels(url: str) -> list[str]:
    return _column(url, "SELECT label FROM pipelines")


def test_each_database_is_its_own_copy_at_head(make_db: Callable[..., str]) -> None:
    head = ScriptDirectory.from_config(alembic_config(registry.service("tickets"), "sqlite://")).get_heads()
    first, second = make_db("tickets"), make_db("tickets")
    assert first != second and _version(first) == _version(second) == head[0]
    engine = make_engine(first)
    try:
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO pipelines (label, position) VALUES ('only in the first', 99)"))
    finally:
        engine.dispose()
    assert "only in the first" in _labels(first)
    assert "only in the first" not in _labels(second)
    assert "only in the first" not in _labels(make_db("tickets"))  # nor in the template


def test_a_migration_tests_database_is_at_the_revision_it_asks_for(make_db: Callable[..., str]) -> None:
    assert _version(make_db("tickets", "0011")).startswith("0011")


@pytest.mark.parametrize("name", ["", "a-b", 'x"; DROP DATABASE postgres; --', "1abc"])
def test_database_names_that_need_quoting_are_refused(name: str) -> None:
    for call in (
        lambda: postgres.create_database(5432, name),
        lambda: postgres.copy_database(5432, "template1", name),
        lambda: postgres.copy_database(5432, name, "fine"),
        lambda: postgres.drop_database(5432, name),
    ):
        with pytest.raises(ValueError, match="not a plain database name"):
            call()
