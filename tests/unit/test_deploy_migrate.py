"""``python -m deploy.migrate``: several services in one run, each brought to head in the order
given; a mistaken command line migrates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from deploy import migrate
from services import registry

MIGRATED = [s for s in registry.SERVICES if s.migrations]


@pytest.fixture
def databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Each migrated service's ``DB_URL`` pointed at a SQLite file of its own under ``tmp_path``."""
    files = {}
    for service in MIGRATED:
        assert service.db_url_variable is not None
        files[service.name] = tmp_path / f"{service.name}.db"
        monkeypatch.setenv(service.db_url_variable, f"sqlite:///{files[service.name]}")
    return files


def _revision(path: Path) -> str | None:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as c:
            return c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_each_service_named_is_migrated_to_head_in_order(
    databases: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    names = [s.name for s in reversed(MIGRATED)]
    assert migrate.main(names) == 0
    assert capsys.readouterr().out.splitlines() == [f"migrate: {name} is at head" for name in names]
    for name in names:
        heads = ScriptDirectory.from_config(
            migrate.alembic_config(registry.service(name), "sqlite://")
        ).get_heads()
        assert [_revision(databases[name])] == heads
    assert migrate.main(names[:1]) == 0  # at head already: nothing to do, still fine


@pytest.mark.parametrize(
    "argv",
    [[], ["nosuch"], ["tickets", "nosuch"], ["tickets", "tickets"], ["gateway"]],
    ids=["none", "unknown", "one-unknown", "twice", "no-database"],
)
def test_a_mistaken_command_line_says_how_and_migrates_nothing(
    argv: list[str], databases: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate.main(argv) == 2
    assert "usage: python -m deploy.migrate" in capsys.readouterr().err
    assert not any(path.exists() for path in databases.values())
