"""Alembic migrations, one history per service: ``python -m services.chassis.migrate <service>``.

Each service keeps its history in ``services/<service>/migrations``; its ``env.py``
calls :func:`run_env` with the service's metadata. The database URL comes from
the service's config (``DB_URL``), or from ``url=`` when tests migrate a scratch
database.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from services.chassis.db import make_engine
from services.chassis.settings import ROOT, load_config


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(service: str, url: str | None = None, revision: str = "head") -> None:
    """Bring the service's database to ``revision`` (creating the SQLite file's folder)."""
    url = url or load_config(service)["DB_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, url), revision)


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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m services.chassis.migrate <service>", file=sys.stderr)
        return 2
    upgrade(argv[0])
    print(f"migrate: {argv[0]} is at head")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
